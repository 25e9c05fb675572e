"""Accounts and the limits that guard them.

An account's balance is a fold over its own entries: ``Debited``/``Credited``
move minutes (posted, or reserved while a transfer is pending),
``PendingPosted`` turns a reservation into a posted movement and
``PendingReleased`` gives it back. Limits are checked against posted *and*
pending amounts, so a reservation can never be confirmed into a crossed limit.

Signs: a credit raises the balance, a debit lowers it. Organisations and the
issuance account go negative as they issue credits; the sum over a community is
always zero because every transfer debits one account and credits another by
the same amount.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    AccountErased,
    DailyCapExceeded,
    DomainError,
    InsufficientBalance,
    InvalidAmount,
    StorageCapExceeded,
    WrongAccountKind,
)
from domain.rules import CommunityRules


class AccountKind(StrEnum):
    """What an account stands for."""

    MEMBER = "member"
    ORGANISATION = "organisation"
    POOL = "pool"
    ISSUANCE = "issuance"


_KINDS = {kind.value: kind for kind in AccountKind}  # a lookup: calling the enum is slower


def check_minutes(minutes: object, field: str = "minutes") -> int:
    """Whole, positive minutes or :class:`InvalidAmount`."""
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0:
        raise InvalidAmount("minutes must be a positive whole number", field=field)
    return minutes


class Account(Aggregate):
    """One account of one community. Members carry only pseudonymous ids here."""

    @event("Opened")
    def __init__(self, id: UUID, community_id: UUID, kind: str,  # noqa: A002
                 label: str) -> None:
        self.community_id = community_id
        self.kind_value = kind
        self.label = label
        self.balance = 0
        self.pending_in = 0
        self.pending_out = 0
        self.budget = 0
        self.earned: dict[str, int] = {}
        self.profile: str | None = None
        self.erased = False

    @classmethod
    def open(cls, *, account_id: UUID, community_id: UUID, kind: AccountKind,
             label: str = "") -> Account:
        """Open an account of ``kind`` in a community."""
        return cls(id=account_id, community_id=community_id, kind=kind.value, label=label)

    @property
    def kind(self) -> AccountKind:
        """What the account stands for.

        Held as its plain value so that a snapshot (JSON) restores it exactly;
        an enum attribute would come back as a bare string and every ``is``
        comparison below would silently fail."""
        return _KINDS[self.kind_value]

    def __deepcopy__(self, memo: dict[int, Any]) -> Account:
        """A copy for the repository's cache: every field is immutable but the
        earnings table (and the list of pending events, which must be fresh)."""
        copied = object.__new__(type(self))
        copied.__dict__.update(self.__dict__)
        copied.earned = dict(self.earned)
        copied._pending_events = list(self._pending_events)
        return copied

    # -- limits ---------------------------------------------------------------

    def min_balance(self, rules: CommunityRules) -> int | None:
        """Lowest the balance may go (posted minus pending out); None: unbounded."""
        if self.kind is AccountKind.MEMBER:
            return rules.member_min_balance
        if self.kind is AccountKind.ORGANISATION:
            return -self.budget
        if self.kind is AccountKind.POOL:
            return 0
        return None

    def max_balance(self, rules: CommunityRules) -> int | None:
        """Highest the balance may go (posted plus pending in); None: unbounded."""
        return rules.member_max_balance if self.kind is AccountKind.MEMBER else None

    def limits(self, rules: CommunityRules) -> dict[str, Any]:
        """Primitive view of the limits in force for this account."""
        view: dict[str, Any] = {"min_balance": self.min_balance(rules),
                                "max_balance": self.max_balance(rules),
                                "rules_version": rules.version}
        if self.kind is AccountKind.MEMBER:
            view["daily_earning_cap"] = rules.daily_earning_cap
            view["max_minutes_per_record"] = rules.max_minutes_per_record
        if self.kind is AccountKind.ORGANISATION:
            view["budget"] = self.budget
        return view

    # -- commands ---------------------------------------------------------------

    def debit(self, *, transfer_id: UUID, minutes: int, counterparty_id: UUID,
              kind: str, pending: bool, rules: CommunityRules,
              service_date: str = "", category: str = "", earning: int = 0) -> None:
        """Take ``minutes`` out (or reserve them when ``pending``)."""
        self.check_debit(minutes=minutes, kind=kind, rules=rules)
        self.trigger_event(self.Debited, transfer_id=transfer_id, minutes=minutes,
                           counterparty_id=counterparty_id, kind=kind, pending=pending,
                           service_date=service_date, category=category, earning=earning)

    def credit(self, *, transfer_id: UUID, minutes: int, counterparty_id: UUID,
               kind: str, pending: bool, rules: CommunityRules,
               service_date: str = "", category: str = "", earning: int = 0) -> None:
        """Put ``minutes`` in (or reserve them when ``pending``).

        ``earning`` on any entry is the change it makes to the minutes counted
        toward the owner's daily earning cap on ``service_date``: positive for
        a service credit, negative when a reversal or a void takes one back.
        """
        self.check_credit(minutes=minutes, kind=kind, rules=rules,
                          service_date=service_date, earning=earning)
        self.trigger_event(self.Credited, transfer_id=transfer_id, minutes=minutes,
                           counterparty_id=counterparty_id, kind=kind, pending=pending,
                           service_date=service_date, category=category, earning=earning)

    def check_debit(self, *, minutes: int, kind: str, rules: CommunityRules) -> None:
        """Raise unless ``minutes`` may leave this account now."""
        check_minutes(minutes)
        self._check_open_for_movement(kind)
        floor = self.min_balance(rules)
        if floor is not None and self.balance - self.pending_out - minutes < floor:
            what = "budget" if self.kind is AccountKind.ORGANISATION else "balance"
            raise InsufficientBalance(
                f"account {self.id} has too little {what} for {minutes} minutes "
                f"(available {self.balance - self.pending_out - floor})", field="minutes")

    def check_credit(self, *, minutes: int, kind: str, rules: CommunityRules,
                     service_date: str = "", earning: int = 0) -> None:
        """Raise unless ``minutes`` may arrive in this account now."""
        check_minutes(minutes)
        self._check_open_for_movement(kind)
        ceiling = self.max_balance(rules)
        if ceiling is not None and self.balance + self.pending_in + minutes > ceiling:
            raise StorageCapExceeded(
                f"account {self.id} would hold more than {ceiling} minutes", field="minutes")
        if earning > 0:
            self.check_can_earn(earning, service_date, rules)

    def check_can_earn(self, minutes: int, service_date: str, rules: CommunityRules) -> None:
        """Refuse a service credit above the per-day earning cap."""
        if self.kind is not AccountKind.MEMBER:
            raise WrongAccountKind("only members earn service credits", field="volunteer")
        already = self.earned.get(service_date, 0)
        if already + minutes > rules.daily_earning_cap:
            raise DailyCapExceeded(
                f"volunteer would earn {already + minutes} minutes on {service_date}; "
                f"the cap is {rules.daily_earning_cap}", field="minutes")

    def settle(self, *, transfer_id: UUID, minutes: int, side: str) -> None:
        """Turn a reservation into a posted movement (no limit can be crossed:
        the reservation was counted against the limits when it was made)."""
        self._pending_posted(transfer_id=transfer_id, minutes=minutes, side=side)

    def release(self, *, transfer_id: UUID, minutes: int, side: str,
                service_date: str, earning: int, reason: str) -> None:
        """Give a reservation back (a void or an expiry)."""
        self._pending_released(transfer_id=transfer_id, minutes=minutes, side=side,
                               service_date=service_date, earning=earning, reason=reason)

    def set_budget(self, budget: int) -> None:
        """An organisation's budget: how far below zero its balance may go."""
        if self.kind is not AccountKind.ORGANISATION:
            raise WrongAccountKind("only organisations have a budget", field="budget")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
            raise InvalidAmount("budget must be zero or more whole minutes", field="budget")
        if -budget > self.balance - self.pending_out:
            raise InsufficientBalance(
                "budget is below what the organisation has already issued", field="budget")
        self._budget_set(budget=budget)

    def record_profile(self, ciphertext: str) -> None:
        """Store the member's encrypted personal fields (never the clear text)."""
        if self.kind is not AccountKind.MEMBER:
            raise WrongAccountKind("only members have a personal profile", field="profile")
        if self.erased:
            raise AccountErased("the member was erased", field="profile")
        self._profile_recorded(ciphertext=ciphertext)

    def erase(self) -> None:
        """Mark the member erased; the data key is destroyed outside the log."""
        if self.kind is not AccountKind.MEMBER:
            raise WrongAccountKind("only members can be erased", field="account")
        if not self.erased:
            self._erased()

    def _check_open_for_movement(self, kind: str) -> None:
        # A reversal still reaches an erased member: it undoes an old movement.
        if self.erased and kind != "reversal":
            raise AccountErased(f"account {self.id} belongs to an erased member",
                                field="account")

    # -- appliers (state changes only; they re-run on every replay) ------------

    # The two entries every movement writes are explicit event classes, not
    # @event methods: the decorator's argument matching cost more than the rest
    # of an entry. Same names, fields and field order, so the same stored form.

    class Entry(Aggregate.Event):
        """One side of a movement: the fields both entries carry, in stored order."""

        transfer_id: UUID
        minutes: int
        counterparty_id: UUID
        kind: str
        pending: bool
        service_date: str
        category: str
        earning: int

    class Debited(Entry):
        """Minutes taken out (reserved while ``pending``)."""

        def apply(self, aggregate: Account) -> None:
            """Lower the balance (or raise the reservation out)."""
            if self.pending:
                aggregate.pending_out += self.minutes
            else:
                aggregate.balance -= self.minutes
            if self.earning:
                aggregate.add_earning(self.service_date, self.earning)

    class Credited(Entry):
        """Minutes put in (reserved while ``pending``)."""

        def apply(self, aggregate: Account) -> None:
            """Raise the balance (or the reservation in)."""
            if self.pending:
                aggregate.pending_in += self.minutes
            else:
                aggregate.balance += self.minutes
            if self.earning:
                aggregate.add_earning(self.service_date, self.earning)

    def add_earning(self, service_date: str, minutes: int) -> None:
        """Count ``minutes`` (negative: take back) toward ``service_date``'s cap.
        Called by appliers only."""
        self.earned[service_date] = self.earned.get(service_date, 0) + minutes

    @event("PendingPosted")
    def _pending_posted(self, transfer_id: UUID, minutes: int, side: str) -> None:
        if side == "debit":
            self.pending_out -= minutes
            self.balance -= minutes
        else:
            self.pending_in -= minutes
            self.balance += minutes

    @event("PendingReleased")
    def _pending_released(self, transfer_id: UUID, minutes: int, side: str,
                          service_date: str, earning: int, reason: str) -> None:
        if side == "debit":
            self.pending_out -= minutes
        else:
            self.pending_in -= minutes
        if earning:
            self.add_earning(service_date, earning)

    @event("BudgetSet")
    def _budget_set(self, budget: int) -> None:
        self.budget = budget

    @event("ProfileRecorded")
    def _profile_recorded(self, ciphertext: str) -> None:
        self.profile = ciphertext

    @event("Erased")
    def _erased(self) -> None:
        self.erased = True
        self.profile = None


__all__ = ["Account", "AccountKind", "DomainError", "check_minutes"]
