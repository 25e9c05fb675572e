"""The pure parts of partner postings: keys, fingerprints, replays, stored evidence.

No storage and no web framework: an ``IdempotencyRecord`` is rebuilt from its
own events, the replay policy is asked at the edges of its window, and a
signed request's evidence is re-checked — and each kind of tampering named.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import Application

from domain.errors import IdempotencyConflict, IdempotencyKeyExpired, IdempotencyKeyMissing
from domain.idempotency import IdempotencyRecord, check_idempotency_key, record_id
from ledger.digests import content_digest
from ledger.evidence import audit_findings, check_posting_signature, evidence_of
from ledger.httpsig import RequestParts, sign, verify
from ledger.idempotency import REPLAY_WINDOW, fingerprint, parse_key_header, replay
from ledger.partners import REQUIRED_COMPONENTS
from web.partner_client import COMPONENTS, public_key_of

AT = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
ORG = uuid4()


@pytest.mark.parametrize("key", ["a", "8e03978e-40d5-43e8-bc93-6894a57f9324", "x" * 255,
                                 "with space inside"])
def test_an_idempotency_key_is_1_to_255_printable_characters(key):
    assert check_idempotency_key(key) == key


@pytest.mark.parametrize("key", ["", " leading", "trailing ", "x" * 256, "tab\t", "é", 7])
def test_other_idempotency_keys_are_refused(key):
    with pytest.raises(IdempotencyKeyMissing) as refused:
        check_idempotency_key(key)
    assert (refused.value.rule, refused.value.field) == ("idempotency_key_malformed",
                                                         "Idempotency-Key")


def test_keys_are_scoped_per_organisation():
    assert record_id(ORG, "k") == record_id(ORG, "k") != record_id(uuid4(), "k")


@pytest.mark.parametrize(("field", "key"), [
    ('"abc"', "abc"), ('"a\\"b\\\\c"', 'a"b\\c'), ("bare-token_1", "bare-token_1"),
    ('"a b"', "a b"), ("a b", None), ('"unclosed', None), ('"bad \\x"', None), ("", None)])
def test_the_idempotency_key_field_is_an_sf_string_or_a_bare_token(field, key):
    assert parse_key_header(field) == key


def test_a_fingerprint_covers_method_target_media_type_and_body_only():
    base = fingerprint("POST", "/v1/p", "application/json", b"{}")
    assert fingerprint("post", "/v1/p", "application/json; charset=utf-8", b"{}") == base
    assert fingerprint("POST", "/v1/p?mode=a", "application/json", b"{}") != base
    assert fingerprint("POST", "/v1/p", "text/csv", b"{}") != base
    assert fingerprint("POST", "/v1/p", "application/json", b"{ }") != base


def completed(evidence: dict[str, Any] | None = None, **changes: Any) -> IdempotencyRecord:
    fields: dict[str, Any] = {
        "organisation_id": ORG, "key": "k", "fingerprint": "f", "completed_at": AT,
        "response_status": 201, "response_body": json.dumps({"id": "t"}),
        "transfer_ids": [uuid4()], "pending_ids": [],
        "evidence": evidence or {"key_id": "care-1", "keyring_version": 2,
                                 "components": [("@method", "POST")],
                                 "signature_params": '("@method")', "signature": "c2ln",
                                 "signature_base_sha256": "0" * 64, "body": "{}"}}
    fields.update(changes)
    return IdempotencyRecord.complete(**fields)


def test_a_record_is_rebuilt_from_its_one_event():
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    record = completed()
    app.save(record)
    loaded = app.repository.get(record.id)
    assert loaded.id == record_id(ORG, "k") and loaded.version == 1
    assert loaded.evidence() == record.evidence()
    assert (loaded.completed_at, loaded.transfer_ids) == (AT, record.transfer_ids)


def test_a_replay_is_honoured_for_24_hours_then_expires():
    record = completed()
    assert replay(record, "f", AT + REPLAY_WINDOW).body == {"id": "t"}
    with pytest.raises(IdempotencyKeyExpired):
        replay(record, "f", AT + REPLAY_WINDOW + dt.timedelta(seconds=1))


def test_a_replay_with_another_fingerprint_is_a_conflict():
    with pytest.raises(IdempotencyConflict) as refused:
        replay(completed(), "other", AT)
    assert refused.value.rule == "idempotency_conflict"


# -- evidence -----------------------------------------------------------------------


def signed_evidence(key: Ed25519PrivateKey, body: bytes = b'{"id": "t1", "volunteer": "v",'
                    b' "minutes": 30, "category": "errands", "service_date": "2026-11-20"}'
                    ) -> dict[str, Any]:
    url = f"https://ledger.example/v1/partners/{ORG}/credits"
    headers = {"Content-Type": "application/json", "Content-Digest": content_digest(body),
               "Idempotency-Key": '"k"'}
    now = int(time.time())
    headers["Signature-Input"], headers["Signature"] = sign(
        RequestParts("POST", url, headers, body), COMPONENTS, "care-1", key, now, now + 300,
        nonce="n1", alg=True)
    parts = RequestParts("POST", url, headers, body)
    verified = verify(parts, lambda key_id: key.public_key(), now, set(REQUIRED_COMPONENTS),
                      seen_nonce=lambda key_id, nonce: False)
    return {**evidence_of(parts, verified), "keyring_version": 2}


def test_stored_evidence_reverifies_and_each_tampering_is_named():
    key = Ed25519PrivateKey.generate()
    evidence, public = signed_evidence(key), public_key_of(key)
    assert check_posting_signature(evidence, public) == []
    other = public_key_of(Ed25519PrivateKey.generate())
    assert check_posting_signature(evidence, other) == [
        "bad_signature: the signature does not verify over the base"]
    assert check_posting_signature({**evidence, "body": "{}"}, public)[0].startswith(
        "digest_mismatch")
    assert check_posting_signature({**evidence, "signature_base_sha256": "0" * 64},
                                   public)[0].startswith("signature_base_hash_mismatch")
    dropped = {**evidence, "components": evidence["components"][:-1]}
    assert "signature_params_mismatch" in check_posting_signature(dropped, public)[0]


def test_the_audit_compares_the_signed_rows_with_the_transfers():
    key = Ed25519PrivateKey.generate()
    evidence, public = signed_evidence(key), public_key_of(key)
    right = SimpleNamespace(debit_account=ORG, credit_account="v", minutes=30,
                            category="errands", service_date="2026-11-20")
    assert audit_findings(evidence, ORG, "k", public, {"t1": right}) == []
    wrong = SimpleNamespace(**{**vars(right), "minutes": 300})
    assert audit_findings(evidence, ORG, "k", public, {"t1": wrong}) == [
        "row_mismatch: transfer t1 is not what the signed body asked for"]
    findings = audit_findings(evidence, uuid4(), "other", public, {})
    assert [f.split(":")[0] for f in findings] == ["wrong_organisation",
                                                   "idempotency_key_mismatch"]
