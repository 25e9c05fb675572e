"""Transfers: every movement of time, as a double-entry fact.

A transfer debits one account and credits another by the same whole minutes.
Its id is chosen by the client, so a retried command lands once (see
``ledger``). Kinds and the account kinds each side may be:

===============  ===========================  ==========================
kind             debit (pays)                 credit (receives)
===============  ===========================  ==========================
service_credit   organisation, issuance       member (the volunteer)
redemption       member                       organisation, member, issuance
gift             member, pool                 member
donation         member, organisation         pool
reversal         the original's credit side   the original's debit side
===============  ===========================  ==========================

Only a service credit may be *pending* (two-phase: reserve, then post or void).
Nothing is edited or deleted: a posted transfer is undone by a reversal, a new
transfer that links to it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.accounts import Account, AccountKind, check_minutes
from domain.errors import (
    CrossCommunity,
    DomainError,
    InvalidTransition,
    PendingExpired,
    RecordTooLong,
    WrongAccountKind,
)
from domain.rules import CommunityRules


class TransferKind(StrEnum):
    """What a movement is for."""

    SERVICE_CREDIT = "service_credit"
    REDEMPTION = "redemption"
    GIFT = "gift"
    DONATION = "donation"
    REVERSAL = "reversal"


class Channel(StrEnum):
    """How the command reached us."""

    API = "api"
    SERVICE_WINDOW = "service_window"
    PAPER = "paper"
    IMPORT = "import"


class TransferState(StrEnum):
    """Where a transfer is in its life."""

    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


# Members by value: a lookup, not a call of the enum (several per transfer, and
# every replay builds its kind and channel again).
_KINDS: dict[str, TransferKind] = {kind.value: kind for kind in TransferKind}
_CHANNELS: dict[str, Channel] = {channel.value: channel for channel in Channel}
_M, _O, _P, _I = (AccountKind.MEMBER, AccountKind.ORGANISATION, AccountKind.POOL,
                  AccountKind.ISSUANCE)
ALLOWED_SIDES: dict[TransferKind, tuple[frozenset[AccountKind], frozenset[AccountKind]]] = {
    TransferKind.SERVICE_CREDIT: (frozenset({_O, _I}), frozenset({_M})),
    TransferKind.REDEMPTION: (frozenset({_M}), frozenset({_O, _M, _I})),
    TransferKind.GIFT: (frozenset({_M, _P}), frozenset({_M})),
    TransferKind.DONATION: (frozenset({_M, _O}), frozenset({_P})),
}
SIDE_FIELDS: dict[TransferKind, tuple[str, str]] = {
    TransferKind.SERVICE_CREDIT: ("payer", "volunteer"),
    TransferKind.REDEMPTION: ("member", "provider"),
    TransferKind.GIFT: ("from", "to"),
    TransferKind.DONATION: ("from", "to"),
}


@dataclass(frozen=True)
class TransferRequest:
    """What a client asked for; compared field by field on an idempotent retry."""

    transfer_id: UUID
    kind: str
    debit_account_id: UUID
    credit_account_id: UUID
    minutes: int
    category: str
    service_date: str
    pending: bool
    actor: str
    on_behalf_of: UUID | None
    channel: str

    def payload(self) -> dict[str, Any]:
        """The fields that must match for a retry to be the same command.

        Not the actor: a partner's system may retry with a rotated token; who
        may retry is the access policy's business, and the first actor stays
        on record."""
        values = asdict(self)
        values.pop("transfer_id")
        values.pop("actor")
        return values


class Transfer(Aggregate):
    """One movement. Its own events track pending -> posted | voided, and reversal."""

    @event("Recorded")
    def __init__(self, id: UUID, community_id: UUID, kind: str,  # noqa: A002
                 debit_account_id: UUID, credit_account_id: UUID, minutes: int,
                 category: str, service_date: str, pending: bool,
                 expires_at: dt.datetime | None, actor: str, on_behalf_of: UUID | None,
                 channel: str, rules_version: int, reverses: UUID | None,
                 earning: int) -> None:
        self.community_id = community_id
        self.kind = _KINDS[kind]
        self.debit_account_id = debit_account_id
        self.credit_account_id = credit_account_id
        self.minutes = minutes
        self.category = category
        self.service_date = service_date
        self.pending = pending
        self.expires_at = expires_at
        self.actor = actor
        self.on_behalf_of = on_behalf_of
        self.channel = _CHANNELS[channel]
        self.rules_version = rules_version
        self.reverses = reverses
        self.earning = earning
        self.state = TransferState.PENDING if pending else TransferState.POSTED
        self.reversed_by: UUID | None = None
        self.reversal_reason: str | None = None
        self.void_reason: str | None = None

    def request(self) -> TransferRequest:
        """The request this transfer was recorded from (for idempotent retries)."""
        return TransferRequest(
            transfer_id=self.id, kind=self.kind.value, debit_account_id=self.debit_account_id,
            credit_account_id=self.credit_account_id, minutes=self.minutes,
            category=self.category, service_date=self.service_date, pending=self.pending,
            actor=self.actor, on_behalf_of=self.on_behalf_of, channel=self.channel.value)

    def is_expired(self, now: dt.datetime) -> bool:
        """True when pending and past its expiry."""
        return (self.state is TransferState.PENDING and self.expires_at is not None
                and now >= self.expires_at)

    @event("Posted")
    def _posted(self, actor: str, channel: str) -> None:
        self.state = TransferState.POSTED

    @event("Voided")
    def _voided(self, actor: str, reason: str) -> None:
        self.state = TransferState.VOIDED
        self.void_reason = reason

    @event("Reversed")
    def _reversed(self, reversal_id: UUID, reason: str) -> None:
        self.reversed_by = reversal_id
        self.reversal_reason = reason


def _check_request_shape(request: TransferRequest, rules: CommunityRules) -> TransferKind:
    kind = _member(_KINDS, request.kind, "kind")
    check_minutes(request.minutes)
    _member(_CHANNELS, request.channel, "channel")
    try:
        dt.date.fromisoformat(request.service_date)
    except ValueError:
        raise DomainError("service_date must be an ISO date (YYYY-MM-DD)",
                          field="service_date", rule="iso_date") from None
    if request.pending and kind is not TransferKind.SERVICE_CREDIT:
        raise DomainError("only a service credit may be pending", field="pending",
                          rule="pending_only_for_service_credit")
    if kind is TransferKind.SERVICE_CREDIT and request.minutes > rules.max_minutes_per_record:
        raise RecordTooLong(f"one service record may hold at most "
                            f"{rules.max_minutes_per_record} minutes", field="minutes")
    return kind


def _member(members: dict[str, Any], value: object, field: str) -> Any:
    found = members.get(value) if isinstance(value, str) else None
    if found is None:
        raise DomainError(f"{field} must be one of {', '.join(members)}", field=field,
                          rule=f"known_{field}")
    return found


def _check_sides(kind: TransferKind, debit: Account, credit: Account) -> None:
    debit_field, credit_field = SIDE_FIELDS[kind]
    if debit.id == credit.id:
        raise DomainError("an account cannot pay itself", field=credit_field,
                          rule="distinct_accounts")
    if debit.community_id != credit.community_id:
        raise CrossCommunity("both accounts must belong to the same community",
                             field=credit_field)
    debit_kinds, credit_kinds = ALLOWED_SIDES[kind]
    if debit.kind not in debit_kinds:
        raise WrongAccountKind(f"{_a(debit.kind)} account cannot pay a {kind}",
                               field=debit_field)
    if credit.kind not in credit_kinds:
        raise WrongAccountKind(f"{_a(credit.kind)} account cannot receive a {kind}",
                               field=credit_field)


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def record_transfer(request: TransferRequest, *, debit: Account, credit: Account,
                    rules: CommunityRules, now: dt.datetime) -> Transfer:
    """Check every rule, then move the minutes and create the transfer.

    Both sides are checked before either is changed, so a refusal leaves the
    aggregates untouched.
    """
    kind = _check_request_shape(request, rules)
    if kind is TransferKind.REVERSAL:
        raise DomainError("use reverse_transfer for a reversal", field="kind",
                          rule="reversal_links_original")
    _check_sides(kind, debit, credit)
    earning = request.minutes if kind is TransferKind.SERVICE_CREDIT else 0
    debit.check_debit(minutes=request.minutes, kind=kind, rules=rules)
    credit.check_credit(minutes=request.minutes, kind=kind, rules=rules,
                        service_date=request.service_date, earning=earning)
    expires_at = (now + dt.timedelta(minutes=rules.pending_expiry_minutes)
                  if request.pending else None)
    return _move(request, debit, credit, rules, earning=earning, expires_at=expires_at,
                 reverses=None)


def reverse_transfer(request: TransferRequest, original: Transfer, *, debit: Account,
                     credit: Account, rules: CommunityRules, reason: str = "") -> Transfer:
    """Undo a posted transfer with a new one in the other direction, linked to it."""
    if original.kind is TransferKind.REVERSAL:
        raise InvalidTransition("a reversal cannot itself be reversed; record a new "
                                "transfer instead", field="id")
    if original.state is not TransferState.POSTED:
        raise InvalidTransition(f"only a posted transfer can be reversed (this one is "
                                f"{original.state}); void a pending credit instead",
                                field="id")
    if original.reversed_by is not None:
        raise InvalidTransition(f"already reversed by {original.reversed_by}", field="id")
    debit.check_debit(minutes=original.minutes, kind=TransferKind.REVERSAL, rules=rules)
    credit.check_credit(minutes=original.minutes, kind=TransferKind.REVERSAL, rules=rules)
    transfer = _move(request, debit, credit, rules, earning=-original.earning,
                     expires_at=None, reverses=original.id)
    original._reversed(reversal_id=transfer.id, reason=reason)
    return transfer


def _move(request: TransferRequest, debit: Account, credit: Account,
          rules: CommunityRules, *, earning: int, expires_at: dt.datetime | None,
          reverses: UUID | None) -> Transfer:
    common: dict[str, Any] = {
        "transfer_id": request.transfer_id, "minutes": request.minutes, "kind": request.kind,
        "pending": request.pending, "service_date": request.service_date,
        "category": request.category}
    # On a reversal the earning comes back off the volunteer, who is the debit side.
    debit.debit(counterparty_id=credit.id, earning=earning if earning < 0 else 0,
                rules=rules, **common)
    credit.credit(counterparty_id=debit.id, earning=earning if earning > 0 else 0,
                  rules=rules, **common)
    # The library's documented _create with the created event class: calling
    # Transfer(...) would first match the arguments to __init__ (3 us of 14).
    recorded = Transfer.Recorded  # type: ignore[attr-defined]  # made by @event("Recorded")
    return Transfer._create(
        recorded, id=request.transfer_id, community_id=debit.community_id, kind=request.kind,
        debit_account_id=debit.id, credit_account_id=credit.id, minutes=request.minutes,
        category=request.category, service_date=request.service_date,
        pending=request.pending, expires_at=expires_at, actor=request.actor,
        on_behalf_of=request.on_behalf_of, channel=request.channel,
        rules_version=rules.version, reverses=reverses, earning=earning)


def confirm_transfer(transfer: Transfer, *, debit: Account, credit: Account, actor: str,
                     channel: str, now: dt.datetime) -> bool:
    """Post a pending credit. Returns False when it was already posted (a retry)."""
    if transfer.state is TransferState.POSTED:
        return False
    if transfer.state is TransferState.VOIDED:
        raise InvalidTransition("a voided credit cannot be confirmed", field="id")
    if transfer.is_expired(now):
        raise PendingExpired(f"the pending credit expired at {transfer.expires_at}",
                             field="id")
    _member(_CHANNELS, channel, "channel")
    debit.settle(transfer_id=transfer.id, minutes=transfer.minutes, side="debit")
    credit.settle(transfer_id=transfer.id, minutes=transfer.minutes, side="credit")
    transfer._posted(actor=actor, channel=channel)
    return True


def void_transfer(transfer: Transfer, *, debit: Account, credit: Account, actor: str,
                  reason: str) -> bool:
    """Release a pending credit. Returns False when it was already voided (a retry)."""
    if transfer.state is TransferState.VOIDED:
        return False
    if transfer.state is TransferState.POSTED:
        raise InvalidTransition("a posted transfer cannot be voided; reverse it instead",
                                field="id")
    for account, side in ((debit, "debit"), (credit, "credit")):
        account.release(transfer_id=transfer.id, minutes=transfer.minutes, side=side,
                        service_date=transfer.service_date,
                        earning=-transfer.earning if side == "credit" else 0,
                        reason=reason)
    transfer._voided(actor=actor, reason=reason)
    return True
