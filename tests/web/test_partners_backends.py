"""Signed partner postings on every storage backend (memory, SQLite, PostgreSQL).

The side tables (nonces, in-flight claims) are SQL that must behave the same
on each backend, and the idempotency record must commit with the transfers.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from ledger.idempotency import fingerprint

from .partner_kit import desk_of, partner_client


def test_signed_postings_retries_and_refusals_on_each_backend(backend_api):
    api, town = backend_api, backend_api.town
    desk = desk_of(api)
    partner = partner_client(api, town.org, attempts=1)
    record: dict[str, Any] = {"id": str(uuid.uuid4()), "volunteer": str(town.ada),
                              "minutes": 60, "category": "errands",
                              "service_date": "2026-11-20"}
    assert partner.post_credit(record, idempotency_key="one").status == 201
    assert partner.post_credit(record, idempotency_key="one").replayed

    body = b'{"mode": "per-item", "records": []}'
    headers = partner.signed_headers("POST", partner.url("batches"), "application/json",
                                     body, "empty")
    assert api.client.post(partner.url("batches"), headers=headers,
                           data=body).status_code == 422
    replayed = api.client.post(partner.url("batches"), headers=headers, data=body)
    assert replayed.get_json()["rule"] == "replayed"

    second = {**record, "id": str(uuid.uuid4())}
    wanted = fingerprint("POST", f"/v1/partners/{town.org}/credits", "application/json",
                         json.dumps(second).encode())
    owner = desk.claims.claim(town.org, "two", wanted, dt.datetime.now(dt.UTC))
    assert partner.post_credit(second, idempotency_key="two").status == 409
    desk.claims.release(town.org, "two", owner)
    assert partner.post_credit(second, idempotency_key="two").status == 201

    rows = [{**record, "id": str(uuid.uuid4()), "minutes": 600},
            {**record, "id": str(uuid.uuid4()), "minutes": 30}]
    batch = partner.post_batch(rows, mode="per-item", idempotency_key="three")
    assert [r["outcome"] for r in batch.body["results"]] == ["refused", "created"]
    assert town.balance("ada") == 150 and town.balance("org") == -150
    assert desk.audit_posting(town.org, "three") == []
