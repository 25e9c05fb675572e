"""Partner organisations: their signing keys, their signed postings, and confirmation.

Why a service beside ``TimeBank`` rather than inside it: a partner's request
adds three things to a credit — a verified signature, an Idempotency-Key and
(often) a thousand rows at once — and none of them changes what a credit *is*.
:class:`PartnerDesk` uses the time bank's own loading, saving and retrying
(``_get``, ``_commit``, ``_retrying``) and the domain's own rules, so a partner
credit obeys exactly the rules of any other credit.

A posting is atomic with its evidence: the transfers, the changed accounts,
the beneficiary notes and the ``IdempotencyRecord`` (the response for retries,
the signature and the body) are saved in one ``save``. See ``ledger.idempotency``
for the repetition rules and ``ledger.evidence`` for the audit.

What happens to a pending partner credit afterwards (confirmation, contest,
auto-confirmation) is ``ledger.partner_credits``, reached as ``desk.credits``.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain.accounts import Account, AccountKind
from domain.errors import BatchRefused, NotFound, SignatureRefused, WrongAccountKind
from domain.idempotency import IdempotencyRecord, record_id
from domain.partner_keys import PartnerKeyring, check_public_key, keyring_id
from ledger import httpsig
from ledger.application import TimeBank
from ledger.batches import BatchWork, Row, RowResult, created, created_pending
from ledger.evidence import audit_findings
from ledger.idempotency import (
    REPLAY_WINDOW,
    STALE_AFTER,
    Answer,
    InFlightClaims,
    NonceRegister,
    replay,
)
from ledger.partner_credits import ACTOR_PREFIX, AUTO_CONFIRM_AFTER, PartnerCredits
from ledger.storage import SideStore

REQUIRED_COMPONENTS = frozenset({"@method", "@target-uri", "content-type", "content-digest",
                                 "idempotency-key"})
MAX_VALIDITY_SECONDS = 300
Responder = Callable[[list[RowResult]], tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class Claim:
    """Who asks, under which Idempotency-Key, with which payload fingerprint."""

    organisation_id: UUID
    key: str
    fingerprint: str


def partner_actor(organisation_id: UUID, key_id: str) -> str:
    """How events name a signed partner request: the organisation and its key."""
    return f"{ACTOR_PREFIX}{organisation_id}/{key_id}"


class PartnerDesk:
    """Keys, signed postings and confirmation for partner organisations."""

    def __init__(self, bank: TimeBank, *, replay_window: dt.timedelta = REPLAY_WINDOW,
                 auto_confirm_after: dt.timedelta = AUTO_CONFIRM_AFTER,
                 stale_after: dt.timedelta = STALE_AFTER) -> None:
        self.bank = bank
        self.replay_window = replay_window
        self.auto_confirm_after = auto_confirm_after
        side = SideStore(bank.datastore, bank.database.backend, bank.database.pg_schema,
                         bank.reads)
        self.claims = InFlightClaims(side, stale_after)
        self.nonces = NonceRegister(side)
        self.credits = PartnerCredits(bank, auto_confirm_after)

    def create_tables(self) -> None:
        """Create the side tables if missing. Server workers start together, and two
        concurrent ``CREATE TABLE IF NOT EXISTS`` can collide on PostgreSQL; the
        loser finds the table made on its next try. Nothing to do when the tables
        were made at deploy time (``civic-ledger migrate``)."""
        if not self.bank.database.create_tables:
            return
        for attempt in range(3):
            try:
                self.claims.create_tables()
                self.nonces.create_tables()
                return
            except Exception:  # noqa: BLE001 - a racing DDL error of any driver
                if attempt == 2:
                    raise
                time.sleep(0.1 * (attempt + 1))

    # -- keys ---------------------------------------------------------------------------

    def keyring(self, organisation_id: UUID) -> dict[str, Any]:
        """The organisation's keys (public) and allowed categories."""
        self._organisation(organisation_id)
        ring = self._keyring(organisation_id)
        if ring is None:
            return {"organisation_id": organisation_id, "categories": [], "keys": [],
                    "version": 0, "log_indexes": []}
        return {**ring.summary(), "version": ring.version, "log_indexes": []}

    def add_key(self, organisation_id: UUID, key_id: str, public_key: str, *,
                replaces: str | None = None, reason: str = "rotated") -> dict[str, Any]:
        """Trust a new key (revoking ``replaces`` in the same event batch when given).
        Sending the same key again is answered with the keyring, unchanged."""
        def command() -> dict[str, Any]:
            ring = self._keyring(organisation_id) or PartnerKeyring.register(
                organisation_id=self._organisation(organisation_id).id)
            if self._already_added(ring, key_id, public_key, replaces):
                return {**ring.summary(), "version": ring.version, "log_indexes": []}
            _public_key(check_public_key(public_key))
            if replaces is None:
                ring.add_key(key_id, public_key, self.bank.clock())
            else:
                ring.rotate(replaces, key_id, public_key, self.bank.clock(), reason)
            return self._saved(ring)
        return self.bank._retrying(command)

    def revoke_key(self, organisation_id: UUID, key_id: str, reason: str = "") -> dict[str, Any]:
        """Stop trusting ``key_id`` (a revoked key stays revoked)."""
        def command() -> dict[str, Any]:
            ring = self._required_keyring(organisation_id)
            ring.revoke_key(key_id, reason)
            return self._saved(ring)
        return self.bank._retrying(command)

    def allow_categories(self, organisation_id: UUID, categories: list[str]) -> dict[str, Any]:
        """Restrict the categories the partner may record (empty: any)."""
        def command() -> dict[str, Any]:
            ring = self._keyring(organisation_id) or PartnerKeyring.register(
                organisation_id=self._organisation(organisation_id).id)
            ring.allow_categories(categories)
            return self._saved(ring)
        return self.bank._retrying(command)

    def _saved(self, ring: PartnerKeyring) -> dict[str, Any]:
        indexes = self.bank._commit(ring) if ring.pending_events else ()
        return {**ring.summary(), "version": ring.version, "log_indexes": list(indexes)}

    @staticmethod
    def _already_added(ring: PartnerKeyring, key_id: str, public_key: str,
                       replaces: str | None) -> bool:
        if ring.active_key(key_id) != public_key:
            return False
        return replaces is None or ring.active_key(replaces) is None

    def _organisation(self, organisation_id: UUID) -> Account:
        account = self.bank._get(organisation_id, Account, "organisation", "organisation")
        if account.kind is not AccountKind.ORGANISATION:
            raise WrongAccountKind(f"{organisation_id} is not an organisation",
                                   field="organisation")
        return account

    def _keyring(self, organisation_id: UUID) -> PartnerKeyring | None:
        try:
            return self.bank._get(keyring_id(organisation_id), PartnerKeyring, "keyring",
                                  "organisation")
        except NotFound:
            return None

    def _required_keyring(self, organisation_id: UUID) -> PartnerKeyring:
        ring = self._keyring(organisation_id)
        if ring is None:
            self._organisation(organisation_id)
            raise NotFound(f"organisation {organisation_id} has no keys", field="key_id")
        return ring

    # -- signatures -----------------------------------------------------------------------

    def verify(self, organisation_id: UUID, request: httpsig.RequestParts
               ) -> httpsig.VerifiedSignature:
        """Check the request's signature with the organisation's active keys.

        Raises ``httpsig.SignatureError`` (the web layer names it); a nonce is
        remembered only for an otherwise valid signature."""
        ring = self._keyring(organisation_id)
        now = int(self.bank.clock().timestamp())

        def resolve(key_id: str) -> Ed25519PublicKey | None:
            found = ring.active_key(key_id) if ring is not None else None
            return _public_key(found) if found is not None else None

        def seen(key_id: str, nonce: str) -> bool:
            return self.nonces.seen(organisation_id, key_id, nonce, now)

        return httpsig.verify(request, resolve, now, set(REQUIRED_COMPONENTS), seen_nonce=seen,
                              max_validity_seconds=MAX_VALIDITY_SECONDS)

    # -- postings -------------------------------------------------------------------------

    def post(self, claim: Claim, evidence: dict[str, Any], rows: Sequence[Row], *,
             atomic: bool, single: bool, respond: Responder) -> Answer:
        """Run a signed posting once per Idempotency-Key (see ``ledger.idempotency``).

        ``respond`` turns the row results into the (status, body) to answer now
        and to store for retries. An atomic posting with a refused row writes
        nothing and raises: the row's own error when ``single``, else
        :class:`BatchRefused` with every row's result. A per-item posting saves
        the accepted rows; when none was accepted it writes nothing at all.
        """
        found = self._record(claim)
        if found is not None:
            return replay(found, claim.fingerprint, self.bank.clock(), self.replay_window)
        owner = self.claims.claim(claim.organisation_id, claim.key, claim.fingerprint,
                                  self.bank.clock())
        attempts = itertools.count()
        answer: Answer | None = None
        try:  # optimistic first: ids are new unless the save says otherwise (see batches)
            answer = self.bank._retrying(lambda: self._attempt(
                claim, evidence, rows, atomic, single, respond,
                check_existing=next(attempts) > 0))
            return answer
        finally:
            # Once the record is committed every retry finds it before any claim, so
            # the claim is dead weight: it is left for the next claim's sweep of stale
            # rows, saving a commit. A request that wrote nothing releases its claim.
            if answer is None or not answer.log_indexes:
                self.claims.release(claim.organisation_id, claim.key, owner)

    def _attempt(self, claim: Claim, evidence: dict[str, Any], rows: Sequence[Row],
                 atomic: bool, single: bool, respond: Responder, *,
                 check_existing: bool) -> Answer:
        found = self._record(claim)
        if found is not None:  # a concurrent twin completed first
            return replay(found, claim.fingerprint, self.bank.clock(), self.replay_window)
        ring = self._active_keyring(claim.organisation_id, evidence)
        work = BatchWork(self.bank, ring, partner_actor(claim.organisation_id,
                                                        evidence["key_id"]),
                         check_existing=check_existing)
        results = [work.decide(row) for row in rows]
        refused = [r for r in results if r.outcome == "refused"]
        if refused:  # a row refused on a copy another process moved past is decided again
            self.bank._refuse_unless_current()
        if atomic and refused:
            if single and refused[0].error is not None:
                raise refused[0].error
            raise BatchRefused(f"{len(refused)} of {len(results)} rows were refused; "
                               "nothing was written", results=[
                                   _not_written(r).primitive() for r in results])
        status, body = respond(results)
        if not any(r.outcome in ("created", "exists") for r in results):
            return Answer(status=status, body=body, replayed=False)
        record = IdempotencyRecord.complete(
            organisation_id=claim.organisation_id, key=claim.key,
            fingerprint=claim.fingerprint, completed_at=self.bank.clock(),
            response_status=status, response_body=_json(body),
            transfer_ids=created(results), pending_ids=created_pending(results),
            evidence={**evidence, "keyring_version": ring.version})
        indexes = self.bank._commit(record, *work.aggregates())
        return Answer(status=status, body=body, replayed=False, log_indexes=indexes)

    def _active_keyring(self, organisation_id: UUID, evidence: dict[str, Any]
                        ) -> PartnerKeyring:
        """The keyring, once more checked to hold the signing key: a key revoked
        between verification and saving signs nothing."""
        ring = self._keyring(organisation_id)
        if ring is None or ring.active_key(evidence["key_id"]) is None:
            raise SignatureRefused(f"key {evidence['key_id']!r} is no longer active",
                                   field="Signature-Input", rule="unknown_key")
        return ring

    def posting(self, organisation_id: UUID, key: str) -> dict[str, Any]:
        """A completed posting as the log holds it: what it wrote and its evidence."""
        record = self._record(Claim(organisation_id, key, ""))
        if record is None:
            raise NotFound(f"no posting under Idempotency-Key {key!r}", field="key")
        return {"organisation_id": organisation_id, "key": key,
                "completed_at": record.completed_at, "transfer_ids": list(record.transfer_ids),
                "pending_ids": list(record.pending_ids),
                "response_status": record.response_status, "evidence": record.evidence()}

    def _record(self, claim: Claim) -> IdempotencyRecord | None:
        try:
            return self.bank._get(record_id(claim.organisation_id, claim.key),
                                  IdempotencyRecord, "idempotency record", "Idempotency-Key")
        except NotFound:
            return None

    # -- audit ------------------------------------------------------------------------------

    def audit_posting(self, organisation_id: UUID, key: str) -> list[str]:
        """Re-check a completed posting from the log alone; findings, empty when it holds
        (``ledger.evidence.audit_findings``)."""
        record = self._record(Claim(organisation_id, key, ""))
        if record is None:
            raise NotFound(f"no posting under Idempotency-Key {key!r}", field="key")
        evidence = record.evidence()
        ring: PartnerKeyring = self.bank.repository.get(
            keyring_id(organisation_id), version=evidence["keyring_version"])
        transfers = {t: self.bank.transfer(UUID(t)) for t in record.transfer_ids}
        return audit_findings(evidence, organisation_id, key,
                              ring.active_key(evidence["key_id"]), transfers)


def _not_written(result: RowResult) -> RowResult:
    if result.outcome in ("created", "exists"):
        return RowResult(row=result.row, id=result.id, outcome="not_written")
    return result


def _public_key(encoded: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(encoded))


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), default=str)


__all__ = ["Claim", "MAX_VALIDITY_SECONDS", "PartnerDesk", "REQUIRED_COMPONENTS",
           "partner_actor"]
