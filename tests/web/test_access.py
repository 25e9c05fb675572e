"""The authorisation policy (``ledger.access``) on its own: pure, one table."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.errors import DomainError, Forbidden, Unauthenticated
from ledger.access import POLICY, Action, acting_as, allowed, authorise
from ledger.tokens import Principal, Role

OWN, OTHER = uuid4(), uuid4()


def principal(role: Role, subject: UUID | None = None) -> Principal:
    """A principal of ``role`` bound to ``subject``."""
    return Principal(token_id=uuid4(), role=role, subject=subject)


def test_the_policy_names_every_action():
    assert set(POLICY) == set(Action)


@pytest.mark.parametrize("action", list(Action))
def test_administrators_may_do_everything(action):
    assert allowed(principal(Role.ADMIN), action, [OTHER])


@pytest.mark.parametrize(("role", "action"), [
    (Role.MEMBER, Action.MOVE_MEMBER_TIME), (Role.MEMBER, Action.READ_ACCOUNT),
    (Role.MEMBER, Action.READ_PERSONAL_DATA), (Role.PARTNER, Action.RECORD_CREDIT),
    (Role.PARTNER, Action.SETTLE_CREDIT), (Role.PARTNER, Action.READ_TRANSFER)])
def test_members_and_partners_act_only_on_their_own_account(role, action):
    assert allowed(principal(role, OWN), action, [OWN, OTHER])
    assert not allowed(principal(role, OWN), action, [OTHER])
    assert not allowed(principal(role, None), action, [OTHER])


def test_auditors_read_everything_but_personal_data_and_write_nothing():
    auditor = principal(Role.AUDITOR)
    assert allowed(auditor, Action.READ_ACCOUNT, [OTHER])
    assert allowed(auditor, Action.READ_MEMBER, [OTHER])
    assert not allowed(auditor, Action.READ_PERSONAL_DATA, [OTHER])
    writes = [a for a in Action if not a.value.startswith("read_")]
    assert not any(allowed(auditor, action, [OTHER]) for action in writes)


def test_staff_do_not_change_rules_budgets_or_organisations():
    staff = principal(Role.STAFF)
    for action in (Action.REGISTER_COMMUNITY, Action.CHANGE_RULES, Action.OPEN_ORGANISATION,
                   Action.SET_BUDGET):
        assert not allowed(staff, action)
    for action in (Action.REVERSE, Action.ERASE_MEMBER, Action.OPEN_MEMBER):
        assert allowed(staff, action)


def test_authorise_refuses_anonymous_and_forbidden_callers():
    with pytest.raises(Unauthenticated):
        authorise(None, Action.READ_COMMUNITY)
    with pytest.raises(Forbidden):
        authorise(principal(Role.MEMBER, OWN), Action.READ_ACCOUNT, [OTHER])


def test_staff_moving_a_members_time_act_on_their_behalf_and_may_use_a_window():
    staff = principal(Role.STAFF)
    acting = acting_as(staff, channel="service_window", member=OWN)
    assert (acting.actor, acting.channel, acting.on_behalf_of) == (
        staff.actor, "service_window", OWN)
    with pytest.raises(DomainError):
        acting_as(staff, on_behalf_of=OTHER, member=OWN)
    with pytest.raises(Forbidden):
        acting_as(staff, channel="import")


def test_members_record_through_the_api_for_themselves_only():
    member = principal(Role.MEMBER, OWN)
    assert acting_as(member, member=OWN).on_behalf_of is None
    assert acting_as(member).channel == "api"
    with pytest.raises(Forbidden):
        acting_as(member, channel="paper")
    with pytest.raises(Forbidden):
        acting_as(member, on_behalf_of=OWN)
