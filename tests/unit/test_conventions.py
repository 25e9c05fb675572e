"""Residents' conventions and pledges as pure domain: adoption, versions, renewal.

These tests pin the adoption quorum at its exact boundaries, that adopting a
new version supersedes the old one in the same step, that pledges to a
superseded version fall due for renewal rather than carrying over, the
channel rules of a pledge, every refusal's ``rule`` and ``field`` (with no
event added), and the names of the permanent events and their fields.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application

from domain.accounts import Account, AccountKind
from domain.conventions import (
    AdoptionVote,
    Convention,
    ConventionStatus,
    Pledge,
    PledgeStatus,
    adopt_new_version,
    pledge_id_for,
    pledge_status,
    renew_pledge,
)
from domain.errors import (
    AccountErased,
    CrossCommunity,
    DomainError,
    InvalidTransition,
    WrongAccountKind,
)

from .refusals import refused

COMMUNITY = uuid4()
NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
STAFF = f"staff:{uuid4()}"
TEXT = "Sort kitchen waste into the green bin. Quiet hours 22:00-07:00."


def vote(eligible: int = 100, present: int = 60, votes_for: int = 40,
         votes_against: int = 10, abstaining: int = 5,
         meeting_date: str = "2026-03-01") -> AdoptionVote:
    """A meeting's vote; the defaults adopt."""
    return AdoptionVote(meeting_date=meeting_date, eligible=eligible, present=present,
                        votes_for=votes_for, votes_against=votes_against,
                        abstaining=abstaining)


def draft(**changes: Any) -> Convention:
    """A saved draft of version 1."""
    values: dict[str, Any] = {"convention_id": uuid4(), "community_id": COMMUNITY,
                              "scope": "building", "scope_ref": "Building 7",
                              "title": "Building 7 residents' convention", "text": TEXT,
                              "effective_date": "2026-03-15", "actor": STAFF}
    values.update(changes)
    convention = Convention.draft(**values)
    convention.collect_events()
    return convention


def adopted(**changes: Any) -> Convention:
    """A saved, adopted version 1."""
    convention = draft(**changes)
    convention.adopt(vote(), actor=STAFF, now=NOW)
    convention.collect_events()
    return convention


def next_version(old: Convention, text: str = TEXT + " Dogs on a lead.") -> Convention:
    """A saved draft of the version after ``old``."""
    new = old.draft_next_version(convention_id=uuid4(), title=old.title, text=text,
                                 effective_date="2026-04-01", actor=STAFF)
    new.collect_events()
    return new


def member(community: UUID = COMMUNITY, kind: AccountKind = AccountKind.MEMBER) -> Account:
    """A saved account."""
    account = Account.open(account_id=uuid4(), community_id=community, kind=kind)
    account.collect_events()
    return account


def pledge(convention: Convention, who: Account, channel: str = "online",
           actor: str | None = None, form: str | None = None) -> Pledge:
    """A saved pledge."""
    made = Pledge.make(member=who, convention=convention, channel=channel,
                       actor=actor or f"member:{uuid4()}", now=NOW, paper_form_number=form)
    made.collect_events()
    return made


def names(aggregate: Any) -> list[str]:
    """The names of the events an aggregate has pending."""
    return [type(e).__name__ for e in aggregate.collect_events()]


# -- drafting ------------------------------------------------------------------------


def test_the_text_hash_is_computed_from_the_utf8_text_not_taken_from_the_caller() -> None:
    convention = draft(text="垃圾分类，从我做起。")
    assert convention.text_sha256 == hashlib.sha256("垃圾分类，从我做起。".encode()).hexdigest()
    assert (convention.version_number, convention.previous_version_id) == (1, None)
    assert convention.lineage_id == convention.id
    assert convention.status is ConventionStatus.DRAFT


@pytest.mark.parametrize(("changes", "field", "rule"), [
    ({"scope": "street"}, "scope", "convention_scope"),
    ({"scope": "community", "scope_ref": "Building 7"}, "scope_ref", "scope_ref"),
    ({"scope": "village", "scope_ref": " "}, "scope_ref", "text_required"),
    ({"title": ""}, "title", "text_required"),
    ({"text": "x" * 20_001}, "text", "text_too_long"),
    ({"effective_date": "20260315"}, "effective_date", "iso_date"),
    ({"effective_date": "2026-02-30"}, "effective_date", "iso_date"),
])
def test_a_malformed_draft_is_refused_with_its_rule(changes: dict[str, Any], field: str,
                                                    rule: str) -> None:
    with pytest.raises(DomainError) as caught:
        draft(**changes)
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_a_community_wide_convention_has_an_empty_scope_ref() -> None:
    assert draft(scope="community", scope_ref="").scope_ref == ""


# -- adoption -------------------------------------------------------------------------


@pytest.mark.parametrize(("eligible", "present", "votes_for", "adopts"), [
    (100, 50, 50, False),   # exactly half present is not more than half
    (100, 51, 26, True),    # 51 present; 26 > 25.5
    (100, 51, 25, False),   # 25 of 51 is not more than half
    (99, 50, 26, True),     # 50 > 49.5
    (99, 49, 49, False),
    (100, 52, 26, False),   # 26 of 52 is exactly half: not enough
    (100, 52, 27, True),
    (1, 1, 1, True),
    (2, 1, 1, False),
])
def test_adoption_needs_more_than_half_present_and_more_than_half_of_them_in_favour(
        eligible: int, present: int, votes_for: int, adopts: bool) -> None:
    convention = draft()
    ballot = vote(eligible=eligible, present=present, votes_for=votes_for, votes_against=0,
                  abstaining=0)
    if adopts:
        convention.adopt(ballot, actor=STAFF, now=NOW)
        assert convention.status is ConventionStatus.ADOPTED
        assert convention.adoption == {"meeting_date": "2026-03-01", "eligible": eligible,
                                       "present": present, "votes_for": votes_for,
                                       "votes_against": 0, "abstaining": 0}
        assert names(convention) == ["Adopted"]
        return
    error = refused(DomainError, lambda: convention.adopt(ballot, actor=STAFF, now=NOW),
                    convention)
    assert error.rule in {"quorum_not_met", "majority_not_reached"}
    assert error.field == ("present" if 2 * present <= eligible else "votes_for")
    assert convention.status is ConventionStatus.DRAFT


@pytest.mark.parametrize(("ballot", "field", "rule"), [
    (vote(votes_for=40, votes_against=15, abstaining=6), "votes_for", "votes_above_present"),
    (vote(eligible=50, present=51), "present", "present_above_eligible"),
    (vote(abstaining=-1), "abstaining", "vote_count"),
    (vote(present=True), "present", "vote_count"),  # type: ignore[arg-type]
    (vote(votes_for=40.0), "votes_for", "vote_count"),  # type: ignore[arg-type]
    (vote(eligible=0, present=0, votes_for=0, votes_against=0, abstaining=0), "present",
     "quorum_not_met"),
    (vote(meeting_date="2026-03-11"), "meeting_date", "meeting_in_future"),
    (vote(meeting_date="1 March 2026"), "meeting_date", "iso_date"),
    (vote(meeting_date="2026-03-16"), "meeting_date", "meeting_in_future"),
])
def test_an_inconsistent_vote_is_refused_with_its_rule(ballot: AdoptionVote, field: str,
                                                      rule: str) -> None:
    convention = draft()
    error = refused(DomainError, lambda: convention.adopt(ballot, actor=STAFF, now=NOW),
                    convention)
    assert (error.field, error.rule) == (field, rule)


def test_votes_may_add_up_to_exactly_those_present() -> None:
    convention = draft()
    convention.adopt(vote(present=60, votes_for=40, votes_against=15, abstaining=5),
                     actor=STAFF, now=NOW)
    assert convention.status is ConventionStatus.ADOPTED


def test_a_convention_cannot_take_effect_before_the_meeting_that_adopts_it() -> None:
    convention = draft(effective_date="2026-02-28")
    error = refused(DomainError, lambda: convention.adopt(vote(), actor=STAFF, now=NOW),
                    convention)
    assert (error.field, error.rule) == ("effective_date", "effective_before_meeting")


def test_only_a_draft_is_adopted() -> None:
    convention = adopted()
    refused(InvalidTransition, lambda: convention.adopt(vote(), actor=STAFF, now=NOW),
            convention)


# -- new versions ---------------------------------------------------------------------


def test_adopting_the_next_version_supersedes_the_old_one_in_the_same_step() -> None:
    old = adopted()
    new = next_version(old)
    assert (new.version_number, new.previous_version_id, new.lineage_id) == (2, old.id, old.id)
    assert (new.scope, new.scope_ref, new.community_id) == (old.scope, old.scope_ref,
                                                            old.community_id)
    returned = adopt_new_version(old, new, vote(), actor=STAFF, now=NOW)
    assert returned == (old, new)
    assert (old.status, new.status) == (ConventionStatus.SUPERSEDED, ConventionStatus.ADOPTED)
    assert (old.superseded_by, old.superseded_on) == (new.id, "2026-04-01")
    assert (names(old), names(new)) == (["Superseded"], ["Adopted"])


def test_a_later_version_is_not_adopted_on_its_own() -> None:
    old = adopted()
    new = next_version(old)
    error = refused(InvalidTransition, lambda: new.adopt(vote(), actor=STAFF, now=NOW),
                    new, old)
    assert error.rule == "adopt_via_new_version"


def test_a_failed_vote_on_the_next_version_leaves_both_versions_untouched() -> None:
    old = adopted()
    new = next_version(old)
    error = refused(DomainError, lambda: adopt_new_version(
        old, new, vote(present=50, votes_for=30), actor=STAFF, now=NOW), old, new)
    assert error.rule == "quorum_not_met"
    assert (old.status, new.status) == (ConventionStatus.ADOPTED, ConventionStatus.DRAFT)


def test_of_two_competing_drafts_only_one_can_supersede_the_old_version() -> None:
    old = adopted()
    first, second = next_version(old), next_version(old, text=TEXT + " No barbecues.")
    adopt_new_version(old, first, vote(), actor=STAFF, now=NOW)
    old.collect_events(), first.collect_events()
    refused(InvalidTransition, lambda: adopt_new_version(old, second, vote(), actor=STAFF,
                                                         now=NOW), second)
    third = next_version(first)
    assert third.version_number == 3
    error = refused(DomainError, lambda: adopt_new_version(old, third, vote(), actor=STAFF,
                                                           now=NOW), old, third)
    assert error.rule == "not_the_next_version"


def test_only_an_adopted_version_is_amended_and_never_to_take_effect_earlier() -> None:
    with pytest.raises(InvalidTransition):
        next_version(draft())
    old = adopted()
    with pytest.raises(DomainError) as caught:
        old.draft_next_version(convention_id=uuid4(), title="t", text="x",
                               effective_date="2026-03-14", actor=STAFF)
    assert caught.value.rule == "effective_date_order"


# -- filing and retirement ------------------------------------------------------------


def test_an_adopted_convention_is_filed_once_and_not_before_its_meeting() -> None:
    convention = draft()
    refused(InvalidTransition, lambda: convention.file(
        filed_with="Riverside Street Office", filed_on="2026-03-05", reference="RS-2026-17",
        actor=STAFF), convention)
    convention = adopted()
    error = refused(DomainError, lambda: convention.file(
        filed_with="Riverside Street Office", filed_on="2026-02-27", reference="RS-2026-17",
        actor=STAFF), convention)
    assert (error.field, error.rule) == ("filed_on", "filed_before_adoption")
    convention.file(filed_with="Riverside Street Office", filed_on="2026-03-05",
                    reference="RS-2026-17", actor=STAFF)
    assert convention.filing == {"filed_with": "Riverside Street Office",
                                 "filed_on": "2026-03-05", "reference": "RS-2026-17"}
    assert names(convention) == ["Filed"]
    refused(InvalidTransition, lambda: convention.file(
        filed_with="x", filed_on="2026-03-06", reference="y", actor=STAFF), convention)


def test_a_draft_or_an_adopted_convention_may_be_retired_but_not_a_superseded_one() -> None:
    abandoned, ended = draft(), adopted()
    abandoned.retire(reason="withdrawn before the meeting", retired_on="2026-03-01",
                     actor=STAFF)
    ended.retire(reason="building demolished", retired_on="2026-06-01", actor=STAFF)
    assert abandoned.status is ended.status is ConventionStatus.RETIRED
    old = adopted()
    adopt_new_version(old, next_version(old), vote(), actor=STAFF, now=NOW)
    old.collect_events()
    refused(InvalidTransition, lambda: old.retire(reason="x", retired_on="2026-06-01",
                                                  actor=STAFF), old)
    refused(InvalidTransition, lambda: ended.retire(reason="x", retired_on="2026-06-02",
                                                    actor=STAFF))


# -- pledges --------------------------------------------------------------------------


def test_a_member_pledges_one_adopted_version_once_under_a_derived_id() -> None:
    convention, resident = adopted(), member()
    made = pledge(convention, resident)
    assert made.id == pledge_id_for(convention.id, resident.id)
    assert (made.member_account_id, made.convention_id, made.convention_version,
            made.community_id) == (resident.id, convention.id, 1, COMMUNITY)
    assert made.pledged_at == NOW and made.renews is None
    assert pledge_status(made, convention) is PledgeStatus.ACTIVE
    assert pledge_id_for(uuid4(), resident.id) != made.id


def test_a_pledge_is_only_to_an_adopted_convention() -> None:
    with pytest.raises(DomainError) as caught:
        pledge(draft(), member())
    assert (caught.value.field, caught.value.rule) == ("convention_id",
                                                      "convention_not_adopted")


@pytest.mark.parametrize(("who", "error"), [
    (lambda: member(kind=AccountKind.ORGANISATION), WrongAccountKind),
    (lambda: member(community=uuid4()), CrossCommunity),
])
def test_only_a_member_of_the_same_community_pledges(who: Any, error: type[DomainError]) -> None:
    with pytest.raises(error) as caught:
        pledge(adopted(), who())
    assert caught.value.field == "member_account_id"


def test_an_erased_member_cannot_pledge() -> None:
    resident = member()
    resident.erase()
    with pytest.raises(AccountErased):
        pledge(adopted(), resident)


@pytest.mark.parametrize(("channel", "actor", "form", "field", "rule"), [
    ("paper", STAFF, None, "paper_form_number", "text_required"),
    ("paper", STAFF, "  ", "paper_form_number", "text_required"),
    ("paper", "member:1", "F-0042", "actor", "staff_channel"),
    ("service_window", "member:1", None, "actor", "staff_channel"),
    ("online", "member:1", "F-0042", "paper_form_number", "paper_form_only_on_paper"),
    ("service_window", STAFF, "F-0042", "paper_form_number", "paper_form_only_on_paper"),
    ("email", STAFF, None, "channel", "pledge_channel"),
])
def test_channel_rules_of_a_pledge(channel: str, actor: str, form: str | None, field: str,
                                   rule: str) -> None:
    with pytest.raises(DomainError) as caught:
        pledge(adopted(), member(), channel=channel, actor=actor, form=form)
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_a_paper_pledge_keeps_its_form_number_and_staff_record_the_window() -> None:
    convention = adopted()
    paper = pledge(convention, member(), channel="paper", actor=STAFF, form="F-0042")
    window = pledge(convention, member(), channel="service_window", actor="admin:7")
    assert (paper.paper_form_number, paper.actor) == ("F-0042", STAFF)
    assert window.paper_form_number is None


def test_pledges_to_a_superseded_version_fall_due_for_renewal_and_are_not_carried_over() -> None:
    old = adopted()
    resident = member()
    made = pledge(old, resident)
    new = next_version(old)
    adopt_new_version(old, new, vote(), actor=STAFF, now=NOW)
    assert pledge_status(made, old) is PledgeStatus.RENEWAL_DUE
    assert made.convention_id == old.id
    with pytest.raises(DomainError) as caught:
        pledge_status(made, new)
    assert caught.value.rule == "pledge_convention_mismatch"


def test_renewal_is_a_new_pledge_to_the_new_version_and_the_old_one_records_it() -> None:
    old, resident = adopted(), member()
    made = pledge(old, resident)
    new = next_version(old)
    adopt_new_version(old, new, vote(), actor=STAFF, now=NOW)
    before, renewed = renew_pledge(made, old_convention=old, new_convention=new,
                                   member=resident, channel="paper", actor=STAFF,
                                   paper_form_number="F-0101", now=NOW)
    assert before is made
    assert renewed.id == pledge_id_for(new.id, resident.id)
    assert (renewed.convention_id, renewed.convention_version, renewed.renews) == (
        new.id, 2, made.id)
    assert made.renewed_by == renewed.id
    assert names(made) == ["Renewed"] and names(renewed) == ["Made"]
    assert pledge_status(made, old) is PledgeStatus.RENEWED
    assert pledge_status(renewed, new) is PledgeStatus.ACTIVE


def test_a_pledge_not_due_for_renewal_is_not_renewed() -> None:
    old, resident = adopted(), member()
    made = pledge(old, resident)
    new = next_version(old)
    refused(InvalidTransition, lambda: renew_pledge(
        made, old_convention=old, new_convention=new, member=resident, channel="online",
        actor="member:1", now=NOW), made)
    adopt_new_version(old, new, vote(), actor=STAFF, now=NOW)
    other = adopted(title="Another convention")
    error = refused(DomainError, lambda: renew_pledge(
        made, old_convention=old, new_convention=other, member=resident, channel="online",
        actor="member:1", now=NOW), made)
    assert error.rule == "not_a_later_version"
    error = refused(DomainError, lambda: renew_pledge(
        made, old_convention=old, new_convention=new, member=member(), channel="online",
        actor="member:1", now=NOW), made)
    assert error.rule == "pledge_member_mismatch"


def test_a_pledge_to_a_retired_convention_lapses() -> None:
    convention = adopted()
    made = pledge(convention, member())
    convention.retire(reason="merged into the community convention", retired_on="2026-05-01",
                      actor=STAFF)
    assert pledge_status(made, convention) is PledgeStatus.LAPSED


def test_a_withdrawal_gives_a_reason_code_and_is_final() -> None:
    convention = adopted()
    made = pledge(convention, member())
    error = refused(DomainError, lambda: made.withdraw(
        reason="my neighbour's dog barks", actor="member:1", now=NOW), made)
    assert (error.field, error.rule) == ("reason", "withdrawal_reason")
    made.withdraw(reason="moved_away", actor="member:1", now=NOW)
    assert names(made) == ["Withdrawn"]
    assert pledge_status(made, convention) is PledgeStatus.WITHDRAWN
    refused(InvalidTransition, lambda: made.withdraw(reason="other", actor="member:1",
                                                     now=NOW), made)
    refused(InvalidTransition, lambda: made.check_in(date="2026-03-10", kept=True, note="",
                                                     actor="member:1", now=NOW), made)


def test_check_ins_are_self_reports_with_a_short_note_one_per_day() -> None:
    made, later = pledge(adopted(), member()), NOW + dt.timedelta(days=2)
    made.check_in(date="2026-03-10", kept=True, note="x" * 280, actor="member:1", now=later)
    assert made.check_ins == {"2026-03-10": {"kept": True, "note": "x" * 280}}
    assert names(made) == ["CheckedIn"]
    for changes, field, rule in [
        ({"date": "2026-03-10"}, "date", "one_check_in_per_day"),
        ({"date": "2026-03-13"}, "date", "check_in_date"),
        ({"date": "2026-03-11", "note": "x" * 281}, "note", "text_too_long"),
        ({"date": "2026-03-11", "kept": "yes"}, "kept", "kept_boolean"),
        ({"date": "10/03/2026"}, "date", "iso_date"),
    ]:
        values: dict[str, Any] = {"kept": False, "note": "", **changes}
        error = refused(DomainError, lambda: made.check_in(**values, actor="member:1",
                                                           now=later), made)
        assert (error.field, error.rule) == (field, rule)
    made.check_in(date="2026-03-12", kept=False, note="", actor="member:1", now=later)
    assert made.check_ins["2026-03-12"] == {"kept": False, "note": ""}


def test_a_check_in_cannot_predate_the_pledge() -> None:
    made = pledge(adopted(), member())
    error = refused(DomainError, lambda: made.check_in(
        date="2026-03-09", kept=True, note="", actor="member:1",
        now=NOW + dt.timedelta(days=1)), made)
    assert error.rule == "check_in_date"


def test_the_domain_never_reads_the_clock_naive_datetimes_are_refused() -> None:
    with pytest.raises(DomainError) as caught:
        Pledge.make(member=member(), convention=adopted(), channel="online", actor="member:1",
                    now=dt.datetime(2026, 3, 10, 9, 0))
    assert caught.value.rule == "aware_datetime"


# -- permanence -------------------------------------------------------------------------


def test_replaying_the_events_rebuilds_the_same_conventions_and_pledges() -> None:
    app: Application[UUID] = Application()
    old = Convention.draft(convention_id=uuid4(), community_id=COMMUNITY, scope="community",
                           scope_ref="", title="Quiet hours", text=TEXT,
                           effective_date="2026-03-15", actor=STAFF)
    old.adopt(vote(), actor=STAFF, now=NOW)
    old.file(filed_with="Street Office", filed_on="2026-03-05", reference="R-1", actor=STAFF)
    resident = member()
    made = Pledge.make(member=resident, convention=old, channel="paper", actor=STAFF,
                       paper_form_number="F-1", now=NOW)
    made.check_in(date="2026-03-10", kept=False, note="forgot once", actor="member:1", now=NOW)
    new = old.draft_next_version(convention_id=uuid4(), title="Quiet hours", text=TEXT + ".",
                                 effective_date="2026-04-01", actor=STAFF)
    adopt_new_version(old, new, vote(), actor=STAFF, now=NOW)
    _, renewed = renew_pledge(made, old_convention=old, new_convention=new, member=resident,
                              channel="online", actor="member:1", now=NOW)
    app.save(old, new, made, renewed)
    for aggregate in (old, new, made, renewed):
        assert vars(app.repository.get(aggregate.id)) == vars(aggregate)


def test_event_names_and_fields_are_pinned() -> None:
    expected = {
        "Drafted": {"community_id", "scope", "scope_ref", "title", "text", "text_sha256",
                    "version_number", "previous_version_id", "lineage_id", "effective_date",
                    "actor"},
        "Adopted": {"meeting_date", "eligible", "present", "votes_for", "votes_against",
                    "abstaining", "actor"},
        "Filed": {"filed_with", "filed_on", "reference", "actor"},
        "Superseded": {"superseded_by", "superseded_on"},
        "Retired": {"reason", "retired_on", "actor"},
        "Made": {"member_account_id", "community_id", "convention_id", "convention_version",
                 "channel", "actor", "paper_form_number", "pledged_at", "renews"},
        "Withdrawn": {"reason", "actor", "withdrawn_at"},
        "CheckedIn": {"date", "kept", "note", "actor", "reported_at"},
        "Renewed": {"new_pledge_id", "renewed_at"},
    }
    library = {"originator_id", "originator_version", "timestamp", "originator_topic"}
    for name, fields in expected.items():
        event_class = getattr(Convention, name, None) or getattr(Pledge, name)
        assert {f.name for f in dataclasses.fields(event_class)} - library == fields, name
