"""Mediation cases and agreements as pure domain (People's Mediation Law art. 17-33).

These tests pin the lifecycle and its invalid transitions, that any party's
refusal before the agreement ends mediation as failed, that the agreement
takes effect only when every party and a mediator have marked it, the 30-day
judicial confirmation window at both boundaries, follow-up per term,
``deadlines_due``, and the names of the permanent events and their fields.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application

from domain.agreements import case_id_for, confirmation_deadline, deadlines_due
from domain.errors import DomainError, InvalidTransition, LedgerError, NotFound
from domain.mediation import CaseStatus, MediationCase

COMMUNITY = uuid4()
A, B, C = uuid4(), uuid4(), uuid4()  # a member, a non-member, another member
MEDIATOR, SECOND = f"mediator:{uuid4()}", f"mediator:{uuid4()}"
STAFF = f"staff:{uuid4()}"
T0 = dt.datetime(2026, 2, 20, 9, 0, tzinfo=dt.UTC)
TEXT = "Party A apologises in writing; party B keeps quiet 22:00-07:00."
TERMS: list[dict[str, Any]] = [
    {"term_id": "T1", "obligor": A, "beneficiary": B, "description": "Apologise in writing",
     "method": "a letter", "place": "", "deadline": "2026-03-05"},
    {"term_id": "T2", "obligor": str(B), "beneficiary": str(A), "description": "No loud music",
     "method": "keep volume low", "recurrence": {"kind": "daily", "from": "22:00",
                                                  "to": "07:00"}},
    {"term_id": "T3", "obligor": A, "beneficiary": B, "description": "Community service",
     "method": "litter picking", "place": "Riverside park", "deadline": "2026-03-20",
     "community_service_minutes": 120},
]


def parties(*extra: UUID) -> list[dict[str, Any]]:
    """A member party A, a non-member party B, and any extra member parties."""
    return [{"party_id": A, "kind": "member"},
            {"party_id": B, "kind": "non_member", "ciphertext_ref": "personal/v1/9f2c"},
            *({"party_id": p, "kind": "member"} for p in extra)]


def registered(**changes: Any) -> MediationCase:
    """A saved, registered case."""
    values: dict[str, Any] = {
        "community_id": COMMUNITY, "case_number": "MED-2026-0001",
        "committee": "Riverside People's Mediation Committee", "mediators": [MEDIATOR, SECOND],
        "parties": parties(), "dispute_type": "neighbour_noise",
        "facts": "Music after midnight", "disputed_matters": "Quiet hours",
        "hearing": "private", "actor": STAFF, "at": T0}
    values.update(changes)
    case = MediationCase.register(**values)
    case.collect_events()
    return case


def mediating(**changes: Any) -> MediationCase:
    """A saved case in mediation."""
    case = registered(**changes)
    case.accept(actor=STAFF, at=T0)
    case.begin(actor=MEDIATOR, at=T0)
    case.collect_events()
    return case


def drafted(terms: list[dict[str, Any]] | None = None, **changes: Any) -> MediationCase:
    """A saved case with a drafted, unsigned written agreement."""
    case = mediating(**changes)
    case.draft_agreement(terms=terms or TERMS, form="written", text=TEXT, actor=MEDIATOR,
                         at=T0)
    case.collect_events()
    return case


def at(day: str, hour: int = 10, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    """``day`` at ``hour`` o'clock in ``tz``."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=tz)


def effective(on: str = "2026-03-01") -> MediationCase:
    """A saved case whose agreement took effect ``on``."""
    case = drafted()
    for party in (A, B):
        case.sign(party_id=party, mark="signature", recorded_by=MEDIATOR, at=at(on))
    case.sign_as_mediator(mediator=MEDIATOR, at=at(on))
    case.collect_events()
    return case


def refused(error: type[LedgerError], call: Any, case: MediationCase) -> LedgerError:
    """``call()`` raises ``error`` and adds no event to ``case``."""
    version, status = case.version, case.status
    with pytest.raises(error) as caught:
        call()
    assert (case.version, case.status, case.collect_events()) == (version, status, [])
    return caught.value


def names(case: MediationCase) -> list[str]:
    """The names of the events the case has pending."""
    return [type(e).__name__ for e in case.collect_events()]


# -- registration ---------------------------------------------------------------------


@pytest.mark.parametrize("number", ["MED-2026-0001", "MED-2026-123456"])
def test_a_case_number_names_exactly_one_case(number: str) -> None:
    case = registered(case_number=number)
    assert case.id == case_id_for(COMMUNITY, number)
    assert case_id_for(uuid4(), number) != case.id
    assert case.status is CaseStatus.REGISTERED


@pytest.mark.parametrize("number", ["MED-26-0001", "med-2026-0001", "MED-2026-01",
                                    "MED-2026-0001 ", "MED-2026-1234567", "2026-0001", 1])
def test_a_malformed_case_number_is_refused(number: Any) -> None:
    with pytest.raises(DomainError) as caught:
        registered(case_number=number)
    assert (caught.value.field, caught.value.rule) == ("case_number", "case_number_format")


@pytest.mark.parametrize(("changes", "field", "rule"), [
    ({"parties": parties()[:1]}, "parties", "two_parties"),
    ({"parties": [*parties(), {"party_id": A, "kind": "member"}]}, "parties", "party_unique"),
    ({"parties": [{"party_id": A, "kind": "member", "ciphertext_ref": "x"}, parties()[1]]},
     "ciphertext_ref", "member_party_no_ciphertext"),
    ({"parties": [parties()[0], {"party_id": B, "kind": "non_member"}]}, "ciphertext_ref",
     "text_required"),
    ({"parties": [parties()[0], {"party_id": str(B), "kind": "member"}]}, "parties",
     "party_shape"),
    ({"parties": [parties()[0], {"party_id": B, "kind": "member", "name": "Li Lei"}]},
     "parties", "party_shape"),
    ({"parties": [parties()[0], {"party_id": B, "kind": "tenant"}]}, "parties", "party_shape"),
    ({"mediators": []}, "mediators", "mediators_required"),
    ({"mediators": [MEDIATOR, MEDIATOR]}, "mediators", "mediators_required"),
    ({"dispute_type": "noise"}, "dispute_type", "dispute_type"),
    ({"hearing": "secret"}, "hearing", "hearing"),
    ({"facts": " "}, "facts", "text_required"),
    ({"committee": ""}, "committee", "text_required"),
    ({"at": dt.datetime(2026, 2, 20, 9, 0)}, "at", "aware_datetime"),
])
def test_a_malformed_registration_is_refused_with_its_rule(changes: dict[str, Any],
                                                           field: str, rule: str) -> None:
    with pytest.raises(DomainError) as caught:
        registered(**changes)
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_parties_are_recorded_as_pseudonymous_ids_and_a_ciphertext_reference() -> None:
    case = MediationCase.register(
        community_id=COMMUNITY, case_number="MED-2026-0002", committee="RPMC",
        mediators=[MEDIATOR], parties=parties(), dispute_type="family", facts="f",
        disputed_matters="d", hearing="public", actor=STAFF, at=T0)
    [event] = case.collect_events()
    assert event.parties == [  # type: ignore[attr-defined]
        {"party_id": str(A), "kind": "member", "ciphertext_ref": None},
        {"party_id": str(B), "kind": "non_member", "ciphertext_ref": "personal/v1/9f2c"}]


# -- lifecycle --------------------------------------------------------------------------


def test_a_case_runs_from_registration_through_an_agreement_to_closure() -> None:
    case = registered()
    case.accept(actor=STAFF, at=T0)
    case.begin(actor=MEDIATOR, at=T0)
    case.invite(participant_id=C, consent=True, actor=MEDIATOR)
    case.draft_agreement(terms=TERMS, form="oral", text=TEXT, actor=MEDIATOR, at=T0)
    case.sign(party_id=A, mark="fingerprint", recorded_by=SECOND, at=at("2026-02-21"))
    case.sign(party_id=B, mark="seal", recorded_by=MEDIATOR, at=at("2026-02-21"))
    case.sign_as_mediator(mediator=SECOND, at=at("2026-02-22"))
    case.close(reason="all terms fulfilled", actor=MEDIATOR, at=at("2026-04-01"))
    assert names(case) == ["Accepted", "MediationStarted", "ParticipantInvited",
                           "AgreementDrafted", "PartySigned", "PartySigned", "MediatorSigned",
                           "AgreementReached", "Closed"]
    assert (case.status, case.outcome, case.close_reason) == (
        CaseStatus.CLOSED, CaseStatus.AGREEMENT_REACHED, "all terms fulfilled")
    assert case.participants == [str(C)]


@pytest.mark.parametrize(("setup", "command"), [
    (registered, lambda c: c.begin(actor=MEDIATOR, at=T0)),
    (registered, lambda c: c.fail(reason="no", actor=MEDIATOR, at=T0)),
    (registered, lambda c: c.close(reason="x", actor=STAFF, at=T0)),
    (registered, lambda c: c.invite(participant_id=C, consent=True, actor=MEDIATOR)),
    (registered, lambda c: c.draft_agreement(terms=TERMS, form="written", text=TEXT,
                                             actor=MEDIATOR, at=T0)),
    (mediating, lambda c: c.accept(actor=STAFF, at=T0)),
    (mediating, lambda c: c.close(reason="x", actor=STAFF, at=T0)),
    (mediating, lambda c: c.apply_for_confirmation(applicants=[A, B], court="c", at=T0)),
    (mediating, lambda c: c.record_visit(visited_on="2026-03-01", notes="n", actor=MEDIATOR)),
    (effective, lambda c: c.fail(reason="x", actor=MEDIATOR, at=T0)),
    (effective, lambda c: c.withdraw(party_id=A, actor=STAFF, at=T0)),
    (effective, lambda c: c.draft_agreement(terms=TERMS, form="written", text=TEXT,
                                            actor=MEDIATOR, at=T0)),
    (effective, lambda c: c.sign(party_id=A, mark="seal", recorded_by=MEDIATOR, at=T0)),
])
def test_a_step_out_of_order_is_an_invalid_transition(setup: Any, command: Any) -> None:
    case = setup()
    error = refused(InvalidTransition, lambda: command(case), case)
    assert (error.rule, error.field) == ("invalid_transition", "status")


def test_nothing_happens_to_a_closed_case() -> None:
    case = mediating()
    case.fail(reason="no common ground", actor=MEDIATOR, at=T0)
    case.close(reason="failed", actor=MEDIATOR, at=T0)
    case.collect_events()
    assert case.outcome is CaseStatus.FAILED
    for command in (lambda: case.close(reason="again", actor=STAFF, at=T0),
                    lambda: case.record_refusal(party_id=A, actor=STAFF, at=T0),
                    lambda: case.accept(actor=STAFF, at=T0)):
        refused(InvalidTransition, command, case)


@pytest.mark.parametrize("stage", ["registered", "accepted", "in_mediation", "drafted",
                                   "partly_signed"])
def test_any_partys_refusal_before_the_agreement_ends_mediation_as_failed(stage: str) -> None:
    case = registered() if stage in ("registered", "accepted") else mediating()
    if stage == "accepted":
        case.accept(actor=STAFF, at=T0)
    if stage in ("drafted", "partly_signed"):
        case = drafted()
    if stage == "partly_signed":
        case.sign(party_id=A, mark="signature", recorded_by=MEDIATOR, at=T0)
        case.sign_as_mediator(mediator=MEDIATOR, at=T0)
    case.collect_events()
    case.record_refusal(party_id=B, actor=MEDIATOR, at=T0)
    assert (case.status, case.refused_by, names(case)) == (CaseStatus.FAILED, str(B),
                                                           ["PartyRefused"])
    refused(InvalidTransition, lambda: case.sign(party_id=B, mark="seal",
                                                 recorded_by=MEDIATOR, at=T0), case)


def test_a_refusal_after_the_agreement_is_reached_changes_nothing() -> None:
    case = effective()
    refused(InvalidTransition, lambda: case.record_refusal(party_id=B, actor=MEDIATOR,
                                                           at=T0), case)


def test_only_a_party_can_refuse_or_withdraw() -> None:
    case = mediating()
    for command in (lambda: case.record_refusal(party_id=C, actor=MEDIATOR, at=T0),
                    lambda: case.withdraw(party_id=C, actor=STAFF, at=T0)):
        error = refused(DomainError, command, case)
        assert (error.field, error.rule) == ("party_id", "not_a_party")


def test_a_party_may_withdraw_the_application_before_any_agreement() -> None:
    case = registered()
    case.withdraw(party_id=A, actor=STAFF, at=T0)
    assert (case.status, names(case)) == (CaseStatus.WITHDRAWN, ["Withdrawn"])
    case.close(reason="withdrawn by the applicant", actor=STAFF, at=T0)
    assert case.outcome is CaseStatus.WITHDRAWN


def test_a_participant_is_invited_only_with_consent_and_only_once() -> None:
    case = mediating()
    error = refused(DomainError, lambda: case.invite(participant_id=C, consent=False,
                                                     actor=MEDIATOR), case)
    assert (error.field, error.rule) == ("consent", "participant_consent_required")
    refused(DomainError, lambda: case.invite(participant_id=A, consent=True, actor=MEDIATOR),
            case)
    case.invite(participant_id=C, consent=True, actor=MEDIATOR)
    case.collect_events()
    error = refused(DomainError, lambda: case.invite(participant_id=C, consent=True,
                                                     actor=MEDIATOR), case)
    assert error.rule == "participant_unique"


# -- the agreement ----------------------------------------------------------------------


def test_a_drafted_agreement_keeps_canonical_terms_and_the_hash_of_its_text() -> None:
    case = drafted()
    assert case.agreement is not None
    assert case.agreement["text_sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()
    assert case.agreement["form"] == "written"
    assert case.terms["T1"] == {
        "term_id": "T1", "obligor": str(A), "beneficiary": str(B),
        "description": "Apologise in writing", "method": "a letter", "place": "",
        "deadline": "2026-03-05", "recurrence": None, "community_service_minutes": None}
    assert case.terms["T2"]["recurrence"] == {"kind": "daily", "from": "22:00", "to": "07:00"}
    assert case.terms["T3"]["community_service_minutes"] == 120
    assert case.status is CaseStatus.IN_MEDIATION


def term(**changes: Any) -> list[dict[str, Any]]:
    """One valid term changed by ``changes`` (a value of ... removes the key)."""
    values = {**TERMS[0], **changes}
    return [{k: v for k, v in values.items() if v is not ...}]


@pytest.mark.parametrize(("terms", "field", "rule"), [
    ([], "terms", "terms_required"),
    ([*term(), *term()], "term_id", "term_id_unique"),
    (term(term_id="T 1"), "term_id", "term_id"),
    (term(obligor=C), "obligor", "term_party"),
    (term(beneficiary=A), "beneficiary", "term_parties_distinct"),
    (term(deadline=...), "deadline", "deadline_or_recurrence"),
    (term(recurrence={"kind": "daily", "from": "22:00", "to": "07:00"}), "deadline",
     "deadline_or_recurrence"),
    (term(deadline="2026-02-19"), "deadline", "deadline_in_past"),
    (term(deadline="5 March"), "deadline", "iso_date"),
    (term(description=""), "description", "text_required"),
    (term(method=...), "method", "text_required"),
    (term(community_service_minutes=0), "community_service_minutes",
     "minutes_positive_integer"),
    (term(community_service_minutes=1.5), "community_service_minutes",
     "minutes_positive_integer"),
    (term(community_service_minutes=True), "community_service_minutes",
     "minutes_positive_integer"),
    (term(complaint="the neighbour is rude"), "terms", "term_fields"),
    (term(deadline=..., recurrence={"kind": "hourly", "from": "22:00", "to": "07:00"}),
     "recurrence", "recurrence"),
    (term(deadline=..., recurrence={"kind": "daily", "from": "22:00", "to": "22:00"}),
     "recurrence", "recurrence"),
    (term(deadline=..., recurrence={"kind": "daily", "from": "24:00", "to": "07:00"}),
     "recurrence", "recurrence"),
    (term(deadline=..., recurrence={"kind": "weekly", "from": "08:00", "to": "12:00"}),
     "recurrence", "recurrence"),
    (term(deadline=..., recurrence={"kind": "daily", "from": "08:00", "to": "12:00",
                                    "days": ["sat"]}), "recurrence", "recurrence"),
])
def test_a_malformed_term_is_refused_with_its_rule(terms: list[dict[str, Any]], field: str,
                                                  rule: str) -> None:
    case = mediating()
    error = refused(DomainError, lambda: case.draft_agreement(
        terms=terms, form="written", text=TEXT, actor=MEDIATOR, at=T0), case)
    assert (error.field, error.rule) == (field, rule)


def test_a_weekly_recurrence_names_its_days_and_may_end() -> None:
    case = mediating()
    case.draft_agreement(terms=term(deadline=..., recurrence={
        "kind": "weekly", "days": ["sat", "sun"], "from": "08:00", "to": "12:00",
        "until": "2026-12-31"}), form="written", text=TEXT, actor=MEDIATOR, at=T0)
    assert case.terms["T1"]["recurrence"] == {"kind": "weekly", "from": "08:00",
                                              "to": "12:00", "days": ["sat", "sun"],
                                              "until": "2026-12-31"}


def test_only_a_mediator_of_the_case_drafts_and_in_a_known_form() -> None:
    case = mediating()
    error = refused(DomainError, lambda: case.draft_agreement(
        terms=TERMS, form="written", text=TEXT, actor=STAFF, at=T0), case)
    assert (error.field, error.rule) == ("actor", "not_a_mediator")
    error = refused(DomainError, lambda: case.draft_agreement(
        terms=TERMS, form="video", text=TEXT, actor=MEDIATOR, at=T0), case)
    assert (error.field, error.rule) == ("form", "agreement_form")


@pytest.mark.parametrize("missing", ["A", "B", "mediator"])
def test_the_agreement_takes_effect_only_when_every_party_and_a_mediator_have_signed(
        missing: str) -> None:
    case = drafted()
    for who in ("A", "B", "mediator"):
        if who == missing:
            continue
        if who == "mediator":
            case.sign_as_mediator(mediator=SECOND, at=at("2026-02-25"))
        else:
            case.sign(party_id=A if who == "A" else B, mark="signature",
                      recorded_by=MEDIATOR, at=at("2026-02-25"))
    assert case.status is CaseStatus.IN_MEDIATION and case.effective_on is None
    assert "AgreementReached" not in names(case)
    if missing == "mediator":
        case.sign_as_mediator(mediator=MEDIATOR, at=at("2026-03-01"))
    else:
        case.sign(party_id=A if missing == "A" else B, mark="seal", recorded_by=SECOND,
                  at=at("2026-03-01"))
    assert names(case)[-1] == "AgreementReached"
    assert (case.status, case.effective_on, case.confirmation_deadline) == (
        CaseStatus.AGREEMENT_REACHED, "2026-03-01", "2026-03-31")


def test_with_three_parties_two_signatures_are_not_enough() -> None:
    case = drafted(parties=parties(C))
    for party in (A, B):
        case.sign(party_id=party, mark="signature", recorded_by=MEDIATOR, at=T0)
    case.sign_as_mediator(mediator=MEDIATOR, at=T0)
    assert case.status is CaseStatus.IN_MEDIATION
    case.sign(party_id=C, mark="fingerprint", recorded_by=MEDIATOR, at=T0)
    assert case.status is CaseStatus.AGREEMENT_REACHED


def test_the_effective_date_is_the_local_date_of_the_last_signature() -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    case = drafted()
    case.sign(party_id=A, mark="signature", recorded_by=MEDIATOR, at=at("2026-03-02", 1, beijing))
    case.sign(party_id=B, mark="signature", recorded_by=MEDIATOR, at=at("2026-02-27"))
    case.sign_as_mediator(mediator=MEDIATOR, at=at("2026-02-28"))
    assert case.party_marks[str(A)]["signed_at"] == dt.datetime(2026, 3, 1, 17, tzinfo=dt.UTC)
    assert (case.effective_on, case.confirmation_deadline) == ("2026-03-02", "2026-04-01")


def test_signatures_are_checked_and_recorded_once_by_a_mediator() -> None:
    case = mediating()
    error = refused(DomainError, lambda: case.sign(party_id=A, mark="signature",
                                                   recorded_by=MEDIATOR, at=T0), case)
    assert error.rule == "no_agreement_drafted"
    case = drafted()
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"party_id": C}, "party_id", "not_a_party"),
        ({"mark": "thumbs_up"}, "mark", "signature_mark"),
        ({"recorded_by": STAFF}, "recorded_by", "not_a_mediator"),
        ({"at": T0 - dt.timedelta(minutes=1)}, "at", "signed_before_drafted"),
    ]
    for kwargs, field, rule in cases:
        values: dict[str, Any] = {"party_id": A, "mark": "signature", "recorded_by": MEDIATOR,
                                  "at": T0, **kwargs}
        error = refused(DomainError, lambda: case.sign(**values), case)
        assert (error.field, error.rule) == (field, rule)
    case.sign(party_id=A, mark="signature", recorded_by=MEDIATOR, at=T0)
    case.sign_as_mediator(mediator=MEDIATOR, at=T0)
    case.collect_events()
    error = refused(DomainError, lambda: case.sign(party_id=A, mark="seal",
                                                   recorded_by=MEDIATOR, at=T0), case)
    assert error.rule == "already_signed"
    error = refused(DomainError, lambda: case.sign_as_mediator(mediator=SECOND, at=T0), case)
    assert (error.field, error.rule) == ("mediator", "already_signed")
    other = drafted()
    error = refused(DomainError, lambda: other.sign_as_mediator(mediator=STAFF, at=T0), other)
    assert (error.field, error.rule) == ("mediator", "not_a_mediator")


def test_a_new_draft_voids_the_marks_on_the_old_one() -> None:
    case = drafted()
    case.sign(party_id=A, mark="signature", recorded_by=MEDIATOR, at=T0)
    case.sign_as_mediator(mediator=MEDIATOR, at=T0)
    case.draft_agreement(terms=TERMS, form="written", text=TEXT + " Revised.", actor=MEDIATOR,
                         at=T0)
    case.sign(party_id=B, mark="signature", recorded_by=MEDIATOR, at=T0)
    assert case.status is CaseStatus.IN_MEDIATION
    assert set(case.party_marks) == {str(B)} and case.mediator_mark is None
    signed = [e for e in case.collect_events() if type(e).__name__ == "PartySigned"]
    assert signed[-1].text_sha256 == hashlib.sha256(  # type: ignore[attr-defined]
        (TEXT + " Revised.").encode()).hexdigest()


# -- judicial confirmation (art. 33) ----------------------------------------------------


def test_the_confirmation_window_is_thirty_days_after_the_effective_date() -> None:
    assert confirmation_deadline("2026-03-01") == "2026-03-31"
    assert confirmation_deadline("2026-12-15") == "2027-01-14"
    assert confirmation_deadline("2028-02-01") == "2028-03-02"


@pytest.mark.parametrize(("applied", "accepted"), [
    (at("2026-03-01"), True), (at("2026-03-31", 23), True), (at("2026-04-01", 0), False),
    (at("2026-04-01", 7, dt.timezone(dt.timedelta(hours=8))), False),
    (at("2026-03-31", 23, dt.timezone(dt.timedelta(hours=-5))), True),
])
def test_a_joint_application_is_accepted_up_to_the_last_day_of_the_window(
        applied: dt.datetime, accepted: bool) -> None:
    case = effective("2026-03-01")
    apply = lambda: case.apply_for_confirmation(  # noqa: E731
        applicants=[B, A], court="Riverside District People's Court", at=applied)
    if not accepted:
        error = refused(DomainError, apply, case)
        assert (error.field, error.rule) == ("at", "confirmation_window_closed")
        return
    apply()
    assert names(case) == ["ConfirmationApplied"]
    assert case.confirmation == {"court": "Riverside District People's Court",
                                 "applied_on": applied.date().isoformat(),
                                 "confirmed": None, "decided_on": None, "reference": None}


def test_confirmation_is_applied_for_jointly_and_once() -> None:
    case = effective()
    error = refused(DomainError, lambda: case.apply_for_confirmation(
        applicants=[A], court="c", at=at("2026-03-02")), case)
    assert (error.field, error.rule) == ("applicants", "joint_application")
    error = refused(DomainError, lambda: case.apply_for_confirmation(
        applicants=[A, B], court="c", at=at("2026-02-28")), case)
    assert error.rule == "confirmation_before_effective"
    case.apply_for_confirmation(applicants=[A, B], court="c", at=at("2026-03-02"))
    case.collect_events()
    refused(InvalidTransition, lambda: case.apply_for_confirmation(
        applicants=[A, B], court="c", at=at("2026-03-03")), case)


def test_the_courts_decision_follows_an_application_and_must_come_before_closing() -> None:
    case = effective()
    decide = lambda **kw: case.confirmation_decided(  # noqa: E731
        **{"confirmed": True, "decided_on": "2026-03-20", "reference": "(2026)R0101MinTe1",
           "actor": STAFF, **kw})
    refused(InvalidTransition, decide, case)
    case.apply_for_confirmation(applicants=[A, B], court="c", at=at("2026-03-10"))
    case.collect_events()
    error = refused(DomainError, lambda: case.close(reason="done", actor=STAFF, at=T0), case)
    assert error.rule == "confirmation_pending"
    assert refused(DomainError, lambda: decide(decided_on="2026-03-09"),
                   case).rule == "decided_before_applied"
    assert refused(DomainError, lambda: decide(confirmed="yes"),
                   case).rule == "confirmed_boolean"
    decide(confirmed=False)
    assert names(case) == ["ConfirmationDecided"]
    assert case.confirmation is not None and case.confirmation["confirmed"] is False
    refused(InvalidTransition, decide, case)
    case.close(reason="confirmation refused; parties advised", actor=STAFF, at=T0)


# -- follow-up (art. 31) ----------------------------------------------------------------


def test_visits_and_breaches_are_logged_per_term() -> None:
    case = effective()
    case.record_visit(visited_on="2026-03-03", notes="quiet reported", actor=MEDIATOR,
                      term_id="T2")
    case.record_visit(visited_on="2026-03-04", notes="general check", actor=MEDIATOR)
    case.record_breach(term_id="T2", breached_on="2026-03-06", description="music at 23:30",
                       actor=MEDIATOR)
    assert names(case) == ["FollowedUp", "FollowedUp", "TermBreached"]
    assert case.visits == [
        {"visited_on": "2026-03-03", "notes": "quiet reported", "term_id": "T2"},
        {"visited_on": "2026-03-04", "notes": "general check", "term_id": None}]
    assert case.breaches == [{"term_id": "T2", "breached_on": "2026-03-06",
                              "description": "music at 23:30"}]
    error = refused(NotFound, lambda: case.record_breach(
        term_id="T9", breached_on="2026-03-06", description="d", actor=MEDIATOR), case)
    assert error.field == "term_id"
    error = refused(DomainError, lambda: case.record_visit(
        visited_on="2026-02-28", notes="n", actor=MEDIATOR), case)
    assert (error.field, error.rule) == ("visited_on", "before_effective")


def test_a_community_service_term_is_fulfilled_by_a_linked_service_credit() -> None:
    case = effective()
    credit = uuid4()
    case.term_fulfilled("T3", transfer_id=credit, fulfilled_on="2026-03-15", actor=STAFF)
    assert case.fulfilled["T3"] == {"transfer_id": credit, "fulfilled_on": "2026-03-15"}
    assert names(case) == ["TermFulfilled"]
    refused(InvalidTransition, lambda: case.term_fulfilled(
        "T3", transfer_id=uuid4(), fulfilled_on="2026-03-16", actor=STAFF), case)
    error = refused(DomainError, lambda: case.term_fulfilled(
        "T1", transfer_id=uuid4(), fulfilled_on="2026-03-04", actor=STAFF), case)
    assert (error.field, error.rule) == ("transfer_id", "term_not_community_service")
    case.term_fulfilled("T1", fulfilled_on="2026-03-04", actor=MEDIATOR)
    assert case.fulfilled["T1"]["transfer_id"] is None


# -- deadlines_due ------------------------------------------------------------------------


def test_nothing_is_due_before_the_agreement_or_after_closing() -> None:
    assert deadlines_due(drafted(), dt.date(2026, 3, 4)) == []
    case = effective()
    case.close(reason="archived", actor=STAFF, at=T0)
    assert deadlines_due(case, dt.date(2026, 3, 4)) == []


@pytest.mark.parametrize(("today", "days", "due"), [
    ("2026-03-01", 3, []),                                   # T1 on 03-05 is 4 days away
    ("2026-03-01", 4, [("term:T1", "2026-03-05")]),          # the horizon day is included
    ("2026-02-26", 7, [("term:T1", "2026-03-05")]),
    ("2026-03-05", 0, [("term:T1", "2026-03-05")]),
    ("2026-03-14", 7, [("term:T1", "2026-03-05"), ("term:T3", "2026-03-20")]),  # T1 overdue
    ("2026-03-24", 7, [("term:T1", "2026-03-05"), ("term:T3", "2026-03-20"),
                       ("confirmation_deadline", "2026-03-31")]),
    ("2026-03-31", 0, [("term:T1", "2026-03-05"), ("term:T3", "2026-03-20"),
                       ("confirmation_deadline", "2026-03-31")]),
    ("2026-04-01", 7, [("term:T1", "2026-03-05"), ("term:T3", "2026-03-20")]),  # window shut
])
def test_deadlines_due_lists_open_deadlines_up_to_the_horizon_earliest_first(
        today: str, days: int, due: list[tuple[str, str]]) -> None:
    case = effective("2026-03-01")
    assert deadlines_due(case, dt.date.fromisoformat(today), days) == [
        (what, dt.date.fromisoformat(day)) for what, day in due]


def test_fulfilled_terms_and_an_application_clear_their_deadlines() -> None:
    case = effective("2026-03-01")
    case.term_fulfilled("T1", fulfilled_on="2026-03-04", actor=MEDIATOR)
    case.apply_for_confirmation(applicants=[A, B], court="c", at=at("2026-03-20"))
    assert deadlines_due(case, dt.date(2026, 3, 25), 7) == [("term:T3", dt.date(2026, 3, 20))]
    with pytest.raises(DomainError) as caught:
        deadlines_due(case, dt.date(2026, 3, 25), -1)
    assert caught.value.rule == "days_non_negative"


# -- permanence ---------------------------------------------------------------------------


def test_replaying_the_events_rebuilds_the_same_case() -> None:
    app: Application[UUID] = Application()
    case = MediationCase.register(
        community_id=COMMUNITY, case_number="MED-2026-0042", committee="RPMC",
        mediators=[MEDIATOR], parties=parties(), dispute_type="property_management",
        facts="f", disputed_matters="d", hearing="public", actor=STAFF, at=T0)
    case.accept(actor=STAFF, at=T0)
    case.begin(actor=MEDIATOR, at=T0)
    case.invite(participant_id=C, consent=True, actor=MEDIATOR)
    case.draft_agreement(terms=TERMS, form="written", text=TEXT, actor=MEDIATOR, at=T0)
    for party in (A, B):
        case.sign(party_id=party, mark="seal", recorded_by=MEDIATOR, at=at("2026-03-01"))
    case.sign_as_mediator(mediator=MEDIATOR, at=at("2026-03-01"))
    case.apply_for_confirmation(applicants=[A, B], court="c", at=at("2026-03-02"))
    case.confirmation_decided(confirmed=True, decided_on="2026-03-09", reference="r",
                              actor=STAFF)
    case.record_visit(visited_on="2026-03-03", notes="n", actor=MEDIATOR, term_id="T2")
    case.record_breach(term_id="T2", breached_on="2026-03-04", description="d", actor=STAFF)
    case.term_fulfilled("T3", transfer_id=uuid4(), fulfilled_on="2026-03-05", actor=STAFF)
    case.close(reason="done", actor=STAFF, at=at("2026-04-01"))
    app.save(case)
    assert vars(app.repository.get(case.id)) == vars(case)


def test_event_names_and_fields_are_pinned() -> None:
    expected = {
        "Registered": {"community_id", "case_number", "committee", "mediators", "parties",
                       "dispute_type", "facts", "disputed_matters", "hearing", "actor",
                       "registered_at"},
        "Accepted": {"actor", "accepted_at"},
        "MediationStarted": {"actor", "started_at"},
        "ParticipantInvited": {"participant_id", "consent", "actor"},
        "PartyRefused": {"party_id", "actor", "refused_at"},
        "MediationFailed": {"reason", "actor", "failed_at"},
        "Withdrawn": {"party_id", "actor", "withdrawn_at"},
        "AgreementDrafted": {"terms", "form", "text", "text_sha256", "actor", "drafted_at"},
        "PartySigned": {"party_id", "mark", "recorded_by", "text_sha256", "signed_at",
                        "signed_on"},
        "MediatorSigned": {"mediator", "text_sha256", "signed_at", "signed_on"},
        "AgreementReached": {"effective_on", "confirmation_deadline"},
        "ConfirmationApplied": {"applicants", "court", "applied_at", "applied_on"},
        "ConfirmationDecided": {"confirmed", "decided_on", "reference", "actor"},
        "FollowedUp": {"visited_on", "notes", "term_id", "actor"},
        "TermBreached": {"term_id", "breached_on", "description", "actor"},
        "TermFulfilled": {"term_id", "transfer_id", "fulfilled_on", "actor"},
        "Closed": {"reason", "actor", "closed_at"},
    }
    library = {"originator_id", "originator_version", "timestamp", "originator_topic"}
    for name, fields in expected.items():
        event_class = getattr(MediationCase, name)
        assert {f.name for f in dataclasses.fields(event_class)} - library == fields, name
