"""The self-contained signing script in docs/PARTNERS.md really signs correctly.

The script is taken from the document as written (between its markers) and
its ``sign_request`` signs a credit that the API must accept; a second
request with the same key and body must be answered from the stored response.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from web.partner_client import public_key_of
from web.signatures import PARTNERS_EXTENSION

DOC = Path(__file__).resolve().parents[2] / "docs" / "PARTNERS.md"


def documented_script() -> dict[str, Any]:
    """The module namespace of the document's ``partner_post.py`` (not run as main)."""
    text = DOC.read_text()
    block = re.search(r"<!-- partner_post.py: begin -->\n```python\n(.*?)```\n"
                      r"<!-- partner_post.py: end -->", text, re.S)
    assert block is not None, "the script's markers are missing from docs/PARTNERS.md"
    namespace: dict[str, Any] = {"__name__": "partner_post"}
    exec(compile(block.group(1), "partner_post.py", "exec"), namespace)  # noqa: S102
    return namespace


def test_the_documented_script_signs_a_credit_the_api_accepts(api, town):
    script = documented_script()
    private = Ed25519PrivateKey.generate()
    api.app.extensions[PARTNERS_EXTENSION].add_key(town.org, "doc-1", public_key_of(private))
    url = f"http://localhost/v1/partners/{town.org}/credits"
    body = json.dumps({"id": str(uuid.uuid4()), "volunteer": str(town.ada), "minutes": 45,
                       "category": "errands", "service_date": "2026-11-20"}).encode()
    answers = []
    for _ in range(2):
        headers = script["sign_request"]("POST", url, "application/json", body, "doc-1",
                                         private, "doc-key")
        answers.append(api.client.post(url, headers=headers, data=body))
    assert answers[0].status_code == 201, answers[0].get_json()
    assert answers[1].status_code == 201 and answers[1].headers["Idempotent-Replayed"]
    assert town.balance("ada") == 45


def test_the_demo_partner_key_signs_for_the_first_demo_organisation(master_key):
    from ledger.demo import demo_partner_key, issue_demo_tokens, seed_demo
    from web import create_app
    from web.partner_client import PartnerClient, load_private_key

    from .conftest import make_bank
    from .partner_kit import flask_transport

    bank = make_bank("memory://", master_key)
    try:
        demo = seed_demo(bank)
        document = demo.credentials(issue_demo_tokens(bank, demo),
                                    demo_partner_key(bank, demo, master_key))
        events = bank.recorder.max_notification_id()
        again = demo_partner_key(bank, demo, master_key)  # a rerun adds nothing
        assert again == document["partner_key"]
        assert bank.recorder.max_notification_id() == events
        app = create_app({"LEDGER": bank, "TESTING": True})
        key = document["partner_key"]
        client = PartnerClient("http://localhost", document["accounts"]["organisations"][0],
                               load_private_key(key["private_key_pem"]), key["key_id"],
                               transport=flask_transport(app.test_client()))
        answer = client.post_credit({"id": str(uuid.uuid4()),
                                     "volunteer": document["accounts"]["members"][0],
                                     "minutes": 60, "category": "errands",
                                     "service_date": "2026-11-20"})
        assert answer.status == 201, answer.body
    finally:
        bank.close()
