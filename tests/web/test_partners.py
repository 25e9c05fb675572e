"""Signed partner postings through the HTTP API: each refusal, and idempotent retries.

Every refusal is asserted as the exact RFC 9457 problem (status, rule, field)
and as writing nothing: the town's balances and versions are unchanged. The
partner signs with the production client (``web.partner_client``) routed to
the Flask test client, so the bytes signed are the bytes sent.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.digests import content_digest
from ledger.evidence import check_posting_signature
from ledger.idempotency import fingerprint
from ledger.partners import PartnerDesk
from web.partner_client import PartnerClient, public_key_of

from .partner_kit import BASE, desk_of, flask_transport

@pytest.fixture
def desk(api: Any) -> PartnerDesk:
    return desk_of(api)


@pytest.fixture
def key(desk: PartnerDesk, town: Any) -> Ed25519PrivateKey:
    """The care organisation's registered signing key, id ``care-1``."""
    private = Ed25519PrivateKey.generate()
    desk.add_key(town.org, "care-1", public_key_of(private))
    return private


@pytest.fixture
def partner(api: Any, town: Any, key: Ed25519PrivateKey) -> PartnerClient:
    return PartnerClient(BASE, town.org, key, "care-1", transport=flask_transport(api.client),
                         sleep=lambda seconds: None)


def record(town: Any, **changes: Any) -> dict[str, Any]:
    """A valid partner service record (the organisation in the URL pays)."""
    return {"id": str(uuid.uuid4()), "volunteer": str(town.ada), "minutes": 90,
            "category": "elderly-companionship", "service_date": "2026-11-20", **changes}


def signed(partner: PartnerClient, body: bytes, *, path: str = "credits",
           key: str = "k-1", content_type: str = "application/json") -> dict[str, str]:
    """Headers of a correctly signed POST of ``body``."""
    return partner.signed_headers("POST", partner.url(path), content_type, body, key)


def send(api: Any, partner: PartnerClient, headers: Mapping[str, str], body: bytes,
         path: str = "credits") -> Any:
    return api.client.post(partner.url(path), headers=dict(headers), data=body)


def body_of(town: Any, **changes: Any) -> bytes:
    return json.dumps(record(town, **changes)).encode()


# -- a signed posting ---------------------------------------------------------------


def test_a_signed_credit_is_recorded_and_names_the_organisation_and_key(partner, town):
    answer = partner.post_credit(record(town))
    assert answer.status == 201 and answer.attempts == 1 and not answer.replayed
    assert answer.body["actor"] == f"partner-key:{town.org}/care-1"
    assert answer.body["debit_account"] == str(town.org) and answer.body["log_indexes"]
    assert town.balance("ada") == 90 and town.balance("org") == -90


def test_the_signature_and_its_base_hash_are_in_the_log_and_recheck(partner, town, desk):
    answer = partner.post_credit(record(town), idempotency_key="audit-me")
    posting = desk.posting(town.org, "audit-me")
    evidence = posting["evidence"]
    assert posting["transfer_ids"] == [answer.body["id"]]
    assert len(evidence["signature_base_sha256"]) == 64 and evidence["signature"]
    assert dict(evidence["components"])["idempotency-key"] == '"audit-me"'
    assert desk.audit_posting(town.org, "audit-me") == []
    desk.revoke_key(town.org, "care-1", "lost laptop")  # revoked later: still valid then
    assert desk.audit_posting(town.org, "audit-me") == []


def test_a_tampered_stored_posting_is_found_by_the_audit_check(partner, town, desk, key):
    partner.post_credit(record(town), idempotency_key="k")
    evidence = desk.posting(town.org, "k")["evidence"]
    public = public_key_of(key)
    assert check_posting_signature(evidence, public) == []
    altered = {**evidence, "body": evidence["body"].replace('"minutes": 90', '"minutes": 99')}
    assert [f.split(":")[0] for f in check_posting_signature(altered, public)] == [
        "digest_mismatch"]
    swapped = {**evidence, "components": [(n, v.replace("POST", "PUT")) for n, v in
                                          evidence["components"]]}
    assert [f.split(":")[0] for f in check_posting_signature(swapped, public)] == [
        "signature_base_hash_mismatch", "bad_signature"]
    assert check_posting_signature(evidence, None)[0].startswith("key_not_active")


# -- refusals: each is a problem and writes nothing -----------------------------------


@pytest.fixture
def unchanged(town: Any) -> Callable[[], None]:
    before = town.state()

    def check() -> None:
        assert town.state() == before
    return check


def test_an_unsigned_request_is_refused_and_asks_for_a_signature(api, town, problem,
                                                                unchanged):
    response = api.client.post(f"/v1/partners/{town.org}/credits", json=record(town),
                               headers={"Idempotency-Key": '"a"'})
    problem(response, 401, "signature_missing", "Signature")
    assert "idempotency-key" in response.headers["Accept-Signature"]
    assert "WWW-Authenticate" not in response.headers
    unchanged()


def test_a_bearer_token_does_not_replace_the_signature(api, town, problem, unchanged):
    response = api.post(f"/v1/partners/{town.org}/credits", record(town), as_="partner")
    problem(response, 401, "signature_missing")
    unchanged()


def test_a_signed_request_without_idempotency_key_is_400(api, partner, town, problem,
                                                         unchanged):
    body = body_of(town)
    headers = signed(partner, body)
    del headers["Idempotency-Key"]
    problem(send(api, partner, headers, body), 400, "idempotency_key_missing",
            "Idempotency-Key")
    unchanged()


def test_an_expired_signature_is_refused(api, partner, town, problem, unchanged):
    partner.clock = lambda: time.time() - 600
    body = body_of(town)
    problem(send(api, partner, signed(partner, body), body), 401, "expired",
            "Signature-Input")
    unchanged()


def test_a_signature_valid_for_more_than_five_minutes_is_refused(api, partner, town,
                                                                problem, unchanged):
    from ledger.httpsig import RequestParts, sign
    body = body_of(town)
    headers = {"Content-Type": "application/json", "Content-Digest": content_digest(body),
               "Idempotency-Key": '"long"'}
    now = int(time.time())
    headers["Signature-Input"], headers["Signature"] = sign(
        RequestParts("POST", partner.url("credits"), headers, body),
        ("@method", "@target-uri", "content-type", "content-digest", "idempotency-key"),
        "care-1", partner.private_key, now, now + 301, nonce="n-long")
    problem(send(api, partner, headers, body), 401, "validity_too_long")
    unchanged()


def test_a_signature_by_an_unknown_key_id_is_refused(api, partner, town, problem, unchanged):
    partner.key_id = "care-9"
    body = body_of(town)
    problem(send(api, partner, signed(partner, body), body), 401, "unknown_key")
    unchanged()


def test_a_signature_by_another_private_key_is_refused(api, partner, town, problem,
                                                        unchanged):
    partner.private_key = Ed25519PrivateKey.generate()
    body = body_of(town)
    problem(send(api, partner, signed(partner, body), body), 401, "bad_signature",
            "Signature")
    unchanged()


def test_a_revoked_key_signs_nothing_new(api, partner, town, problem, desk, unchanged):
    desk.revoke_key(town.org, "care-1", "rotated out")
    body = body_of(town)
    problem(send(api, partner, signed(partner, body), body), 401, "unknown_key")
    unchanged()


def test_a_replayed_signature_is_refused_even_with_a_new_body(api, partner, town, problem):
    body = body_of(town)
    headers = signed(partner, body)
    assert send(api, partner, headers, body).status_code == 201
    after_first = town.state()
    problem(send(api, partner, headers, body), 401, "replayed")
    assert town.state() == after_first


def test_an_altered_body_is_refused_by_its_digest(api, partner, town, problem, unchanged):
    body = body_of(town)
    headers = signed(partner, body)
    problem(send(api, partner, headers, body.replace(b'"minutes": 90', b'"minutes": 480')),
            401, "digest_mismatch", "Content-Digest")
    unchanged()


def test_an_altered_body_with_a_recomputed_digest_breaks_the_signature(api, partner, town,
                                                                       problem, unchanged):
    body = body_of(town)
    headers = signed(partner, body)
    altered = body.replace(b'"minutes": 90', b'"minutes": 480')
    headers["Content-Digest"] = content_digest(altered)
    problem(send(api, partner, headers, altered), 401, "bad_signature")
    unchanged()


def test_a_signature_must_cover_the_idempotency_key(api, partner, town, problem, unchanged):
    from web import partner_client
    body = body_of(town)
    covered = partner_client.COMPONENTS
    try:
        partner_client.COMPONENTS = covered[:-1]  # type: ignore[misc]
        headers = signed(partner, body)
    finally:
        partner_client.COMPONENTS = covered  # type: ignore[misc]
    problem(send(api, partner, headers, body), 401, "component_missing", "Signature-Input")
    unchanged()


def test_a_key_of_one_organisation_cannot_post_for_another(api, partner, town, problem,
                                                           unchanged):
    partner.organisation_id = str(town.other_org)
    body = body_of(town)
    problem(send(api, partner, signed(partner, body), body), 401, "unknown_key")
    unchanged()


def test_a_partner_cannot_name_a_payer(partner, town, problem, unchanged):
    answer = partner.post_credit(record(town, payer=str(town.other_org)))
    assert answer.status == 422 and answer.body["rule"] == "schema"
    assert answer.body["field"] == "payer"
    unchanged()


def test_a_partner_cannot_post_above_its_budget(partner, town, unchanged):
    answer = partner.post_credit(record(town, minutes=480, service_date="2026-11-01"))
    assert answer.status == 201
    after = town.state()
    refused = partner.post_credit(record(town, minutes=121, service_date="2026-11-02"))
    assert (refused.status, refused.body["rule"], refused.body["field"]) == (
        422, "minimum_balance", "minutes")
    assert town.state() == after


def test_a_partner_cannot_post_a_category_it_is_not_allowed(partner, town, desk, unchanged):
    desk.allow_categories(town.org, ["transport"])
    before = town.state()
    refused = partner.post_credit(record(town, category="gardening"))
    assert (refused.status, refused.body["rule"], refused.body["field"]) == (
        422, "category_not_allowed", "category")
    assert town.state() == before
    assert partner.post_credit(record(town, category="transport")).status == 201


# -- Idempotency-Key --------------------------------------------------------------------


def test_a_retry_after_completion_returns_the_stored_response(partner, town):
    first = partner.post_credit(record(town), idempotency_key="retry-1")
    again = partner.post_credit(record(town, id=first.body["id"]), idempotency_key="retry-1")
    assert again.status == 201 and again.replayed
    assert {**again.body, "log_indexes": None} == {**first.body, "log_indexes": None}
    assert again.body["log_indexes"] == [] and town.balance("ada") == 90


def test_the_same_key_with_another_payload_is_422(partner, town):
    first = partner.post_credit(record(town), idempotency_key="same")
    other = partner.post_credit(record(town, id=first.body["id"], minutes=91),
                                idempotency_key="same")
    assert (other.status, other.body["rule"], other.body["field"]) == (
        422, "idempotency_conflict", "Idempotency-Key")
    assert town.balance("ada") == 90


def test_keys_are_scoped_per_organisation(api, partner, town, desk):
    other_key = Ed25519PrivateKey.generate()
    desk.add_key(town.other_org, "library-1", public_key_of(other_key))
    library = PartnerClient(BASE, town.other_org, other_key, "library-1",
                            transport=flask_transport(api.client))
    assert partner.post_credit(record(town), idempotency_key="shared").status == 201
    assert library.post_credit(record(town), idempotency_key="shared").status == 201
    assert town.balance("ada") == 180


def test_a_duplicate_while_the_first_is_in_flight_gets_409(partner, town, desk):
    body = record(town)
    wanted = fingerprint("POST", f"/v1/partners/{town.org}/credits", "application/json",
                         json.dumps(body).encode())
    desk.claims.claim(town.org, "busy", wanted, dt.datetime.now(dt.UTC))
    partner.attempts = 1
    answer = partner.post_credit(body, idempotency_key="busy")
    assert (answer.status, answer.body["rule"]) == (409, "idempotency_in_flight")
    other = partner.post_credit(record(town), idempotency_key="busy")
    assert (other.status, other.body["rule"]) == (422, "idempotency_conflict")
    assert town.balance("ada") == 0


def test_a_stale_in_flight_claim_is_taken_over(partner, town, desk):
    body = record(town)
    wanted = fingerprint("POST", f"/v1/partners/{town.org}/credits", "application/json",
                         json.dumps(body).encode())
    desk.claims.claim(town.org, "crashed", wanted,
                      dt.datetime.now(dt.UTC) - dt.timedelta(seconds=61))
    assert partner.post_credit(body, idempotency_key="crashed").status == 201


def test_a_concurrent_duplicate_gets_409_and_then_the_stored_response(api, partner, town,
                                                                      monkeypatch):
    from ledger import batches
    entered, release = threading.Event(), threading.Event()
    decide = batches.BatchWork.decide

    def slow(self: Any, row: Any) -> Any:
        entered.set()
        assert release.wait(10)
        return decide(self, row)

    monkeypatch.setattr(batches.BatchWork, "decide", slow)
    body = record(town)
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.update(
        first=partner.post_credit(body, idempotency_key="race")))
    first.start()
    assert entered.wait(10)
    partner.attempts = 1
    results["second"] = partner.post_credit(body, idempotency_key="race")
    release.set()
    first.join(10)
    assert results["second"].status == 409
    assert results["first"].status == 201
    third = partner.post_credit(body, idempotency_key="race")
    assert third.status == 201 and third.replayed and town.balance("ada") == 90


def test_a_key_is_honoured_for_24_hours_then_refused_as_expired(partner, town, desk,
                                                                 monkeypatch):
    body = record(town)
    assert partner.post_credit(body, idempotency_key="old").status == 201
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)
    monkeypatch.setattr(desk.bank, "clock", lambda: later)
    partner.clock = later.timestamp
    assert partner.post_credit(body, idempotency_key="old").replayed
    much_later = later + dt.timedelta(hours=2)
    monkeypatch.setattr(desk.bank, "clock", lambda: much_later)
    partner.clock = much_later.timestamp
    answer = partner.post_credit(body, idempotency_key="old")
    assert (answer.status, answer.body["rule"]) == (422, "idempotency_key_expired")
    assert town.balance("ada") == 90


def test_a_malformed_idempotency_key_is_400(api, partner, town, problem):
    body = body_of(town)
    headers = signed(partner, body, key="x" * 256)
    problem(send(api, partner, headers, body), 400, "idempotency_key_malformed")
