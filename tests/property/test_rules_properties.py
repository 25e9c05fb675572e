"""Properties of the pure rules: amounts, rule versions and one transfer's double entry.

The state machine in ``test_ledger_laws`` drives the whole application; these
properties hammer the domain values directly with many more inputs, where
each check costs microseconds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.accounts import Account, AccountKind, check_minutes
from domain.errors import DomainError, InvalidAmount, InvalidRules
from domain.rules import CommunityRules
from domain.transfers import TransferKind, TransferRequest, record_transfer

ANYTHING = st.one_of(st.integers(-10**6, 10**6), st.booleans(), st.floats(allow_nan=True),
                     st.text(max_size=3), st.none())
RULE_NAMES = [*CommunityRules.names(), "version", "bogus"]
FAST = settings(max_examples=300, deadline=None, database=None)


@FAST
@given(ANYTHING)
def test_only_positive_whole_numbers_are_minutes(value: Any) -> None:
    valid = type(value) is int and value > 0
    try:
        assert check_minutes(value) == value and valid
    except InvalidAmount:
        assert not valid


@FAST
@given(st.dictionaries(st.sampled_from(RULE_NAMES), ANYTHING, max_size=3))
def test_a_rules_change_is_a_valid_next_version_or_refused_whole(changes: dict[str, Any]) -> None:
    rules = CommunityRules()
    try:
        changed = rules.changed(changes)
    except InvalidRules as error:
        assert error.field in RULE_NAMES
        return
    changed.check()
    assert changed.version == rules.version + 1
    assert CommunityRules.from_dict(changed.as_dict()) == changed
    assert all(type(v) is int for v in changed.as_dict().values())
    assert changed.member_min_balance <= 0 < changed.member_max_balance


def opened(kind: AccountKind, funds: int, community: Any) -> Account:
    """A saved account holding ``funds`` (a budget, for an organisation)."""
    account = Account.open(account_id=uuid4(), community_id=community, kind=kind)
    if kind is AccountKind.ORGANISATION:
        account.set_budget(funds)
    elif funds:
        account.credit(transfer_id=uuid4(), minutes=funds, counterparty_id=uuid4(),
                       kind="gift", pending=False, rules=CommunityRules())
    account.collect_events()
    return account


@FAST
@given(kind=st.sampled_from([k for k in TransferKind if k is not TransferKind.REVERSAL]),
       sides=st.tuples(st.sampled_from(list(AccountKind)), st.sampled_from(list(AccountKind))),
       funds=st.integers(0, 600), minutes=st.integers(-5, 700), pending=st.booleans())
def test_one_transfer_conserves_minutes_or_changes_nothing(
        kind: TransferKind, sides: tuple[AccountKind, AccountKind], funds: int, minutes: int,
        pending: bool) -> None:
    community = uuid4()
    debit, credit = opened(sides[0], funds, community), opened(sides[1], 0, community)
    before = [(a.version, a.balance, a.pending_in, a.pending_out) for a in (debit, credit)]
    request = TransferRequest(
        transfer_id=uuid4(), kind=kind.value, debit_account_id=debit.id,
        credit_account_id=credit.id, minutes=minutes, category="", service_date="2026-11-20",
        pending=pending, actor="staff:test", on_behalf_of=None, channel="api")
    try:
        record_transfer(request, debit=debit, credit=credit, rules=CommunityRules(),
                        now=dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    except DomainError:
        assert [(a.version, a.balance, a.pending_in, a.pending_out)
                for a in (debit, credit)] == before
        assert debit.collect_events() == [] and credit.collect_events() == []
        return
    total = sum(a.balance + a.pending_in - a.pending_out for a in (debit, credit))
    assert total == sum(b[1] for b in before)
    assert (debit.pending_out, credit.pending_in) == ((minutes, minutes) if pending else (0, 0))
    assert len(debit.collect_events()) == len(credit.collect_events()) == 1
