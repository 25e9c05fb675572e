"""A partner's signed request, kept so that anyone can re-check it from the log alone.

Why store more than the signature: an Ed25519 signature is checked against
the exact signature base (RFC 9421 section 2.5), and the base is made of the
covered component values — the method, the target URI, the media type, the
Content-Digest and the Idempotency-Key — and the signature parameters. We
keep those values, the parameters as serialised, the signature, the SHA-256
of the base and the body. An auditor rebuilds the base, checks its hash,
verifies the signature with the public key the keyring held at the recorded
version, checks the body against the signed Content-Digest, and compares the
body's rows with the transfers the request wrote. Nothing else is needed: no
server key, no side table, no trust in the server's own verdict.

Pure functions only (no storage): ``ledger.partners`` loads and calls them.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain.errors import DomainError
from ledger.digests import (
    DigestError,
    FieldSyntaxError,
    InnerList,
    check_content_digest,
    parse_dictionary,
    serialize_inner_list,
)
from ledger.httpsig import RequestParts, VerifiedSignature, component_value
from ledger.idempotency import parse_key_header

CSV_MEDIA_TYPE = "text/csv"


def signature_base_of(components: Sequence[Sequence[str]], signature_params: str) -> str:
    """The signature base rebuilt from stored (name, value) pairs and parameters."""
    lines = [f'"{name}": {value}' for name, value in components]
    lines.append(f'"@signature-params": {signature_params}')
    return "\n".join(lines)


def evidence_of(request: RequestParts, verified: VerifiedSignature) -> dict[str, Any]:
    """What to store of a verified request (see ``IdempotencyRecord.complete``; the
    service adds the ``keyring_version`` it checked the key at)."""
    entry = parse_dictionary(", ".join(request.headers.get("signature-input", [])))[
        verified.label]
    assert isinstance(entry, InnerList)  # verify() accepted exactly this shape
    params = serialize_inner_list(entry.items, entry.params)
    components = [(name, component_value(name, request)) for name in verified.components]
    base = signature_base_of(components, params)
    if hashlib.sha256(base.encode("ascii")).hexdigest() != verified.signature_base_sha256:
        raise RuntimeError("the rebuilt signature base differs from the verified one")
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise DomainError("the body must be UTF-8 text", field="body",
                          rule="utf8_body") from None
    return {"key_id": verified.key_id, "components": components, "signature_params": params,
            "signature": base64.b64encode(verified.signature).decode("ascii"),
            "signature_base_sha256": verified.signature_base_sha256, "body": body}


def check_posting_signature(evidence: Mapping[str, Any], public_key: str | None) -> list[str]:
    """Findings against a stored signed request; empty when it holds.

    ``public_key`` is the base64 key the keyring held as active for the
    evidence's ``key_id`` at its ``keyring_version`` (None: it held none).
    """
    if public_key is None:
        return [f"key_not_active: key {evidence['key_id']!r} was not active at keyring "
                f"version {evidence['keyring_version']}"]
    components = [tuple(pair) for pair in evidence["components"]]
    findings = _params_findings(components, evidence["signature_params"])
    base = signature_base_of(components, evidence["signature_params"]).encode("ascii")
    if hashlib.sha256(base).hexdigest() != evidence["signature_base_sha256"]:
        findings.append("signature_base_hash_mismatch: the stored components do not "
                        "hash to the stored signature base digest")
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        key.verify(base64.b64decode(evidence["signature"], validate=True), base)
    except (InvalidSignature, ValueError, binascii.Error):
        findings.append("bad_signature: the signature does not verify over the base")
    digests = [value for name, value in components if name == "content-digest"]
    if not digests:
        findings.append("digest_not_covered: the signature does not cover content-digest")
    for value in digests:
        try:
            check_content_digest(value, evidence["body"].encode("utf-8"))
        except DigestError as error:
            findings.append(f"digest_mismatch: {error.detail}")
    return findings


def _params_findings(components: Sequence[tuple[str, ...]], params: str) -> list[str]:
    try:
        entry = parse_dictionary(f"sig={params}")["sig"]
    except (FieldSyntaxError, KeyError):
        return ["signature_params_malformed: the stored parameters do not parse"]
    names = [item.value for item in entry.items] if isinstance(entry, InnerList) else []
    if names != [name for name, _ in components]:
        return ["signature_params_mismatch: the parameters cover other components"]
    return []


def covered(evidence: Mapping[str, Any], name: str) -> str | None:
    """The stored value of one covered component, if it was covered."""
    return next((value for n, value in evidence["components"] if n == name), None)


def body_rows(evidence: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The service records of a stored body: a CSV file, a batch or one record."""
    media = (covered(evidence, "content-type") or "").split(";")[0].strip().lower()
    body = evidence["body"]
    if media == CSV_MEDIA_TYPE:
        return [dict(row) for row in csv.DictReader(io.StringIO(body))]
    document = json.loads(body)
    if isinstance(document, dict) and isinstance(document.get("records"), list):
        return [r for r in document["records"] if isinstance(r, dict)]
    return [document] if isinstance(document, dict) else []


def audit_findings(evidence: Mapping[str, Any], organisation_id: UUID, key: str,
                   public_key: str | None, transfers: Mapping[str, Any]) -> list[str]:
    """Everything an auditor checks of one posting: the signature
    (:func:`check_posting_signature`), that the signed URL is the organisation's
    and the signed key the record's, and that each transfer it wrote (``transfers``:
    id -> a view with ``debit_account``, ``credit_account``, ``minutes``,
    ``category``, ``service_date``) is what the signed body asked for."""
    findings = check_posting_signature(evidence, public_key)
    target = covered(evidence, "@target-uri") or ""
    if f"/v1/partners/{organisation_id}/" not in target:
        findings.append(f"wrong_organisation: the signed target {target!r} is not this "
                        "organisation's")
    if parse_key_header(covered(evidence, "idempotency-key") or "") != key:
        findings.append("idempotency_key_mismatch: the signed key differs")
    rows = {str(row.get("id")): row for row in body_rows(evidence)}
    for transfer_id, transfer in transfers.items():
        row = rows.get(transfer_id)
        wanted = None if row is None else (
            str(organisation_id), str(row.get("volunteer")), str(row.get("minutes")),
            row.get("category"), row.get("service_date"))
        found = (str(transfer.debit_account), str(transfer.credit_account),
                 str(transfer.minutes), transfer.category, transfer.service_date)
        if wanted != found:
            findings.append(f"row_mismatch: transfer {transfer_id} is not what the "
                            "signed body asked for")
    return findings


__all__ = ["CSV_MEDIA_TYPE", "audit_findings", "body_rows", "check_posting_signature",
           "covered", "evidence_of", "signature_base_of"]
