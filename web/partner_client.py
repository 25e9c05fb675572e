"""A small client for partner organisations: signed, idempotent, retried safely.

Why retries are safe here: each logical posting gets one Idempotency-Key and
one body, fixed before the first attempt. Every attempt — after a dropped
connection, a timeout, a 503, or a 409 saying the first attempt is still in
flight — sends the same key and the same bytes with a *fresh* signature
(new ``created``, ``expires`` and ``nonce``: a nonce is good once). The server
either runs the posting once or answers with the stored response, so the
client can never post twice, even when it never saw the first answer.

Standard library (``urllib``) plus ``cryptography``; the signature base and the
Content-Digest come from ``ledger.httpsig`` and ``ledger.digests``, the very
code the server verifies with. docs/PARTNERS.md shows the same signing in a
self-contained script for partners who do not install this package.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.digests import content_digest
from ledger.httpsig import RequestParts, sign

COMPONENTS = ("@method", "@target-uri", "content-type", "content-digest", "idempotency-key")
VALIDITY_SECONDS = 300
RETRY_STATUSES = frozenset({503})
RETRY_RULES = frozenset({"idempotency_in_flight"})
Transport = Callable[[str, str, Mapping[str, str], bytes, float],
                     tuple[int, Mapping[str, str], bytes]]


class PartnerUnavailable(Exception):
    """Every attempt failed to get an answer; the posting may or may not have run.
    Retry later with the same ``idempotency_key`` (it is in the message)."""


@dataclass(frozen=True)
class PartnerResponse:
    """The server's answer to a posting and how many attempts it took."""

    status: int
    body: Any
    replayed: bool
    attempts: int
    idempotency_key: str


def generate_key() -> tuple[str, str]:
    """A new Ed25519 key pair: (private key as PKCS#8 PEM, public key as base64)."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    return pem, public_key_of(private)


def load_private_key(pem: str | bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (ValueError when it is something else)."""
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem,
                                             password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the key is not an Ed25519 private key")
    return key


def public_key_of(private: Ed25519PrivateKey) -> str:
    """The raw public key, base64 (what ``POST /v1/partners/<org>/keys`` takes)."""
    return base64.b64encode(private.public_key().public_bytes_raw()).decode("ascii")


def default_key_id(public_key: str) -> str:
    """A key id derived from the public key, so a key file names its own id."""
    return "ed25519-" + hashlib.sha256(public_key.encode("ascii")).hexdigest()[:16]


class PartnerClient:
    """Signs and sends one organisation's postings to one server."""

    def __init__(self, base_url: str, organisation_id: str | uuid.UUID,
                 private_key: Ed25519PrivateKey, key_id: str | None = None, *,
                 timeout: float = 30.0, attempts: int = 5, backoff: float = 0.5,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep,
                 transport: Transport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.organisation_id = str(organisation_id)
        self.private_key = private_key
        self.key_id = key_id or default_key_id(public_key_of(private_key))
        self.timeout, self.attempts, self.backoff = timeout, attempts, backoff
        self.clock, self.sleep = clock, sleep
        self.transport: Transport = transport or urllib_transport

    def url(self, resource: str, query: Mapping[str, str] | None = None) -> str:
        """The absolute URL of one of the organisation's resources."""
        tail = f"?{urlencode(query)}" if query else ""
        return f"{self.base_url}/v1/partners/{self.organisation_id}/{resource}{tail}"

    def post_credit(self, record: Mapping[str, Any],
                    idempotency_key: str | None = None) -> PartnerResponse:
        """One service record (``id``, ``volunteer``, ``minutes``, ...)."""
        return self.send("POST", self.url("credits"), "application/json",
                         json.dumps(record).encode(), idempotency_key)

    def post_batch(self, records: Sequence[Mapping[str, Any]], mode: str = "atomic",
                   idempotency_key: str | None = None) -> PartnerResponse:
        """Up to 1,000 records as JSON; ``mode`` is ``atomic`` or ``per-item``."""
        body = json.dumps({"mode": mode, "records": list(records)}).encode()
        return self.send("POST", self.url("batches"), "application/json", body,
                         idempotency_key)

    def post_csv(self, csv_body: bytes, mode: str = "atomic",
                 idempotency_key: str | None = None) -> PartnerResponse:
        """A CSV file with the records' columns and a header line."""
        return self.send("POST", self.url("batches", {"mode": mode}), "text/csv", csv_body,
                         idempotency_key)

    def signed_headers(self, method: str, url: str, content_type: str, body: bytes,
                       idempotency_key: str) -> dict[str, str]:
        """Every header of one attempt, with a fresh signature."""
        headers = {"Content-Type": content_type, "Content-Digest": content_digest(body),
                   "Idempotency-Key": f'"{idempotency_key}"'}
        created = int(self.clock())
        signature_input, signature = sign(
            RequestParts(method, url, {name: [value] for name, value in headers.items()},
                         body), COMPONENTS, self.key_id,
            self.private_key, created, created + VALIDITY_SECONDS,
            nonce=secrets.token_urlsafe(18), alg=True)
        return {**headers, "Signature-Input": signature_input, "Signature": signature}

    def send(self, method: str, url: str, content_type: str, body: bytes,
             idempotency_key: str | None = None) -> PartnerResponse:
        """Send until answered; retries keep the key and the body, never the signature."""
        key = idempotency_key or str(uuid.uuid4())
        failure = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            headers = self.signed_headers(method, url, content_type, body, key)
            try:
                status, answer, replayed, wait = self._once(method, url, headers, body)
            except (OSError, http.client.HTTPException) as error:
                failure, wait = f"{type(error).__name__}: {error}", None
            else:
                retry = status in RETRY_STATUSES or (
                    isinstance(answer, dict) and answer.get("rule") in RETRY_RULES)
                if not retry or attempt == self.attempts:
                    return PartnerResponse(status, answer, replayed, attempt, key)
                failure = f"HTTP {status}"
            if attempt < self.attempts:
                self.sleep(wait if wait is not None else self.backoff * 2 ** (attempt - 1))
        raise PartnerUnavailable(f"no answer after {self.attempts} attempts ({failure}); "
                                 f"retry with Idempotency-Key {key}")

    def _once(self, method: str, url: str, headers: Mapping[str, str],
              body: bytes) -> tuple[int, Any, bool, float | None]:
        status, answer_headers, raw = self.transport(method, url, headers, body, self.timeout)
        lowered = {k.lower(): v for k, v in answer_headers.items()}
        retry_after = lowered.get("retry-after", "")
        return (status, _decoded(raw), lowered.get("idempotent-replayed") == "true",
                float(retry_after) if retry_after.isdigit() else None)


def urllib_transport(method: str, url: str, headers: Mapping[str, str], body: bytes,
                     timeout: float) -> tuple[int, Mapping[str, str], bytes]:
    """One HTTP exchange with ``urllib``: (status, response headers, body). Connection
    failures raise ``OSError`` or ``http.client.HTTPException``."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


def _decoded(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")


__all__ = ["COMPONENTS", "PartnerClient", "PartnerResponse", "PartnerUnavailable",
           "Transport", "default_key_id", "generate_key", "load_private_key",
           "public_key_of", "urllib_transport"]
