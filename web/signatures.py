"""A Flask request, checked as a signed partner request (RFC 9421, RFC 9530).

Why here and not in ``ledger.httpsig``: only the edge knows how the request
arrived. The ``@target-uri`` a partner signs is the absolute URI it sent; the
server rebuilds it from the scheme, the ``Host`` field and the raw request
target. Behind a TLS-terminating proxy the scheme (and perhaps the host) the
server sees are not the ones the client used, so set ``PUBLIC_URL`` (e.g.
``https://ledger.example.org``) in the app config: it replaces the scheme and
authority, and the path and query stay exactly as received.

Order of checks, so that each refusal is the one a client can act on: no
signature at all is 401 ``signature_missing``; a signed request without an
``Idempotency-Key`` is 400; then the signature (401 naming the broken rule:
``expired``, ``unknown_key``, ``replayed``, ``digest_mismatch``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from flask import current_app, request

from domain.errors import IdempotencyKeyMissing, SignatureRefused
from domain.idempotency import check_idempotency_key
from ledger import httpsig
from ledger.evidence import evidence_of
from ledger.idempotency import fingerprint, parse_key_header
from ledger.partners import REQUIRED_COMPONENTS, Claim, PartnerDesk

PARTNERS_EXTENSION = "civic_ledger.partners"
ACCEPT_SIGNATURE = ('sig1=("@method" "@target-uri" "content-type" "content-digest" '
                    '"idempotency-key");created;expires;keyid;nonce;alg="ed25519"')
_FIELDS = {"signature_missing": "Signature", "bad_signature": "Signature",
           "digest_mismatch": "Content-Digest"}


@dataclass(frozen=True)
class SignedCall:
    """A verified partner request: who, under which key, and what to store of it."""

    claim: Claim
    evidence: dict[str, Any]
    body: bytes


def partner_desk() -> PartnerDesk:
    """The application's partner desk (``app.extensions["civic_ledger.partners"]``)."""
    desk: PartnerDesk = current_app.extensions[PARTNERS_EXTENSION]
    return desk


def target_uri() -> str:
    """The absolute URI the client sent: scheme and authority (or ``PUBLIC_URL``),
    then the raw path and query."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path
    if "://" in raw:  # absolute-form request target
        raw = "/" + raw.split("://", 1)[1].partition("/")[2]
    if "?" not in raw and environ.get("QUERY_STRING"):
        raw = f"{raw}?{environ['QUERY_STRING']}"
    base = current_app.config.get("PUBLIC_URL") or f"{request.scheme}://{request.host}"
    return f"{str(base).rstrip('/')}{raw}"


def request_parts() -> httpsig.RequestParts:
    """The request as ``ledger.httpsig`` sees it (every field line, the raw body)."""
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    return httpsig.RequestParts(request.method, target_uri(), headers,
                                request.get_data(cache=True))


def idempotency_key() -> str:
    """The request's Idempotency-Key (400 when missing or malformed)."""
    values = request.headers.getlist("Idempotency-Key")
    if not values:
        raise IdempotencyKeyMissing("a partner write needs an Idempotency-Key header "
                                    '(e.g. Idempotency-Key: "<uuid>")',
                                    field="Idempotency-Key")
    key = parse_key_header(values[0]) if len(values) == 1 else None
    if key is None:
        raise IdempotencyKeyMissing("Idempotency-Key must be one structured-field string",
                                    field="Idempotency-Key", rule="idempotency_key_malformed")
    return check_idempotency_key(key)


def signed_call(organisation_id: UUID) -> SignedCall:
    """Verify the request as a signed write of ``organisation_id``, or raise."""
    if "Signature" not in request.headers or "Signature-Input" not in request.headers:
        raise SignatureRefused("partner writes must be signed (RFC 9421): send "
                               "Signature-Input and Signature", field="Signature",
                               rule="signature_missing")
    key = idempotency_key()
    parts = request_parts()
    try:
        verified = partner_desk().verify(organisation_id, parts)
    except httpsig.SignatureError as error:
        raise SignatureRefused(_detail(error), field=_FIELDS.get(error.rule, "Signature-Input"),
                               rule=error.rule) from None
    target = parts.target_uri.split("://", 1)[-1].partition("/")[2]
    claim = Claim(organisation_id, key, fingerprint(request.method, "/" + target,
                                                    request.content_type or "", parts.body))
    return SignedCall(claim=claim, evidence=evidence_of(parts, verified), body=parts.body)


def _detail(error: httpsig.SignatureError) -> str:
    if error.rule == "component_missing":
        return (f"{error.detail}; cover at least "
                f"{', '.join(sorted(REQUIRED_COMPONENTS))}")
    return error.detail


__all__ = ["ACCEPT_SIGNATURE", "PARTNERS_EXTENSION", "SignedCall", "idempotency_key",
           "partner_desk", "request_parts", "signed_call", "target_uri"]
