"""Transfers as pure domain functions: double entry, two phases and reversals.

These tests pin the table of which account kinds may take each side of each
transfer kind, every refusal and its ``rule``/``field``, and that a refusal
leaves both aggregates exactly as they were (no pending event on either).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.accounts import Account, AccountKind
from domain.errors import (
    AccountErased,
    CrossCommunity,
    DailyCapExceeded,
    DomainError,
    InsufficientBalance,
    InvalidAmount,
    InvalidTransition,
    PendingExpired,
    RecordTooLong,
    StorageCapExceeded,
    WrongAccountKind,
)
from domain.rules import CommunityRules
from domain.transfers import (
    ALLOWED_SIDES,
    SIDE_FIELDS,
    Transfer,
    TransferKind,
    TransferRequest,
    TransferState,
    confirm_transfer,
    record_transfer,
    reverse_transfer,
    void_transfer,
)

from .refusals import refused

COMMUNITY = uuid4()
RULES = CommunityRules().changed({"member_max_balance": 900, "daily_earning_cap": 300,
                                  "max_minutes_per_record": 240,
                                  "pending_expiry_minutes": 60})
NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
DAY = "2026-11-20"
FORWARD = [k for k in TransferKind if k is not TransferKind.REVERSAL]


def account(kind: AccountKind, *, funds: int = 0, community: UUID = COMMUNITY) -> Account:
    """A saved account; ``funds`` posted minutes (or budget, for an organisation)."""
    opened = Account.open(account_id=uuid4(), community_id=community, kind=kind)
    if kind is AccountKind.ORGANISATION:
        opened.set_budget(funds)
    elif funds:
        opened.credit(transfer_id=uuid4(), minutes=funds, counterparty_id=uuid4(),
                      kind="gift", pending=False, rules=RULES)
    opened.collect_events()
    return opened


def ask(kind: str, debit: Account, credit: Account, minutes: Any = 60, *,
        pending: bool = False, day: str = DAY, transfer_id: UUID | None = None) -> TransferRequest:
    """A request between two accounts."""
    return TransferRequest(transfer_id=transfer_id or uuid4(), kind=kind,
                           debit_account_id=debit.id, credit_account_id=credit.id,
                           minutes=minutes, category="gardening", service_date=day,
                           pending=pending, actor="staff:test", on_behalf_of=None,
                           channel="api")


def record(kind: str, debit: Account, credit: Account, minutes: Any = 60,
           **kwargs: Any) -> Transfer:
    """Record a transfer and save (collect) the events of all three aggregates."""
    transfer = record_transfer(ask(kind, debit, credit, minutes, **kwargs), debit=debit,
                               credit=credit, rules=RULES, now=NOW)
    for aggregate in (transfer, debit, credit):
        aggregate.collect_events()
    return transfer


def record_refused(error: type[DomainError], request: TransferRequest, debit: Account,
                   credit: Account) -> DomainError:
    """Recording ``request`` is refused with ``error`` and touches neither account."""
    balances = [(a.balance, a.pending_in, a.pending_out, dict(a.earned))
                for a in (debit, credit)]
    error_raised = refused(error, lambda: record_transfer(
        request, debit=debit, credit=credit, rules=RULES, now=NOW), debit, credit)
    assert [(a.balance, a.pending_in, a.pending_out, dict(a.earned))
            for a in (debit, credit)] == balances
    return error_raised


@pytest.mark.parametrize(("kind", "debit_kind", "credit_kind"), list(itertools.product(
    FORWARD, list(AccountKind), list(AccountKind))))
def test_only_the_account_kinds_in_the_table_may_take_each_side(
        kind: TransferKind, debit_kind: AccountKind, credit_kind: AccountKind) -> None:
    debit, credit = account(debit_kind, funds=500), account(credit_kind)
    request = ask(kind, debit, credit)
    debit_kinds, credit_kinds = ALLOWED_SIDES[kind]
    if debit_kind in debit_kinds and credit_kind in credit_kinds:
        transfer = record_transfer(request, debit=debit, credit=credit, rules=RULES, now=NOW)
        assert (debit.balance, credit.balance) == (
            (440 if debit_kind is not AccountKind.ORGANISATION else -60), 60)
        assert transfer.state is TransferState.POSTED
        return
    error = record_refused(WrongAccountKind, request, debit, credit)
    wrong_side = 0 if debit_kind not in debit_kinds else 1
    assert error.field == SIDE_FIELDS[kind][wrong_side]


def test_a_transfer_debits_one_side_and_credits_the_other_by_the_same_minutes() -> None:
    org, member = account(AccountKind.ORGANISATION, funds=600), account(AccountKind.MEMBER)
    transfer = record_transfer(ask("service_credit", org, member, 90), debit=org,
                               credit=member, rules=RULES, now=NOW)
    assert (org.balance, member.balance, member.earned) == (-90, 90, {DAY: 90})
    assert [type(e).__name__ for e in transfer.collect_events()] == ["Recorded"]
    assert [type(e).__name__ for e in org.collect_events()] == ["Debited"]
    assert [type(e).__name__ for e in member.collect_events()] == ["Credited"]
    assert (transfer.rules_version, transfer.earning, transfer.expires_at) == (2, 90, None)


@pytest.mark.parametrize("minutes", [0, -30, True, 1.5, 30.0])
def test_invalid_minutes_are_refused_before_anything_moves(minutes: Any) -> None:
    org, member = account(AccountKind.ORGANISATION, funds=600), account(AccountKind.MEMBER)
    error = record_refused(InvalidAmount, ask("service_credit", org, member, minutes), org,
                           member)
    assert error.field == "minutes"


def test_one_service_record_holds_at_most_the_per_record_maximum() -> None:
    issuance, member = account(AccountKind.ISSUANCE), account(AccountKind.MEMBER)
    error = record_refused(RecordTooLong, ask("service_credit", issuance, member, 241),
                           issuance, member)
    assert error.rule == "max_minutes_per_record"
    record("service_credit", issuance, member, 240)
    record("gift", member, account(AccountKind.MEMBER), 240)  # not a service record


@pytest.mark.parametrize(("kind", "debit_kind", "credit_kind", "funds"), [
    ("gift", AccountKind.MEMBER, AccountKind.MEMBER, 50),
    ("redemption", AccountKind.MEMBER, AccountKind.ORGANISATION, 50),
    ("gift", AccountKind.POOL, AccountKind.MEMBER, 50),
    ("service_credit", AccountKind.ORGANISATION, AccountKind.MEMBER, 200),
    ("donation", AccountKind.ORGANISATION, AccountKind.POOL, 200),
])
def test_a_payer_cannot_cross_its_floor(kind: str, debit_kind: AccountKind,
                                        credit_kind: AccountKind, funds: int) -> None:
    debit, credit = account(debit_kind, funds=funds), account(credit_kind)
    error = record_refused(InsufficientBalance, ask(kind, debit, credit, funds + 1), debit,
                           credit)
    assert (error.rule, error.field) == ("minimum_balance", "minutes")
    record(kind, debit, credit, funds)


def test_a_member_cannot_receive_beyond_the_storage_cap() -> None:
    giver, member = account(AccountKind.MEMBER, funds=900), account(AccountKind.MEMBER, funds=800)
    record_refused(StorageCapExceeded, ask("gift", giver, member, 101), giver, member)
    record("gift", giver, member, 100)


def test_the_daily_earning_cap_applies_per_volunteer_and_service_date() -> None:
    issuance, member = account(AccountKind.ISSUANCE), account(AccountKind.MEMBER)
    record("service_credit", issuance, member, 240)
    record("service_credit", issuance, member, 60, pending=True)
    record_refused(DailyCapExceeded, ask("service_credit", issuance, member, 1), issuance,
                   member)
    record("service_credit", issuance, member, 240, day="2026-11-21")
    record("service_credit", issuance, account(AccountKind.MEMBER), 240)


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("debit", "same", "distinct_accounts"),
    ("pending", True, "pending_only_for_service_credit"),
    ("service_date", "20/11/2026", "iso_date"),
    ("kind", "reversal", "reversal_links_original"),
])
def test_malformed_requests_are_refused_with_their_rule(field: str, value: Any,
                                                       rule: str) -> None:
    giver, member = account(AccountKind.MEMBER, funds=100), account(AccountKind.MEMBER)
    request = ask("gift", giver, member)
    if field == "debit":
        request, member = ask("gift", giver, giver), giver
    elif field == "pending":
        request = ask("gift", giver, member, pending=True)
    elif field == "service_date":
        request = ask("gift", giver, member, day=value)
    else:
        request = ask("reversal", giver, member)
    assert record_refused(DomainError, request, giver, member).rule == rule


@pytest.mark.parametrize(("field", "value"), [("kind", "loan"), ("channel", "fax")])
def test_an_unknown_kind_or_channel_is_a_named_refusal(field: str, value: str) -> None:
    giver, member = account(AccountKind.MEMBER, funds=100), account(AccountKind.MEMBER)
    request = dataclasses.replace(ask("gift", giver, member), **{field: value})
    error = record_refused(DomainError, request, giver, member)
    assert (error.rule, error.field) == (f"known_{field}", field)


def test_the_actor_is_not_part_of_the_payload_a_retry_must_match() -> None:
    giver, member = account(AccountKind.MEMBER, funds=100), account(AccountKind.MEMBER)
    request = ask("gift", giver, member)
    rotated = dataclasses.replace(request, actor="partner:rotated-token")
    assert rotated.payload() == request.payload()
    assert dataclasses.replace(request, minutes=61).payload() != request.payload()
    assert "transfer_id" not in request.payload()


def test_accounts_of_different_communities_cannot_meet() -> None:
    giver = account(AccountKind.MEMBER, funds=100)
    stranger = account(AccountKind.MEMBER, community=uuid4())
    error = record_refused(CrossCommunity, ask("gift", giver, stranger), giver, stranger)
    assert error.field == "to"


def test_a_pending_credit_reserves_on_both_sides_until_confirmed() -> None:
    org, member = account(AccountKind.ORGANISATION, funds=100), account(AccountKind.MEMBER)
    transfer = record("service_credit", org, member, 100, pending=True)
    assert transfer.expires_at == NOW + dt.timedelta(minutes=60)
    assert (org.pending_out, member.pending_in, member.earned) == (100, 100, {DAY: 100})
    record_refused(InsufficientBalance, ask("service_credit", org, member, 1), org, member)
    assert confirm_transfer(transfer, debit=org, credit=member, actor="a", channel="api",
                            now=NOW + dt.timedelta(minutes=59))
    assert transfer.state is TransferState.POSTED
    assert (org.balance, org.pending_out, member.balance, member.pending_in) == (-100, 0, 100, 0)
    for aggregate in (transfer, org, member):
        aggregate.collect_events()
    assert not confirm_transfer(transfer, debit=org, credit=member, actor="a", channel="api",
                                now=NOW)
    assert all(a.collect_events() == [] for a in (transfer, org, member))


def test_a_voided_credit_releases_the_reservation_and_the_earning() -> None:
    org, member = account(AccountKind.ORGANISATION, funds=300), account(AccountKind.MEMBER)
    transfer = record("service_credit", org, member, 240, pending=True)
    assert void_transfer(transfer, debit=org, credit=member, actor="a", reason="no-show")
    assert (transfer.state, transfer.void_reason) == (TransferState.VOIDED, "no-show")
    assert (org.pending_out, member.pending_in, member.earned) == (0, 0, {DAY: 0})
    for aggregate in (transfer, org, member):
        aggregate.collect_events()
    assert not void_transfer(transfer, debit=org, credit=member, actor="a", reason="again")
    refused(InvalidTransition, lambda: confirm_transfer(
        transfer, debit=org, credit=member, actor="a", channel="api", now=NOW),
        transfer, org, member)
    record("service_credit", org, member, 240)


def test_a_posted_transfer_cannot_be_voided() -> None:
    org, member = account(AccountKind.ORGANISATION, funds=100), account(AccountKind.MEMBER)
    transfer = record("service_credit", org, member, 30)
    refused(InvalidTransition, lambda: void_transfer(
        transfer, debit=org, credit=member, actor="a", reason="x"), transfer, org, member)


@pytest.mark.parametrize("late", [dt.timedelta(0), dt.timedelta(minutes=1)])
def test_a_pending_credit_cannot_be_confirmed_from_its_expiry_on(late: dt.timedelta) -> None:
    org, member = account(AccountKind.ORGANISATION, funds=100), account(AccountKind.MEMBER)
    transfer = record("service_credit", org, member, 30, pending=True)
    at = transfer.expires_at + late
    assert transfer.is_expired(at)
    error = refused(PendingExpired, lambda: confirm_transfer(
        transfer, debit=org, credit=member, actor="a", channel="api", now=at),
        transfer, org, member)
    assert error.field == "id"
    assert void_transfer(transfer, debit=org, credit=member, actor="system", reason="expired")


def reverse(original: Transfer, debit: Account, credit: Account) -> Transfer:
    """Reverse ``original``: ``debit`` is its credit side, ``credit`` its debit side."""
    request = TransferRequest(
        transfer_id=uuid4(), kind="reversal", debit_account_id=debit.id,
        credit_account_id=credit.id, minutes=original.minutes, category=original.category,
        service_date=original.service_date, pending=False, actor="admin:test",
        on_behalf_of=None, channel="api")
    return reverse_transfer(request, original, debit=debit, credit=credit, rules=RULES)


def test_a_reversal_moves_the_minutes_back_links_both_ways_and_frees_the_day() -> None:
    org, member = account(AccountKind.ORGANISATION, funds=300), account(AccountKind.MEMBER)
    original = record("service_credit", org, member, 240)
    reversal = reverse(original, member, org)
    assert (reversal.kind, reversal.reverses, reversal.earning) == (
        TransferKind.REVERSAL, original.id, -240)
    assert original.reversed_by == reversal.id
    assert [type(e).__name__ for e in original.collect_events()] == ["Reversed"]
    assert (org.balance, member.balance, member.earned) == (0, 0, {DAY: 0})
    for aggregate in (reversal, org, member):
        aggregate.collect_events()
    record("service_credit", org, member, 240)


def test_a_transfer_is_reversed_at_most_once() -> None:
    giver, member = account(AccountKind.MEMBER, funds=100), account(AccountKind.MEMBER)
    original = record("gift", giver, member, 40)
    reverse(original, member, giver)
    for aggregate in (original, giver, member):
        aggregate.collect_events()
    error = refused(InvalidTransition, lambda: reverse(original, member, giver),
                    original, giver, member)
    assert "already reversed" in error.detail


def test_a_reversal_cannot_itself_be_reversed() -> None:
    giver, member = account(AccountKind.MEMBER, funds=100), account(AccountKind.MEMBER)
    original = record("gift", giver, member, 40)
    reversal = reverse(original, member, giver)
    for aggregate in (original, reversal, giver, member):
        aggregate.collect_events()
    refused(InvalidTransition, lambda: reverse(reversal, giver, member),
            reversal, giver, member)


@pytest.mark.parametrize("then_void", [False, True])
def test_only_a_posted_transfer_can_be_reversed(then_void: bool) -> None:
    org, member = account(AccountKind.ORGANISATION, funds=100), account(AccountKind.MEMBER)
    original = record("service_credit", org, member, 30, pending=True)
    if then_void:
        void_transfer(original, debit=org, credit=member, actor="a", reason="x")
        for aggregate in (original, org, member):
            aggregate.collect_events()
    refused(InvalidTransition, lambda: reverse(original, member, org), original, org, member)


def test_a_reversal_respects_the_floor_of_the_account_it_takes_from() -> None:
    issuance, ada, bo = (account(AccountKind.ISSUANCE), account(AccountKind.MEMBER),
                         account(AccountKind.MEMBER))
    original = record("service_credit", issuance, ada, 120)
    record("gift", ada, bo, 100)
    refused(InsufficientBalance, lambda: reverse(original, ada, issuance),
            original, ada, issuance)
    assert original.reversed_by is None and ada.earned == {DAY: 120}


def test_an_erased_member_takes_no_new_movement_but_can_be_reversed() -> None:
    issuance, ada, bo = (account(AccountKind.ISSUANCE), account(AccountKind.MEMBER),
                         account(AccountKind.MEMBER, funds=100))
    original = record("service_credit", issuance, ada, 120)
    ada.erase()
    ada.collect_events()
    record_refused(AccountErased, ask("service_credit", issuance, ada, 10), issuance, ada)
    record_refused(AccountErased, ask("gift", ada, bo, 10), ada, bo)
    record_refused(AccountErased, ask("gift", bo, ada, 10), bo, ada)
    reverse(original, ada, issuance)
    assert (ada.balance, issuance.balance) == (0, 0)


def test_replaying_a_transfers_events_rebuilds_its_state() -> None:
    org, member = account(AccountKind.ORGANISATION, funds=100), account(AccountKind.MEMBER)
    transfer = record_transfer(ask("service_credit", org, member, 30, pending=True),
                               debit=org, credit=member, rules=RULES, now=NOW)
    confirm_transfer(transfer, debit=org, credit=member, actor="a", channel="paper", now=NOW)
    rebuilt = None
    for event in transfer.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert rebuilt is not None and rebuilt.state is TransferState.POSTED
    assert rebuilt.request() == transfer.request()
    assert rebuilt.request().payload()["minutes"] == 30
