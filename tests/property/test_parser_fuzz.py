"""Fuzzing the readers of untrusted bytes: RFC 9421 signatures, C2SP checkpoints, audit bundles.

Each reader has exactly one way to say no -- :class:`~ledger.httpsig.SignatureError`
naming a rule, :class:`~ledger.checkpoints.CheckpointFormatError` or findings,
a bundle report with findings -- and malformed input must get that answer:
no other exception, and never an acceptance. A valid artefact that is mutated
must be refused unless the mutation changed nothing that is signed or hashed,
in which case it must be accepted as exactly the original (same signature
base, same checkpoint, same entries). ``CIVIC_LEDGER_LONG=1`` runs ten times
as many examples.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import struct
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.bundles import MAGIC, export_bundle, verify_bundle
from ledger.checkpoints import (
    CheckpointFormatError,
    generate_signer_key,
    make_vkey,
    parse_checkpoint,
    parse_signer_key,
    sign_checkpoint,
    verify_checkpoint,
)
from ledger.digests import content_digest
from ledger.httpsig import DERIVED, RULES, RequestParts, SignatureError, sign, verify
from ledger.storage import Database

EXAMPLES = 2000 if os.environ.get("CIVIC_LEDGER_LONG") == "1" else 200
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def edited(data: st.DataObject, value: str) -> str:
    """``value`` with one random edit: a character replaced, inserted or deleted,
    or the text cut short, doubled or replaced outright."""
    at = data.draw(st.integers(0, len(value)), label="at")
    char = data.draw(st.one_of(PRINTABLE, st.characters()), label="char")
    edit = data.draw(st.sampled_from(["replace", "insert", "delete", "cut", "double", "other"]))
    if edit == "replace" and at < len(value):
        return value[:at] + char + value[at + 1:]
    if edit == "delete":
        return value[:at] + value[at + 1:]
    if edit == "cut":
        return value[:at]
    if edit == "double":
        return value + value
    if edit == "other":
        return data.draw(st.text(max_size=40), label="other")
    return value[:at] + char + value[at:]


def flipped(data: st.DataObject, value: bytes) -> bytes:
    """``value`` with one bit flipped, a byte inserted or deleted, or cut short."""
    at = data.draw(st.integers(0, max(len(value) - 1, 0)), label="at")
    edit = data.draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
    if edit == "flip" and value:
        return value[:at] + bytes([value[at] ^ 1 << data.draw(st.integers(0, 7))]) + \
            value[at + 1:]
    if edit == "insert":
        return value[:at] + bytes([data.draw(st.integers(0, 255))]) + value[at:]
    if edit == "delete":
        return value[:at] + value[at + 1:]
    return value[:at]


# -- RFC 9421 signatures ----------------------------------------------------------------

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NOW = 1_700_000_000
URI = "https://ledger.example/v1/partners/4f2d/credits?mode=atomic"
COMPONENTS = ("@method", "@target-uri", "content-type", "content-digest", "idempotency-key")


def signed_request(body: bytes = b'{"minutes": 90}') -> RequestParts:
    """A partner's POST, signed with :data:`KEY` as ``care-1``."""
    headers = {"content-type": ["application/json"], "content-digest": [content_digest(body)],
               "idempotency-key": ['"k-1"'], "host": ["ledger.example"]}
    unsigned = RequestParts("POST", URI, headers, body)
    signature_input, signature = sign(unsigned, COMPONENTS, "care-1", KEY, created=NOW - 10,
                                      expires=NOW + 200, nonce="n-1", alg=True)
    return RequestParts("POST", URI, {**headers, "signature-input": [signature_input],
                                      "signature": [signature]}, body)


def verified(request: RequestParts) -> Any:
    """Verify as the server does: one key, ``now`` fixed, no nonce seen before."""
    return verify(request, lambda key_id: KEY.public_key() if key_id == "care-1" else None,
                  NOW, set(COMPONENTS), seen_nonce=lambda key_id, nonce: False)


ORIGINAL = verified(signed_request())
PARAMETER = st.tuples(
    st.sampled_from(["created", "expires", "keyid", "nonce", "alg", "tag", "other"]),
    st.one_of(st.integers(-3, 2**64), st.sampled_from([NOW - 10, NOW + 100, "care-1",
                                                        "ed25519", "n"]),
              st.booleans(), st.text(PRINTABLE.filter(lambda c: c not in '"\\'), max_size=9)))


@st.composite
def signature_fields(draw: st.DrawFn) -> tuple[str, str]:
    """A Signature-Input and a Signature that parse, cover plausible components
    and parameters, and carry a signature that cannot verify."""
    label = draw(st.sampled_from(["sig1", "sig2", "s*", "Sig"]))
    names = draw(st.lists(st.sampled_from(sorted(DERIVED) + list(COMPONENTS) + [
        "x-absent", "@bogus", "@signature-params", "Content-Type"]), max_size=7))
    params = "".join(f";{key}={_bare(value)}" for key, value in
                     draw(st.lists(PARAMETER, max_size=7)))
    blob = base64.b64encode(draw(st.binary(min_size=60, max_size=68))).decode()
    covered = " ".join(f'"{name}"' for name in names)
    return f"{label}=({covered}){params}", f"{draw(st.sampled_from([label, 'sig1']))}=:{blob}:"


def _bare(value: int | str | bool) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    return str(value) if isinstance(value, int) else f'"{value}"'


@FUZZ
@given(fields=st.one_of(signature_fields(), st.tuples(st.text(), st.text())),
       body=st.binary(max_size=64), method=st.sampled_from(["POST", "GET", "", "PO ST"]))
def test_random_signature_fields_are_refused_with_a_named_rule(fields, body, method):
    signature_input, signature = fields
    request = RequestParts(method, URI, {"content-type": "application/json",
                                         "content-digest": content_digest(body),
                                         "idempotency-key": '"k-1"',
                                         "signature-input": signature_input,
                                         "signature": signature}, body)
    with pytest.raises(SignatureError) as refused:
        verified(request)
    assert refused.value.rule in RULES


@FUZZ
@given(data=st.data())
def test_a_mutated_signed_request_is_refused_unless_nothing_signed_changed(data):
    original = signed_request()
    headers = {name: list(lines) for name, lines in original.headers.items()}
    method, target, body = original.method, original.target_uri, original.body
    part = data.draw(st.sampled_from(["method", "target", "body", "add", *sorted(headers)]))
    if part == "method":
        method = edited(data, method)
    elif part == "target":
        target = edited(data, target)
    elif part == "body":
        body = flipped(data, body)
    elif part == "add":
        headers.setdefault(data.draw(st.sampled_from(["x-extra", "content-type"])), []
                           ).append(data.draw(st.text(max_size=9)))
    elif data.draw(st.booleans(), label="drop the field"):
        del headers[part]
    else:
        headers[part] = [edited(data, headers[part][0])]
    try:
        accepted = verified(RequestParts(method, target, headers, body))
    except SignatureError as refused:
        assert refused.rule in RULES
        return
    assert (accepted.signature_base_sha256, accepted.key_id, accepted.nonce, accepted.created,
            accepted.expires, accepted.signature, body) == (
        ORIGINAL.signature_base_sha256, ORIGINAL.key_id, ORIGINAL.nonce, ORIGINAL.created,
        ORIGINAL.expires, ORIGINAL.signature, original.body)


def test_the_unmutated_signed_request_verifies():
    assert ORIGINAL.key_id == "care-1" and ORIGINAL.components == COMPONENTS


# -- C2SP checkpoints --------------------------------------------------------------------

SIGNER = parse_signer_key(generate_signer_key("fuzz.example/log")[0])
VKEY = make_vkey(SIGNER.name, SIGNER.private_key.public_key())
ROOT = bytes(range(32))
CHECKPOINT = sign_checkpoint("fuzz.example/log", 42, ROOT, SIGNER.private_key, SIGNER.name,
                             extensions=("timestamp 1700000000",))
NOTE_LINE = st.one_of(st.text(max_size=30), st.sampled_from([
    "fuzz.example/log", "42", "0", "042", base64.b64encode(ROOT).decode(), "",
    "\u2014 fuzz.example/log AAAAAA==", CHECKPOINT.splitlines()[-1]]))


def assert_refused_or_the_original(note: str | bytes) -> None:
    """verify_checkpoint refuses with findings, or accepts the original's contents;
    parse_checkpoint raises only CheckpointFormatError."""
    checkpoint, findings = verify_checkpoint(note, VKEY)
    if checkpoint is None:
        assert findings and all(isinstance(f, str) and f for f in findings)
    else:
        assert findings == []
        assert (checkpoint.origin, checkpoint.size, checkpoint.root, checkpoint.extensions) == (
            "fuzz.example/log", 42, ROOT, ("timestamp 1700000000",))
    try:
        parse_checkpoint(note)
    except CheckpointFormatError:
        pass


@FUZZ
@given(note=st.one_of(st.text(), st.binary(),
                      st.lists(NOTE_LINE, max_size=8).map("\n".join),
                      st.lists(NOTE_LINE, max_size=8).map(lambda ls: "\n".join(ls) + "\n")))
def test_random_checkpoint_text_gives_findings_or_a_format_error(note):
    checkpoint, findings = verify_checkpoint(note, VKEY)
    assert checkpoint is None and findings
    assert_refused_or_the_original(note)


@FUZZ
@given(data=st.data())
def test_a_mutated_checkpoint_is_refused_unless_its_contents_are_unchanged(data):
    lines = CHECKPOINT.split("\n")
    if data.draw(st.booleans(), label="edit one line"):
        at = data.draw(st.integers(0, len(lines) - 1))
        lines[at] = edited(data, lines[at])
        note = "\n".join(lines)
    else:
        note = edited(data, CHECKPOINT)
    assert_refused_or_the_original(note)
    assert_refused_or_the_original(note.encode("utf-8", "surrogatepass"))


@FUZZ
@given(vkey=st.one_of(st.text(max_size=80), st.just(VKEY).map(lambda k: k[:-2] + "AA")))
def test_a_random_verifier_key_gives_findings(vkey):
    checkpoint, findings = verify_checkpoint(CHECKPOINT, vkey)
    assert (checkpoint is None) == (vkey != VKEY) and (findings == []) == (vkey == VKEY)


# -- offline audit bundles -------------------------------------------------------------------

BUNDLE_SIGNER, BUNDLE_VKEY = generate_signer_key("fuzz.example/bundle")


@pytest.fixture(scope="module")
def bundle() -> Iterator[bytes]:
    """A small bundle: a community, an organisation, a member, and credits that were
    posted, confirmed, voided and reversed."""
    bank = TimeBank(Database.parse("memory://"), secrets.token_bytes(32),
                    log_signer=parse_signer_key(BUNDLE_SIGNER))
    community = bank.register_community("Elm Street")["id"]
    org = bank.open_organisation(community, "Care NGO", budget=600).id
    ada = bank.open_member(community).id

    def credit(pending: bool) -> uuid.UUID:
        return bank.record(TransferRequest(
            transfer_id=uuid.uuid4(), kind="service_credit", debit_account_id=org,
            credit_account_id=ada, minutes=30, category="errands", service_date="2026-11-20",
            pending=pending, actor="admin:fuzz", on_behalf_of=None, channel="api")).id

    bank.reverse(credit(False), actor="admin:fuzz", channel="api", reason="typo")
    bank.confirm(credit(True), actor="admin:fuzz", channel="api")
    bank.void(credit(True), actor="admin:fuzz")
    out = io.BytesIO()
    export_bundle(bank.audit_log, out)
    bank.close()
    yield out.getvalue()


def contents(raw: bytes) -> tuple[str, tuple[bytes, ...]] | None:
    """What a bundle vouches for -- its checkpoint and its entries -- or None when
    it does not parse (a reference reader, independent of ``ledger.bundles``)."""
    if not raw.startswith(MAGIC) or len(raw) < len(MAGIC) + 4:
        return None
    (length,) = struct.unpack_from(">I", raw, len(MAGIC))
    at = len(MAGIC) + 4 + length
    try:
        header = json.loads(raw[len(MAGIC) + 4:at])
        checkpoint = str(header["checkpoint"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    entries = []
    while at < len(raw):
        if at + 4 > len(raw):
            return None
        (length,) = struct.unpack_from(">I", raw, at)
        if at + 4 + length > len(raw):
            return None
        entries.append(raw[at + 4:at + 4 + length])
        at += 4 + length
    return checkpoint, tuple(entries)


def assert_refused_or_unchanged(raw: bytes, original: bytes) -> None:
    """A refused bundle has findings; an accepted one vouches for the original's contents."""
    report = verify_bundle(io.BytesIO(raw), BUNDLE_VKEY)
    if report.ok:
        assert contents(raw) == contents(original)
    else:
        assert report.findings and all(isinstance(f, str) and f for f in report.findings)


def test_the_fuzzed_bundle_verifies_and_rederives_its_balances(bundle):
    report = verify_bundle(io.BytesIO(bundle), BUNDLE_VKEY)
    assert report.ok and report.size == len(contents(bundle)[1])  # type: ignore[index]
    assert sorted(report.balances.posted.values()) == [-30, 30]


@FUZZ
@given(raw=st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(MAGIC.__add__)))
def test_random_bytes_are_not_a_bundle(raw):
    report = verify_bundle(io.BytesIO(raw), BUNDLE_VKEY)
    assert not report.ok and report.findings


@FUZZ
@given(data=st.data())
def test_a_truncated_bundle_is_refused(bundle, data):
    cut = data.draw(st.integers(0, len(bundle) - 1))
    report = verify_bundle(io.BytesIO(bundle[:cut]), BUNDLE_VKEY)
    assert not report.ok and report.findings


@FUZZ
@given(data=st.data())
def test_a_mutated_bundle_is_refused_unless_its_contents_are_unchanged(bundle, data):
    raw = bundle
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        raw = flipped(data, raw)
    assert_refused_or_unchanged(raw, bundle)


def test_a_bundle_whose_header_nests_deeply_is_refused_with_a_finding():
    header = b"[" * 200_000
    report = verify_bundle(io.BytesIO(MAGIC + struct.pack(">I", len(header)) + header),
                           BUNDLE_VKEY)
    assert not report.ok and report.findings


def test_a_tampered_entry_with_an_infinite_amount_is_refused_with_a_finding(bundle):
    recorded = next(e for e in contents(bundle)[1]  # type: ignore[index]
                    if b"domain.transfers:Transfer.Recorded" in e)
    tampered = recorded.replace(b'"minutes":30', b'"minutes":1e999')
    assert tampered != recorded
    raw = bundle.replace(struct.pack(">I", len(recorded)) + recorded,
                         struct.pack(">I", len(tampered)) + tampered)
    assert_refused_or_unchanged(raw, bundle)
