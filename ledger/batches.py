"""Service records decided in order against the same loaded aggregates.

Why one in-memory pass: the daily earning cap and the organisation's budget
must hold *exactly* within a batch. Each row is checked by the domain against
the accounts as the earlier rows of the same batch left them (the same
``Account`` objects, changed in memory), so row 7 sees rows 1-6. A refused row
raises before it changes anything (``record_transfer`` checks both sides
before moving either), so refusing it leaves the others as they were. What
the caller then saves — everything, nothing, or only the accepted rows — is
its choice; saving is one atomic ``save`` in every case.

``check_existing=False`` skips the per-row lookup of an earlier transfer with
the row's id (one query per row, a third of a bulk posting's time). It is
safe only because the save would then fail: a transfer id can be written
once (version 1 of that aggregate), so the caller retries with the check on.
"""

from __future__ import annotations

import datetime as dt
import dataclasses
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.accounts import Account, AccountKind
from domain.errors import DomainError, LedgerError, WrongAccountKind
from domain.idempotency import CreditBeneficiary
from domain.partner_keys import PartnerKeyring
from domain.transfers import TransferKind, TransferRequest, TransferState, record_transfer
from ledger.application import TimeBank
from ledger.views import TransferView


@dataclass(frozen=True)
class CreditRecord:
    """One service record of a partner: ``row`` is 1-based (a CSV header excluded)."""

    row: int
    transfer_id: UUID
    volunteer: UUID
    minutes: int
    category: str
    service_date: str
    pending: bool = False
    beneficiary: UUID | None = None


@dataclass(frozen=True)
class RowResult:
    """What became of one row: created, exists (an earlier identical posting),
    refused (with the rule, field and detail), or not_written (an atomic batch
    refused because of other rows)."""

    row: int
    id: UUID | None
    outcome: str
    transfer: TransferView | None = None
    rule: str | None = None
    field: str | None = None
    detail: str | None = None
    error: LedgerError | None = dataclasses.field(default=None, compare=False, repr=False)

    @classmethod
    def refusal(cls, row: int, transfer_id: UUID | None, error: LedgerError) -> RowResult:
        """A refused row, from the refusal."""
        return cls(row=row, id=transfer_id, outcome="refused", rule=error.rule,
                   field=error.field, detail=error.detail, error=error)

    def primitive(self) -> dict[str, Any]:
        """JSON-ready (ids as text; the transfer reduced to its state)."""
        return {"row": self.row, "id": None if self.id is None else str(self.id),
                "outcome": self.outcome,
                "state": self.transfer.state if self.transfer else None,
                "rule": self.rule, "field": self.field, "detail": self.detail}


Row = CreditRecord | RowResult  # a RowResult here is a row refused before the ledger


class BatchWork:
    """One organisation's rows, decided in order; what to save afterwards."""

    def __init__(self, bank: TimeBank, keyring: PartnerKeyring, actor: str, *,
                 check_existing: bool = True) -> None:
        self.bank = bank
        self.check_existing = check_existing
        self.keyring = keyring
        self.actor = actor
        self.now: dt.datetime = bank.clock()
        self.organisation = bank._for_update(keyring.organisation_id, Account,
                                             "organisation", "organisation")
        self.rules = bank._rules_of(self.organisation.community_id)
        self.accounts: dict[UUID, Account] = {self.organisation.id: self.organisation}
        self.transfers: list[Any] = []
        self.notes: list[CreditBeneficiary] = []
        self._ids: set[UUID] = set()

    def decide(self, row: Row) -> RowResult:
        """Record one row in memory, or say why not (nothing changes on a refusal)."""
        if isinstance(row, RowResult):
            return row
        try:
            return self._record(row)
        except LedgerError as error:
            return RowResult.refusal(row.row, row.transfer_id, error)

    def aggregates(self) -> list[Any]:
        """Everything to save: new transfers, changed accounts, beneficiary notes."""
        changed = [a for a in self.accounts.values() if a.pending_events]
        return [*self.transfers, *changed, *self.notes]

    def _record(self, record: CreditRecord) -> RowResult:
        if record.transfer_id in self._ids:
            raise DomainError("this id appears more than once in the batch", field="id",
                              rule="duplicate_row_id")
        self._ids.add(record.transfer_id)
        if not self.keyring.allows(record.category):
            raise DomainError(f"the organisation may not record the category "
                              f"{record.category!r}", field="category",
                              rule="category_not_allowed")
        request = TransferRequest(
            transfer_id=record.transfer_id, kind=TransferKind.SERVICE_CREDIT.value,
            debit_account_id=self.organisation.id, credit_account_id=record.volunteer,
            minutes=record.minutes, category=record.category,
            service_date=record.service_date, pending=record.pending, actor=self.actor,
            on_behalf_of=None, channel="api")
        existing = self.bank._existing_transfer(request) if self.check_existing else None
        if existing is not None:
            return RowResult(row=record.row, id=record.transfer_id, outcome="exists",
                             transfer=existing)
        volunteer = self._account(record.volunteer, "volunteer")
        note = self._note(record)
        transfer = record_transfer(request, debit=self.organisation, credit=volunteer,
                                   rules=self.rules, now=self.now)
        self.transfers.append(transfer)
        if note is not None:
            self.notes.append(note)
        return RowResult(row=record.row, id=record.transfer_id, outcome="created",
                         transfer=TransferView.of(transfer))

    def _account(self, account_id: UUID, field_name: str) -> Account:
        if account_id not in self.accounts:
            self.accounts[account_id] = self.bank._for_update(account_id, Account, "account",
                                                              field_name)
        return self.accounts[account_id]

    def _note(self, record: CreditRecord) -> CreditBeneficiary | None:
        if record.beneficiary is None:
            return None
        beneficiary = self._account(record.beneficiary, "beneficiary")
        if beneficiary.kind is not AccountKind.MEMBER or \
                beneficiary.community_id != self.organisation.community_id:
            raise WrongAccountKind("the beneficiary must be a member of the organisation's "
                                   "community", field="beneficiary")
        return CreditBeneficiary.note(transfer_id=record.transfer_id,
                                      organisation_id=self.organisation.id,
                                      beneficiary=record.beneficiary)


def created(results: list[RowResult]) -> list[UUID]:
    """Ids of the rows this batch created."""
    return [r.id for r in results if r.outcome == "created" and r.id is not None]


def created_pending(results: list[RowResult]) -> list[UUID]:
    """Ids of the created rows that are pending confirmation."""
    return [r.id for r in results if r.outcome == "created" and r.id is not None
            and r.transfer is not None and r.transfer.state == TransferState.PENDING]


__all__ = ["BatchWork", "CreditRecord", "Row", "RowResult", "created", "created_pending"]
