"""Community rules: validated, versioned values, and the community that holds them.

Every transfer is checked against a rules version, so a bad value must never
become a version, and a refused change must leave the community untouched.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.communities import (
    Community,
    derived_id,
    issuance_account_id,
    pool_account_id,
)
from domain.errors import InvalidRules
from domain.rules import CommunityRules

LIMITS = ("member_min_balance", "member_max_balance", "daily_earning_cap",
          "max_minutes_per_record", "pending_expiry_minutes")


def fresh_community(rules: dict[str, int] | None = None) -> Community:
    """A registered community with its registration event already saved."""
    community = Community.register(community_id=uuid4(), name="Elm Street", rules=rules)
    community.collect_events()
    return community


def test_default_rules_are_version_one_and_valid() -> None:
    rules = CommunityRules()
    rules.check()
    assert rules.version == 1
    assert rules.member_min_balance == 0
    assert rules.max_minutes_per_record <= rules.daily_earning_cap


def test_names_list_every_changeable_limit_but_not_the_version() -> None:
    assert CommunityRules.names() == LIMITS


def test_a_change_makes_the_next_version_and_keeps_the_rest() -> None:
    rules = CommunityRules()
    changed = rules.changed({"daily_earning_cap": 300})
    assert changed.version == 2 and changed.daily_earning_cap == 300
    assert changed.member_max_balance == rules.member_max_balance
    assert rules.daily_earning_cap == 12 * 60  # the old version is an unchanged value
    assert changed.changed({}).version == 3


@pytest.mark.parametrize("name", ["unknown_limit", "version"])
def test_an_unknown_rule_name_is_refused_and_named(name: str) -> None:
    with pytest.raises(InvalidRules) as caught:
        CommunityRules().changed({name: 5})
    assert caught.value.field == name and caught.value.rule == "invalid_rules"


@pytest.mark.parametrize("value", [1.5, 60.0, True, False, "60", None])
@pytest.mark.parametrize("name", LIMITS)
def test_a_rule_value_that_is_not_whole_minutes_is_refused(name: str, value: Any) -> None:
    with pytest.raises(InvalidRules) as caught:
        CommunityRules().changed({name: value})
    assert caught.value.field == name


@pytest.mark.parametrize(("name", "value"), [
    ("member_min_balance", 1),
    ("member_max_balance", 0), ("member_max_balance", -60),
    ("daily_earning_cap", 0), ("daily_earning_cap", -1),
    ("max_minutes_per_record", 0), ("max_minutes_per_record", -1),
    ("pending_expiry_minutes", 0), ("pending_expiry_minutes", -1),
])
def test_a_rule_value_out_of_range_is_refused_and_named(name: str, value: int) -> None:
    with pytest.raises(InvalidRules) as caught:
        CommunityRules().changed({name: value})
    assert caught.value.field == name


@pytest.mark.parametrize(("name", "value"), [
    ("member_min_balance", 0), ("member_min_balance", -600),
    ("member_max_balance", 1), ("daily_earning_cap", 1),
    ("max_minutes_per_record", 1), ("pending_expiry_minutes", 1),
])
def test_boundary_values_of_each_rule_are_accepted(name: str, value: int) -> None:
    assert getattr(CommunityRules().changed({name: value}), name) == value


def test_the_primitive_form_round_trips_and_ignores_unknown_keys() -> None:
    rules = CommunityRules().changed({"member_min_balance": -120})
    stored = {**rules.as_dict(), "a_rule_from_the_future": 7}
    assert CommunityRules.from_dict(stored) == rules
    assert rules.as_dict()["version"] == 2


def test_a_registered_community_starts_at_rules_version_one_with_overrides() -> None:
    community = Community.register(community_id=uuid4(), name="Elm Street",
                                   rules={"daily_earning_cap": 240})
    assert community.rules.version == 1 and community.rules.daily_earning_cap == 240
    assert [type(e).__name__ for e in community.collect_events()] == ["Registered"]


def test_registering_with_invalid_rules_is_refused() -> None:
    with pytest.raises(InvalidRules) as caught:
        Community.register(community_id=uuid4(), name="Elm Street",
                           rules={"member_max_balance": 0})
    assert caught.value.field == "member_max_balance"


def test_changing_rules_records_a_new_version_as_an_event() -> None:
    community = fresh_community()
    community.change_rules({"member_min_balance": -60})
    community.change_rules({"daily_earning_cap": 120})
    events = community.collect_events()
    assert [type(e).__name__ for e in events] == ["RulesChanged", "RulesChanged"]
    assert community.rules.version == 3
    assert (community.rules.member_min_balance, community.rules.daily_earning_cap) == (-60, 120)


@pytest.mark.parametrize("changes", [{"member_min_balance": 5}, {"nope": 1},
                                     {"daily_earning_cap": 2.5}])
def test_a_refused_rules_change_leaves_the_community_untouched(changes: dict[str, Any]) -> None:
    community = fresh_community()
    before = (community.version, community.rules)
    with pytest.raises(InvalidRules):
        community.change_rules(changes)
    assert (community.version, community.rules) == before
    assert community.collect_events() == []


def test_replaying_a_communitys_events_rebuilds_its_rules() -> None:
    community = Community.register(community_id=uuid4(), name="Elm Street")
    community.change_rules({"member_max_balance": 6000})
    rebuilt = None
    for event in community.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert rebuilt is not None and rebuilt.rules == community.rules
    assert rebuilt.name == "Elm Street"


def test_system_account_ids_are_derived_distinct_and_stable() -> None:
    community_id = UUID("00000000-0000-4000-8000-000000000001")
    assert issuance_account_id(community_id) == issuance_account_id(community_id)
    assert issuance_account_id(community_id) != pool_account_id(community_id)
    assert issuance_account_id(community_id) != issuance_account_id(uuid4())
    assert derived_id("reversal", community_id) == derived_id("reversal", community_id)
    assert derived_id("reversal", community_id) != derived_id("other", community_id)


def test_the_summary_names_the_rules_and_system_accounts() -> None:
    community = fresh_community()
    summary = community.summary()
    assert summary["id"] == community.id and summary["name"] == "Elm Street"
    assert summary["rules"] == CommunityRules().as_dict()
    assert summary["issuance_account"] == issuance_account_id(community.id)
    assert summary["pool_account"] == pool_account_id(community.id)
