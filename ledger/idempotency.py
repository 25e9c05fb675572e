"""What makes a repeated partner request harmless: nonces, in-flight claims, replays.

Three different repetitions, three different answers
(draft-ietf-httpapi-idempotency-key-header):

* **The same signature again** (a captured request replayed by someone else):
  every signature carries a nonce, remembered in ``partner_nonces`` until the
  signature could no longer be valid anyway; a second use is refused.
* **The same Idempotency-Key while the first request still runs**: the first
  request claims the key in ``idempotency_inflight`` (committed on its own,
  before the work starts, removed when it ends); a duplicate that finds a live
  claim gets 409 and retries later. A claim older than :data:`STALE_AFTER`
  belongs to a request that crashed (gunicorn kills a worker after 30 s), so it
  is taken over.
* **The same Idempotency-Key after completion**: the completed request is an
  ``IdempotencyRecord`` in the log, saved with the transfers it made; the retry
  gets the stored response if its payload has the same fingerprint, a 422 if it
  differs. The expiry policy (:data:`REPLAY_WINDOW`): records are kept forever
  (they are the signed evidence), but a replay is honoured only for 24 hours
  after completion; after that any reuse of the key is refused as
  ``idempotency_key_expired`` — a retry that late is a client bug, and the key
  can never name a new request because the record's id is taken for good.

Both side tables live beside the events (``SideStore``); their rows are
operational state, never evidence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.errors import IdempotencyConflict, IdempotencyInFlight, IdempotencyKeyExpired
from domain.idempotency import IdempotencyRecord
from ledger.storage import SideStore

REPLAY_WINDOW = dt.timedelta(hours=24)
STALE_AFTER = dt.timedelta(seconds=60)
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~:/=-]+")
# How long a nonce is remembered: longer than any signature carrying it can be valid
# (created may be 60 s ahead of our clock, expires at most 300 s after created), plus
# a grace period; a signature older than that is refused as expired anyway.
NONCE_MEMORY_SECONDS = 60 + 300 + 120


def fingerprint(method: str, target: str, content_type: str, body: bytes) -> str:
    """What must be equal for a retry to be the same request: method, path and
    query, media type and the exact body bytes (never the signature, which a
    retry signs afresh)."""
    digest = hashlib.sha256()
    for part in (method.upper(), target, content_type.split(";")[0].strip().lower()):
        digest.update(part.encode("utf-8") + b"\n")
    digest.update(body)
    return digest.hexdigest()


@dataclass(frozen=True)
class Answer:
    """What a partner request answered: fresh, or replayed from its record."""

    status: int
    body: dict[str, Any]
    replayed: bool
    log_indexes: tuple[int, ...] = ()


def replay(record: IdempotencyRecord, wanted: str, now: dt.datetime,
           window: dt.timedelta = REPLAY_WINDOW) -> Answer:
    """The stored answer for a retry, or the reason it is refused."""
    if now - record.completed_at > window:
        raise IdempotencyKeyExpired(
            f"Idempotency-Key {record.key!r} was completed at "
            f"{record.completed_at.isoformat()}; replays are honoured for "
            f"{int(window.total_seconds() // 3600)} h: use a fresh key",
            field="Idempotency-Key")
    if record.fingerprint != wanted:
        raise IdempotencyConflict(
            f"Idempotency-Key {record.key!r} was used for a different request "
            "(method, path, media type or body differ)", field="Idempotency-Key")
    return Answer(status=record.response_status, body=json.loads(record.response_body),
                  replayed=True)


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


class InFlightClaims:
    """The ``idempotency_inflight`` table: which keys a request is working on now."""

    def __init__(self, store: SideStore, stale_after: dt.timedelta = STALE_AFTER) -> None:
        self._store = store
        self._table = store.table("idempotency_inflight")
        self.stale_after = stale_after

    def create_tables(self) -> None:
        """Create the table if missing."""
        with self._store.transaction() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self._table} ("
                        "organisation_id TEXT NOT NULL, idem_key TEXT NOT NULL, "
                        "fingerprint TEXT NOT NULL, owner TEXT NOT NULL, "
                        "started_at BIGINT NOT NULL, PRIMARY KEY (organisation_id, idem_key))")

    def claim(self, organisation_id: UUID, key: str, wanted: str, now: dt.datetime) -> str:
        """Claim ``key`` for this request (returns the claim's owner token), or raise
        :class:`IdempotencyInFlight` (409) / :class:`IdempotencyConflict` (422)."""
        owner, org = uuid.uuid4().hex, str(organisation_id)
        stale = _ms(now - self.stale_after)
        with self._store.transaction() as cur:
            cur.execute(f"DELETE FROM {self._table} WHERE started_at < ? AND NOT "
                        "(organisation_id = ? AND idem_key = ?)", (stale, org, key))
            cur.execute(f"INSERT INTO {self._table} (organisation_id, idem_key, fingerprint, "
                        "owner, started_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        (org, key, wanted, owner, _ms(now)))
            cur.execute(f"UPDATE {self._table} SET owner = ?, fingerprint = ?, "
                        "started_at = ? WHERE organisation_id = ? AND idem_key = ? "
                        "AND started_at < ?", (owner, wanted, _ms(now), org, key, stale))
            cur.execute(f"SELECT owner, fingerprint FROM {self._table} "
                        "WHERE organisation_id = ? AND idem_key = ?", (org, key))
            row = cur.fetchone()
        if row is not None and row["owner"] == owner:
            return owner
        if row is not None and row["fingerprint"] != wanted:
            raise IdempotencyConflict(
                f"Idempotency-Key {key!r} is in use by a different request",
                field="Idempotency-Key")
        raise IdempotencyInFlight(
            f"a request with Idempotency-Key {key!r} is still being processed; retry "
            "the same request in a moment", field="Idempotency-Key")

    def release(self, organisation_id: UUID, key: str, owner: str) -> None:
        """Forget the claim (only our own: a take-over's claim stays)."""
        with self._store.transaction() as cur:
            cur.execute(f"DELETE FROM {self._table} WHERE organisation_id = ? AND "
                        "idem_key = ? AND owner = ?", (str(organisation_id), key, owner))


class NonceRegister:
    """The ``partner_nonces`` table: each signature nonce is good once per key."""

    def __init__(self, store: SideStore) -> None:
        self._store = store
        self._table = store.table("partner_nonces")

    def create_tables(self) -> None:
        """Create the table if missing."""
        with self._store.transaction() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self._table} ("
                        "organisation_id TEXT NOT NULL, key_id TEXT NOT NULL, "
                        "nonce TEXT NOT NULL, owner TEXT NOT NULL, "
                        "forget_after BIGINT NOT NULL, "
                        "PRIMARY KEY (organisation_id, key_id, nonce))")

    def seen(self, organisation_id: UUID, key_id: str, nonce: str, now: int) -> bool:
        """Remember the nonce; True when it was used before (per organisation and
        key). Nonces are forgotten after :data:`NONCE_MEMORY_SECONDS`, when any
        signature carrying them is refused as expired anyway."""
        owner, org = uuid.uuid4().hex, str(organisation_id)
        with self._store.transaction() as cur:
            cur.execute(f"DELETE FROM {self._table} WHERE forget_after < ?", (now,))
            cur.execute(f"INSERT INTO {self._table} (organisation_id, key_id, nonce, owner, "
                        "forget_after) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        (org, key_id, nonce, owner, now + NONCE_MEMORY_SECONDS))
            cur.execute(f"SELECT owner FROM {self._table} WHERE organisation_id = ? "
                        "AND key_id = ? AND nonce = ?", (org, key_id, nonce))
            row = cur.fetchone()
        return row is None or row["owner"] != owner


def parse_key_header(value: str) -> str | None:
    """The key an ``Idempotency-Key`` field carries: a structured-field string
    (``"8e03978e-..."``, as the draft specifies) or, leniently, a bare token;
    None when it is neither."""
    value = value.strip(" \t")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner, chars, escaped = value[1:-1], [], False
        for char in inner:
            if escaped:
                if char not in '"\\':
                    return None
                chars.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"' or not " " <= char <= "~":
                return None
            else:
                chars.append(char)
        return None if escaped else "".join(chars)
    return value if value and _TOKEN.fullmatch(value) else None


__all__ = ["Answer", "InFlightClaims", "NONCE_MEMORY_SECONDS", "NonceRegister",
           "REPLAY_WINDOW", "STALE_AFTER", "fingerprint", "parse_key_header", "replay"]
