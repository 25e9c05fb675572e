"""Accounts and their limits, without storage.

An account is the guard of every limit: minimum balance, storage cap,
organisation budget and the daily earning cap. These tests pin each limit at
its boundary, and check that a refusal leaves the account with no new event.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.accounts import Account, AccountKind, check_minutes
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

RULES = CommunityRules().changed({"member_min_balance": -60, "member_max_balance": 600,
                                  "daily_earning_cap": 240})
DAY = "2026-11-20"


def opened(kind: AccountKind, budget: int = 0) -> Account:
    """A fresh account with its opening events already saved."""
    account = Account.open(account_id=uuid4(), community_id=uuid4(), kind=kind)
    if budget:
        account.set_budget(budget)
    account.collect_events()
    return account


def move(account: Account, side: str, minutes: Any, *, kind: str = "gift",
         pending: bool = False, earning: int = 0, day: str = DAY) -> UUID:
    """Debit or credit ``account`` as one side of a transfer; returns the transfer id."""
    transfer_id = uuid4()
    getattr(account, side)(transfer_id=transfer_id, minutes=minutes, counterparty_id=uuid4(),
                           kind=kind, pending=pending, rules=RULES, service_date=day,
                           earning=earning)
    return transfer_id


def assert_refused(account: Account, error: type[DomainError], side: str, minutes: Any,
                   **kwargs: Any) -> DomainError:
    """The movement is refused with ``error`` and leaves the account untouched."""
    account.collect_events()  # as if saved: only what the refusal adds is left
    state = (account.version, account.balance, account.pending_in, account.pending_out,
             dict(account.earned))
    with pytest.raises(error) as caught:
        move(account, side, minutes, **kwargs)
    assert (account.version, account.balance, account.pending_in, account.pending_out,
            dict(account.earned)) == state
    assert account.collect_events() == []
    return caught.value


@pytest.mark.parametrize("minutes", [0, -1, -60, True, False, 1.0, 1.5, "30", None])
def test_minutes_that_are_not_positive_whole_numbers_are_refused(minutes: Any) -> None:
    with pytest.raises(InvalidAmount) as caught:
        check_minutes(minutes)
    assert caught.value.field == "minutes"


@pytest.mark.parametrize("minutes", [0, -5, True, 2.5])
@pytest.mark.parametrize("side", ["debit", "credit"])
def test_invalid_minutes_never_reach_an_account(side: str, minutes: Any) -> None:
    assert_refused(opened(AccountKind.ISSUANCE), InvalidAmount, side, minutes)


def test_a_member_may_go_down_to_the_minimum_balance_and_no_further() -> None:
    member = opened(AccountKind.MEMBER)
    move(member, "debit", 60)
    assert member.balance == -60
    error = assert_refused(member, InsufficientBalance, "debit", 1)
    assert error.field == "minutes" and error.rule == "minimum_balance"


def test_a_member_may_hold_up_to_the_storage_cap_and_no_more() -> None:
    member = opened(AccountKind.MEMBER)
    move(member, "credit", 600)
    assert_refused(member, StorageCapExceeded, "credit", 1)


def test_pending_credits_count_toward_the_storage_cap() -> None:
    member = opened(AccountKind.MEMBER)
    move(member, "credit", 400)
    move(member, "credit", 200, pending=True)
    assert (member.balance, member.pending_in) == (400, 200)
    assert_refused(member, StorageCapExceeded, "credit", 1)


def test_an_organisation_may_issue_up_to_its_budget_counting_reservations() -> None:
    org = opened(AccountKind.ORGANISATION, budget=300)
    move(org, "debit", 200)
    move(org, "debit", 100, pending=True)
    assert (org.balance, org.pending_out) == (-200, 100)
    error = assert_refused(org, InsufficientBalance, "debit", 1)
    assert "budget" in error.detail


def test_an_organisation_without_budget_cannot_pay_but_can_receive() -> None:
    org = opened(AccountKind.ORGANISATION)
    assert_refused(org, InsufficientBalance, "debit", 1)
    move(org, "credit", 10_000)
    move(org, "debit", 10_000)
    assert org.balance == 0


def test_the_pool_cannot_go_below_zero_and_issuance_is_unbounded() -> None:
    pool, issuance = opened(AccountKind.POOL), opened(AccountKind.ISSUANCE)
    assert_refused(pool, InsufficientBalance, "debit", 1)
    move(pool, "credit", 30)
    move(pool, "debit", 30)
    move(issuance, "debit", 10**9)
    assert (pool.balance, issuance.balance) == (0, -10**9)


def test_the_daily_earning_cap_is_per_service_date_and_counts_pending() -> None:
    member = opened(AccountKind.MEMBER)
    move(member, "credit", 200, earning=200)
    move(member, "credit", 40, earning=40, pending=True)
    assert member.earned == {DAY: 240}
    error = assert_refused(member, DailyCapExceeded, "credit", 1, earning=1)
    assert error.rule == "daily_earning_cap"
    move(member, "credit", 240, earning=240, day="2026-11-21")
    assert member.earned == {DAY: 240, "2026-11-21": 240}


def test_a_credit_that_is_not_an_earning_ignores_the_daily_cap() -> None:
    member = opened(AccountKind.MEMBER)
    move(member, "credit", 240, earning=240)
    move(member, "credit", 100)
    assert member.balance == 340 and member.earned == {DAY: 240}


@pytest.mark.parametrize("kind", [AccountKind.ORGANISATION, AccountKind.POOL,
                                  AccountKind.ISSUANCE])
def test_only_members_earn_service_credits(kind: AccountKind) -> None:
    error = assert_refused(opened(kind), WrongAccountKind, "credit", 10, earning=10)
    assert error.field == "volunteer"


def test_settling_a_reservation_posts_it_on_both_sides() -> None:
    org, member = opened(AccountKind.ORGANISATION, budget=100), opened(AccountKind.MEMBER)
    transfer_id = move(org, "debit", 90, pending=True)
    move(member, "credit", 90, pending=True, earning=90)
    org.settle(transfer_id=transfer_id, minutes=90, side="debit")
    member.settle(transfer_id=transfer_id, minutes=90, side="credit")
    assert (org.balance, org.pending_out, member.balance, member.pending_in) == (-90, 0, 90, 0)
    assert member.earned == {DAY: 90}


def test_releasing_a_reservation_gives_back_budget_room_and_earning() -> None:
    org, member = opened(AccountKind.ORGANISATION, budget=100), opened(AccountKind.MEMBER)
    transfer_id = move(org, "debit", 90, pending=True)
    move(member, "credit", 90, pending=True, earning=90)
    org.release(transfer_id=transfer_id, minutes=90, side="debit", service_date=DAY,
                earning=0, reason="voided")
    member.release(transfer_id=transfer_id, minutes=90, side="credit", service_date=DAY,
                   earning=-90, reason="voided")
    assert (org.balance, org.pending_out, member.balance, member.pending_in) == (0, 0, 0, 0)
    assert member.earned == {DAY: 0}
    move(org, "debit", 100)


@pytest.mark.parametrize("budget", [-1, True, 1.5, "60"])
def test_a_budget_must_be_zero_or_more_whole_minutes(budget: Any) -> None:
    org = opened(AccountKind.ORGANISATION, budget=60)
    with pytest.raises(InvalidAmount):
        org.set_budget(budget)
    assert org.budget == 60 and org.collect_events() == []


def test_a_budget_cannot_drop_below_what_was_already_issued_or_reserved() -> None:
    org = opened(AccountKind.ORGANISATION, budget=300)
    move(org, "debit", 100)
    move(org, "debit", 50, pending=True)
    org.collect_events()
    with pytest.raises(InsufficientBalance) as caught:
        org.set_budget(149)
    assert caught.value.field == "budget" and org.collect_events() == []
    org.set_budget(150)
    assert org.budget == 150 and org.limits(RULES)["min_balance"] == -150


@pytest.mark.parametrize("kind", [AccountKind.MEMBER, AccountKind.POOL, AccountKind.ISSUANCE])
def test_only_organisations_have_a_budget(kind: AccountKind) -> None:
    with pytest.raises(WrongAccountKind):
        opened(kind).set_budget(60)


def test_an_erased_member_refuses_every_movement_but_a_reversal() -> None:
    member = opened(AccountKind.MEMBER)
    move(member, "credit", 120)
    member.erase()
    member.collect_events()
    for side in ("debit", "credit"):
        error = assert_refused(member, AccountErased, side, 10)
        assert error.field == "account"
    move(member, "debit", 120, kind="reversal")
    assert member.balance == 0 and member.erased


def test_erasure_forgets_the_profile_and_happens_once() -> None:
    member = opened(AccountKind.MEMBER)
    member.record_profile("ciphertext")
    member.erase()
    member.erase()
    assert [type(e).__name__ for e in member.collect_events()] == ["ProfileRecorded", "Erased"]
    assert member.profile is None
    with pytest.raises(AccountErased):
        member.record_profile("again")


@pytest.mark.parametrize("kind", [AccountKind.ORGANISATION, AccountKind.POOL,
                                  AccountKind.ISSUANCE])
def test_only_members_have_a_profile_or_can_be_erased(kind: AccountKind) -> None:
    account = opened(kind)
    with pytest.raises(WrongAccountKind):
        account.record_profile("ciphertext")
    with pytest.raises(WrongAccountKind):
        account.erase()
    assert account.collect_events() == []


def test_limits_view_names_what_applies_to_each_kind() -> None:
    member, org = opened(AccountKind.MEMBER), opened(AccountKind.ORGANISATION, budget=90)
    assert member.limits(RULES) == {"min_balance": -60, "max_balance": 600,
                                    "rules_version": 2, "daily_earning_cap": 240,
                                    "max_minutes_per_record": 480}
    assert org.limits(RULES) == {"min_balance": -90, "max_balance": None,
                                 "rules_version": 2, "budget": 90}
    assert opened(AccountKind.ISSUANCE).limits(RULES)["min_balance"] is None


def test_replaying_an_accounts_events_rebuilds_its_state() -> None:
    member = Account.open(account_id=uuid4(), community_id=uuid4(), kind=AccountKind.MEMBER)
    move(member, "credit", 200, earning=200)
    transfer_id = move(member, "credit", 30, pending=True, earning=30)
    member.release(transfer_id=transfer_id, minutes=30, side="credit", service_date=DAY,
                   earning=-30, reason="expired")
    move(member, "debit", 50)
    rebuilt = None
    for event in member.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert rebuilt is not None
    assert (rebuilt.version, rebuilt.balance, rebuilt.pending_in, rebuilt.earned) == (
        member.version, 150, 0, {DAY: 200})
