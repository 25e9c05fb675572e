"""What happens to a partner's pending credit: confirmed, contested, or confirmed late.

Why a separate service: posting (``ledger.partners``) is the partner's act,
signed with its key; confirming is somebody else's — the volunteer, the member
the service was for (the *beneficiary*, when the partner named one), or a
coordinator — authorised by their bearer tokens like any other command. Both
use the time bank's own ``confirm`` and ``void``, so a partner credit settles
exactly as any pending credit does.

A pending partner credit nobody confirmed or contested is confirmed by
:meth:`PartnerCredits.auto_confirm` once ``auto_confirm_after`` (7 days by
default) has passed since it was recorded. The community's pending expiry (14
days by default) still applies and wins: an expired credit is never confirmed
here, the expiry sweep voids it. Keep the window below the expiry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from domain.errors import InvalidTransition, NotFound
from domain.idempotency import CreditBeneficiary, beneficiary_id
from domain.transfers import Transfer, TransferKind, TransferState
from ledger.application import TimeBank
from ledger.views import TransferView

AUTO_CONFIRM_AFTER = dt.timedelta(days=7)
AUTO_CONFIRM_ACTOR = "system:auto-confirm"
ACTOR_PREFIX = "partner-key:"  # how events name a signed partner posting
_COMPLETED_TOPIC = "domain.idempotency:IdempotencyRecord.Completed"


class PartnerCredits:
    """Confirmation, contest and auto-confirmation of an organisation's credits."""

    def __init__(self, bank: TimeBank,
                 auto_confirm_after: dt.timedelta = AUTO_CONFIRM_AFTER) -> None:
        self.bank = bank
        self.auto_confirm_after = auto_confirm_after

    def parties(self, organisation_id: UUID, transfer_id: UUID) -> list[UUID]:
        """Who may confirm or contest the credit: its volunteer and its beneficiary."""
        view = self._partner_credit(organisation_id, transfer_id)
        parties = [view.credit_account]
        try:
            note: Any = self.bank.repository.get(beneficiary_id(transfer_id))
            if isinstance(note, CreditBeneficiary):
                parties.append(note.beneficiary_id)
        except AggregateNotFoundError:
            pass
        return parties

    def confirm(self, organisation_id: UUID, transfer_id: UUID, *, actor: str,
                channel: str = "api") -> TransferView:
        """Post a pending partner credit (confirming a posted one changes nothing)."""
        self._partner_credit(organisation_id, transfer_id)
        return self.bank.confirm(transfer_id, actor=actor, channel=channel)

    def contest(self, organisation_id: UUID, transfer_id: UUID, *, actor: str,
                reason: str) -> TransferView:
        """Void a pending partner credit, recording why it was contested."""
        view = self._partner_credit(organisation_id, transfer_id)
        if view.state == TransferState.POSTED:
            raise InvalidTransition("a posted credit cannot be contested; a coordinator "
                                    "may reverse it", field="id")
        return self.bank.void(transfer_id, actor=actor, reason=f"contested: {reason}")

    def auto_confirm(self, now: dt.datetime | None = None,
                     candidates: Iterable[UUID] | None = None) -> list[UUID]:
        """Confirm signed partner credits pending for longer than the window and not
        yet expired; returns their ids. ``candidates`` (e.g. from the read models)
        limits the check; without it the log's partner postings are scanned."""
        now = now or self.bank.clock()
        confirmed = []
        for transfer_id in (self._pending_ids() if candidates is None else candidates):
            transfer = self.bank._get(transfer_id, Transfer, "transfer", "id")
            if transfer.state is TransferState.PENDING and not transfer.is_expired(now) \
                    and transfer.actor.startswith(ACTOR_PREFIX) \
                    and now - transfer.created_on >= self.auto_confirm_after:
                self.bank.confirm(transfer_id, actor=AUTO_CONFIRM_ACTOR, channel="api")
                confirmed.append(transfer_id)
        return confirmed

    def _pending_ids(self) -> Iterator[UUID]:
        start = 1
        while True:
            batch = self.bank.recorder.select_notifications(start, 100,
                                                            topics=[_COMPLETED_TOPIC])
            for notification in batch:
                completed: Any = self.bank.mapper.to_domain_event(notification)
                yield from (UUID(t) for t in completed.pending_ids)
            if len(batch) < 100:
                return
            start = batch[-1].id + 1

    def _partner_credit(self, organisation_id: UUID, transfer_id: UUID) -> TransferView:
        view = self.bank.transfer(transfer_id)
        if view.kind != TransferKind.SERVICE_CREDIT or view.debit_account != organisation_id:
            raise NotFound(f"no credit {transfer_id} paid by organisation {organisation_id}",
                           field="id")
        return view


__all__ = ["ACTOR_PREFIX", "AUTO_CONFIRM_ACTOR", "AUTO_CONFIRM_AFTER", "PartnerCredits"]
