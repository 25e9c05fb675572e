"""Primitive results the service layer returns (no aggregates leave ``ledger``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.accounts import Account
from domain.rules import CommunityRules
from domain.transfers import Transfer


@dataclass(frozen=True)
class TransferView:
    """A transfer as clients see it."""

    id: UUID
    kind: str
    state: str
    community_id: UUID
    debit_account: UUID
    credit_account: UUID
    minutes: int
    category: str
    service_date: str
    expires_at: dt.datetime | None
    actor: str
    on_behalf_of: UUID | None
    channel: str
    rules_version: int
    reverses: UUID | None
    reversed_by: UUID | None
    reversal_reason: str | None
    void_reason: str | None
    recorded_at: dt.datetime
    created: bool = True  # False when an idempotent retry returned the original
    log_indexes: tuple[int, ...] = ()  # leaves this write appended (none on a retry)

    @classmethod
    def of(cls, transfer: Transfer, *, created: bool = True,
           log_indexes: tuple[int, ...] = ()) -> TransferView:
        """Build from the aggregate."""
        return cls(id=transfer.id, kind=transfer.kind.value, state=transfer.state.value,
                   community_id=transfer.community_id,
                   debit_account=transfer.debit_account_id,
                   credit_account=transfer.credit_account_id, minutes=transfer.minutes,
                   category=transfer.category, service_date=transfer.service_date,
                   expires_at=transfer.expires_at, actor=transfer.actor,
                   on_behalf_of=transfer.on_behalf_of, channel=transfer.channel.value,
                   rules_version=transfer.rules_version, reverses=transfer.reverses,
                   reversed_by=transfer.reversed_by,
                   reversal_reason=transfer.reversal_reason,
                   void_reason=transfer.void_reason,
                   recorded_at=transfer.created_on, created=created,
                   log_indexes=tuple(log_indexes))


@dataclass(frozen=True)
class AccountView:
    """An account's balances and limits, in minutes."""

    id: UUID
    kind: str
    community_id: UUID
    label: str
    balance: int
    pending_in: int
    pending_out: int
    available: int | None
    limits: dict[str, Any]
    erased: bool
    version: int
    log_indexes: tuple[int, ...] = ()

    @classmethod
    def of(cls, account: Account, rules: CommunityRules,
           log_indexes: tuple[int, ...] = ()) -> AccountView:
        """Build from the aggregate and the rules now in force."""
        floor = account.min_balance(rules)
        available = None if floor is None else account.balance - account.pending_out - floor
        return cls(id=account.id, kind=account.kind.value,
                   community_id=account.community_id, label=account.label,
                   balance=account.balance, pending_in=account.pending_in,
                   pending_out=account.pending_out, available=available,
                   limits=account.limits(rules), erased=account.erased,
                   version=account.version, log_indexes=tuple(log_indexes))


@dataclass(frozen=True)
class HistoryEntry:
    """One line of an account's history: a movement or a change of its state."""

    version: int
    at: dt.datetime
    event: str
    transfer_id: UUID | None = None
    kind: str | None = None
    direction: str | None = None
    minutes: int | None = None
    pending: bool | None = None
    counterparty: UUID | None = None
    service_date: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MemberView:
    """A member's account with decrypted personal fields (None once erased)."""

    account: AccountView
    profile: dict[str, Any] | None
    erased: bool
