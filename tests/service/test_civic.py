"""Civic records through the service layer, on every backend: conventions and pledges,
mediation cases, sealed texts, the community's calendar, and read models that agree
with the domain's own rules and with a rebuild."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.agreements import deadlines_due
from domain.conventions import Convention, Pledge, pledge_status
from domain.errors import DomainError, IdempotencyConflict, InvalidTransition
from domain.mediation import MediationCase
from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.civic import CivicRecords
from ledger.demo import seed_demo
from projections.civic import CIVIC_SPECS
from projections.civic_queries import CivicQueries
from projections.queries import ReadModels

BEIJING = dt.timezone(dt.timedelta(hours=8))
STAFF, MEDIATOR = "staff:t", f"mediator:{uuid4()}"
VOTE = {"meeting_date": "2026-03-01", "eligible": 40, "present": 25, "votes_for": 20,
        "votes_against": 3, "abstaining": 2}
FACTS = "Mr Wang in 4B plays the drums after midnight"
TEXT = "Wang Fang (4B) keeps quiet from 22:00 to 07:00 and apologises to Li Lei (3B)."


class Town:
    """A community, four members, a clock the test moves, the service and queries."""

    def __init__(self, bank: TimeBank, timezone: str = "+08:00") -> None:
        self.now = dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC)  # 10:00 in Beijing
        bank.clock = lambda: self.now
        self.bank = bank
        self.community = bank.register_community("Elm")
        self.ada, self.bo, self.cy, self.di = (
            bank.open_member(self.community["id"]).id for _ in range(4))
        self.civic = CivicRecords(bank, timezone)
        self.queries = CivicQueries(ReadModels(bank))

    def convention(self, **changes: Any) -> dict[str, Any]:
        """An adopted community-wide convention."""
        draft = self.civic.conventions.draft(**{
            "community_id": self.community["id"], "scope": "community", "scope_ref": "",
            "title": "Quiet hours", "text": "Quiet from 22:00 to 07:00.",
            "effective_date": "2026-03-15", "actor": STAFF, **changes})
        return self.civic.conventions.adopt(draft["id"], VOTE, actor=STAFF)

    def next_version(self, old: dict[str, Any]) -> dict[str, Any]:
        """Version N+1 of ``old``, adopted."""
        new = self.civic.conventions.draft_version(
            old["id"], title=old["title"], text=old["text"] + " Dogs on a lead.",
            effective_date="2026-04-01", actor=STAFF)
        return self.civic.conventions.adopt(new["id"], VOTE, actor=STAFF)

    def case(self, number: str = "MED-2026-0001", **changes: Any) -> dict[str, Any]:
        """A registered case between Ada (member) and a non-member neighbour."""
        return self.civic.cases.register(**{
            "community_id": self.community["id"], "case_number": number,
            "committee": "Elm PMC", "mediators": [MEDIATOR],
            "parties": [{"kind": "member", "id": self.ada},
                        {"kind": "non_member", "details": {"display_name": "Wang Fang",
                                                           "phone": "+86 138 0000"}}],
            "dispute_type": "neighbour_noise", "facts": FACTS,
            "disputed_matters": "quiet hours", "hearing": "private", "actor": STAFF,
            **changes})

    def agreed(self, extra_terms: list[dict[str, Any]] | None = None) -> tuple[UUID, UUID]:
        """A case whose agreement every party and the mediator signed; (case, neighbour)."""
        case = self.case()
        cid, neighbour = case["id"], UUID(case["parties"][1]["id"])
        self.civic.cases.accept(cid, actor=STAFF)
        self.civic.cases.begin(cid, actor=MEDIATOR)
        terms = [{"term_id": "quiet", "obligor": neighbour, "beneficiary": self.ada,
                  "description": "No drums at night", "method": "keep it down",
                  "recurrence": {"kind": "daily", "from": "22:00", "to": "07:00"}},
                 {"term_id": "apology", "obligor": neighbour, "beneficiary": self.ada,
                  "description": "Apologise", "method": "a letter", "deadline": "2026-03-14"},
                 *(extra_terms or [])]
        self.civic.cases.draft_agreement(cid, terms=terms, form="written", text=TEXT,
                                         actor=MEDIATOR)
        self.civic.cases.sign(cid, party_id=self.ada, mark="signature", recorded_by=MEDIATOR)
        self.civic.cases.sign(cid, party_id=neighbour, mark="fingerprint",
                              recorded_by=MEDIATOR)
        self.civic.cases.sign_as_mediator(cid, mediator=MEDIATOR)
        return cid, neighbour


@pytest.fixture
def town(bank: TimeBank) -> Iterator[Town]:
    """A small town on each backend."""
    yield Town(bank)


def snapshot(models: ReadModels) -> dict[str, list[dict[str, Any]]]:
    """Every civic read-model row, in a stable order."""
    return {t.name: models.views.query(f"SELECT * FROM {{p}}{t.name} ORDER BY "
                                       f"{', '.join(t.keys)}")
            for _, tables, _ in CIVIC_SPECS for t in tables}


# -- conventions and pledges ------------------------------------------------------------


def test_adopting_a_new_version_supersedes_the_old_one_in_the_same_write(town):
    old = town.convention()
    new = town.next_version(old)
    assert (new["version"], new["previous_version"], new["lineage"]) == (2, old["id"],
                                                                         old["id"])
    assert len(new["log_indexes"]) == 2  # Adopted and Superseded, one atomic save
    read = town.queries.convention(old["id"])
    assert (read["status"], read["superseded_by"]) == ("superseded", str(new["id"]))
    assert [(v["version"], v["status"]) for v in read["versions"]] == [
        (1, "superseded"), (2, "adopted")]
    assert read["text_sha256"] == hashlib.sha256(old["text"].encode()).hexdigest()


def test_drafting_again_returns_the_draft_and_other_wording_is_a_conflict(town):
    fields = {"community_id": town.community["id"], "scope": "building",
              "scope_ref": "Building 7", "title": "Bins", "text": "Sort waste.",
              "effective_date": "2026-04-01", "actor": STAFF, "convention_id": uuid4()}
    first = town.civic.conventions.draft(**fields)
    again = town.civic.conventions.draft(**fields)
    assert (again["created"], again["log_indexes"], again["id"]) == (False, [], first["id"])
    with pytest.raises(IdempotencyConflict) as caught:
        town.civic.conventions.draft(**{**fields, "text": "Sort waste twice."})
    assert caught.value.field == "text"


def test_pledges_are_counted_per_version_and_fall_due_for_renewal_not_carried_over(town):
    old = town.convention()
    ada = town.civic.conventions.pledge(old["id"], town.ada, channel="online",
                                        actor="member:a")
    town.civic.conventions.pledge(old["id"], town.bo, channel="paper", actor=STAFF,
                                  paper_form_number="F-1")
    cy = town.civic.conventions.pledge(old["id"], town.cy, channel="service_window",
                                       actor=STAFF)
    town.civic.conventions.withdraw_pledge(cy["id"], reason="moved_away", actor=STAFF)
    new = town.next_version(old)
    assert town.queries.convention(old["id"])["pledges"] == {
        "active": 0, "renewal_due": 2, "lapsed": 0, "withdrawn": 1, "renewed": 0}
    renewed = town.civic.conventions.renew(ada["id"], channel="online", actor="member:a")
    assert (renewed["convention"], renewed["renews"], renewed["status"]) == (
        new["id"], ada["id"], "active")
    assert town.queries.convention(old["id"])["pledges"]["renewal_due"] == 1
    assert town.queries.convention(new["id"])["pledges"]["active"] == 1
    assert [p["status"] for p in town.queries.pledges(member=town.ada)] == ["renewed",
                                                                            "active"]


def test_the_read_model_status_of_every_pledge_is_the_domains(town):
    old = town.convention()
    pledges = [town.civic.conventions.pledge(old["id"], m, channel="online", actor="m:1")
               for m in (town.ada, town.bo, town.cy, town.di)]
    town.civic.conventions.withdraw_pledge(pledges[1]["id"], reason="other", actor="m:1")
    new = town.next_version(old)
    town.civic.conventions.renew(pledges[2]["id"], channel="online", actor="m:1")
    town.civic.conventions.retire(new["id"], reason="merged", retired_on="2026-05-01",
                                  actor=STAFF)
    for row in town.queries.pledges():
        pledge = town.bank._get(UUID(row["id"]), Pledge, "pledge", "id")
        version = town.bank._get(pledge.convention_id, Convention, "convention", "id")
        assert row["status"] == pledge_status(pledge, version).value


def test_pledging_twice_lands_once_and_renewing_twice_renews_once(town):
    old = town.convention()
    first = town.civic.conventions.pledge(old["id"], town.ada, channel="online", actor="m:1")
    again = town.civic.conventions.pledge(old["id"], town.ada, channel="online", actor="m:2")
    assert (again["id"], again["created"], again["log_indexes"]) == (first["id"], False, [])
    with pytest.raises(IdempotencyConflict):
        town.civic.conventions.pledge(old["id"], town.ada, channel="paper", actor=STAFF,
                                      paper_form_number="F-9")
    town.next_version(old)
    renewed = town.civic.conventions.renew(first["id"], channel="online", actor="m:1")
    twice = town.civic.conventions.renew(first["id"], channel="online", actor="m:1")
    assert (twice["id"], twice["created"]) == (renewed["id"], False)


def test_calendar_days_are_the_communitys_not_utcs(bank):
    town = Town(bank)
    town.now = dt.datetime(2026, 2, 28, 23, 30, tzinfo=dt.UTC)  # 1 March, 07:30 in Beijing
    adopted = town.convention()  # VOTE met on 1 March: today, not tomorrow
    made = town.civic.conventions.pledge(adopted["id"], town.ada, channel="online",
                                         actor="m:1")
    checked = town.civic.conventions.check_in(made["id"], date="2026-03-01", kept=True,
                                              note="", actor="m:1")
    assert checked["check_ins"] == [{"date": "2026-03-01", "kept": True, "note": ""}]
    utc = CivicRecords(bank, "UTC")
    draft = utc.conventions.draft(community_id=town.community["id"], scope="community",
                                  scope_ref="", title="t", text="x",
                                  effective_date="2026-03-15", actor=STAFF)
    with pytest.raises(DomainError) as caught:
        utc.conventions.adopt(draft["id"], VOTE, actor=STAFF)
    assert caught.value.rule == "meeting_in_future"


# -- mediation ------------------------------------------------------------------------------


def test_a_signed_agreement_takes_effect_and_opens_the_thirty_day_window(town):
    cid, _ = town.agreed()
    case = town.civic.cases.case(cid)
    assert (case["status"], case["effective_on"], case["confirmation_deadline"]) == (
        "agreement_reached", "2026-03-10", "2026-04-09")
    assert case["agreement"]["text_sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()
    assert "text" not in case["agreement"] and "facts" not in case
    full = town.civic.cases.case(cid, reveal_text=True, reveal_parties=True)
    assert (full["facts"], full["agreement"]["text"]) == (FACTS, TEXT)
    assert full["parties"][1]["details"] == {"display_name": "Wang Fang",
                                             "phone": "+86 138 0000"}


@pytest.mark.parametrize("today", ["2026-03-05", "2026-03-10", "2026-03-14", "2026-04-02",
                                   "2026-04-09", "2026-04-10"])
def test_deadlines_due_from_the_read_model_equal_the_domains(town, today):
    cid, _ = town.agreed()
    day = dt.date.fromisoformat(today)
    case = town.bank._get(cid, MediationCase, "case", "case")
    expected = [(item, due.isoformat()) for item, due in deadlines_due(case, day, 7)]
    assert [(d["item"], d["due_on"]) for d in town.queries.deadlines(today=day)] == expected


def test_fulfilment_and_an_application_clear_deadlines_and_closing_clears_all(town):
    cid, neighbour = town.agreed()
    town.civic.cases.fulfil(cid, term_id="apology", fulfilled_on="2026-03-12", actor=MEDIATOR)
    assert [d["item"] for d in town.queries.deadlines(today=dt.date(2026, 4, 5))] == [
        "confirmation_deadline"]
    town.civic.cases.apply_for_confirmation(cid, applicants=[town.ada, neighbour],
                                            court="District court")
    assert town.queries.deadlines(today=dt.date(2026, 4, 5)) == []
    town.civic.cases.decide_confirmation(cid, confirmed=True, decided_on="2026-03-20",
                                         reference="(2026)R1", actor=STAFF)
    closed = town.civic.cases.close(cid, reason="all kept", actor=STAFF)
    assert (closed["status"], closed["outcome"]) == ("closed", "agreement_reached")
    assert town.queries.cases()["cases"] == []
    assert town.queries.cases(status="closed")["cases"][0]["outcome"] == "agreement_reached"


def test_a_refusal_ends_mediation_as_failed_and_the_case_lists_by_mediator(town):
    case = town.case()
    town.civic.cases.accept(case["id"], actor=STAFF)
    failed = town.civic.cases.refuse(case["id"], party_id=town.ada, actor=STAFF)
    assert (failed["status"], failed["refused_by"]) == ("failed", str(town.ada))
    listed = town.queries.cases(mediator=MEDIATOR)
    assert listed["counts"] == [{"status": "failed", "mediator": MEDIATOR, "cases": 1}]
    assert town.queries.cases(mediator="mediator:someone-else")["cases"] == []
    assert len(town.queries.cases(party=town.ada)["cases"]) == 1


def test_registering_again_returns_the_case_and_a_different_registration_conflicts(town):
    first = town.case()
    again = town.case()
    assert (again["id"], again["created"], again["log_indexes"]) == (first["id"], False, [])
    with pytest.raises(IdempotencyConflict) as caught:
        town.case(facts="something else")
    assert caught.value.field == "facts"


def test_a_refused_registration_writes_nothing_and_stores_no_details(town):
    head = town.bank.recorder.max_notification_id()
    with pytest.raises(DomainError) as caught:
        town.case(number="MED-26-1")
    assert caught.value.rule == "case_number_format"
    with pytest.raises(DomainError):
        town.case(parties=[{"kind": "member", "id": town.community["pool_account"]},
                           {"kind": "member", "id": town.ada}])
    assert town.bank.recorder.max_notification_id() == head
    rows = town.civic.context.parties._store
    with rows.transaction() as cur:
        cur.execute(f"SELECT COUNT(*) AS n FROM {town.civic.context.parties._table}")
        assert cur.fetchone()["n"] == 0


def test_free_text_and_non_member_details_never_enter_the_log_in_the_clear(town):
    cid, _ = town.agreed()
    town.civic.cases.visit(cid, visited_on="2026-03-11", notes="Wang was polite",
                           actor=MEDIATOR, term_id="quiet")
    town.civic.cases.breach(cid, term_id="quiet", breached_on="2026-03-12",
                            description="Wang drummed at 23:40", actor=MEDIATOR)
    leaves = b"".join(e.data for e in town.bank.audit_log.entries(0, 1000))
    for secret in ("Wang", "midnight", "+86 138", "Li Lei", "polite", "23:40"):
        assert secret.encode() not in leaves
    assert hashlib.sha256(TEXT.encode()).hexdigest().encode() in leaves
    history = town.queries.history(cid, reveal_text=True)
    assert [e["details"].get("notes") for e in history if e["event"] == "FollowedUp"] == [
        "Wang was polite"]
    hidden = town.queries.history(cid, reveal_text=False)
    assert all("notes" not in e["details"] and "facts" not in e["details"] for e in hidden)


def test_erasing_a_non_member_party_leaves_the_case_and_the_log_intact(town):
    cid, neighbour = town.agreed()
    size = town.bank.audit_log.size()
    erased = town.civic.cases.erase_party(cid, neighbour)
    assert erased["parties"][1] == {"id": str(neighbour), "kind": "non_member",
                                    "details": None}
    assert (erased["status"], town.bank.audit_log.size()) == ("agreement_reached", size)
    with pytest.raises(DomainError) as caught:
        town.civic.cases.erase_party(cid, town.ada)
    assert caught.value.rule == "not_a_non_member_party"


def test_a_text_too_long_once_sealed_is_refused_with_its_rule(town):
    case = town.case()
    town.civic.cases.accept(case["id"], actor=STAFF)
    town.civic.cases.begin(case["id"], actor=MEDIATOR)
    reason = "".join(chr(0x4E00 + n) for n in range(1500))  # under 2,000 characters
    with pytest.raises(DomainError) as caught:
        town.civic.cases.fail(case["id"], reason=reason, actor=MEDIATOR)
    assert (caught.value.field, caught.value.rule) == ("reason", "text_too_long")
    assert town.civic.cases.case(case["id"])["status"] == "in_mediation"


def test_a_community_service_term_is_fulfilled_only_by_a_fitting_posted_credit(town):
    service = {"term_id": "service", "obligor": town.ada, "beneficiary": None,
               "description": "Litter picking", "method": "park", "deadline": "2026-03-30",
               "community_service_minutes": 60}
    case = town.case()
    neighbour = UUID(case["parties"][1]["id"])
    cid, _ = town.agreed([{**service, "beneficiary": neighbour}])

    def credit(minutes: int, volunteer: UUID, pending: bool = False) -> UUID:
        return town.bank.record(TransferRequest(
            uuid4(), "service_credit", town.community["issuance_account"], volunteer,
            minutes, "community-service", "2026-03-11", pending, STAFF, None, "api")).id

    for transfer, rule in [(credit(30, town.ada), "fulfilment_minutes_short"),
                           (credit(60, town.bo), "fulfilment_credit_not_to_obligor"),
                           (credit(60, town.ada, pending=True),
                            "fulfilment_credit_not_posted")]:
        with pytest.raises(DomainError) as caught:
            town.civic.cases.fulfil(cid, term_id="service", fulfilled_on="2026-03-11",
                                    actor=STAFF, transfer_id=transfer)
        assert (caught.value.field, caught.value.rule) == ("transfer_id", rule)
    good = credit(60, town.ada)
    done = town.civic.cases.fulfil(cid, term_id="service", fulfilled_on="2026-03-11",
                                   actor=STAFF, transfer_id=good)
    assert done["fulfilled"] == [{"term_id": "service", "transfer_id": good,
                                  "fulfilled_on": "2026-03-11"}]
    with pytest.raises(InvalidTransition):
        town.civic.cases.fulfil(cid, term_id="service", fulfilled_on="2026-03-12",
                                actor=STAFF, transfer_id=good)


def test_civic_read_models_equal_a_rebuild(town):
    old = town.convention()
    made = town.civic.conventions.pledge(old["id"], town.ada, channel="online", actor="m")
    town.civic.conventions.check_in(made["id"], date="2026-03-10", kept=False, note="once",
                                    actor="m")
    town.next_version(old)
    cid, _ = town.agreed()
    town.civic.cases.visit(cid, visited_on="2026-03-11", notes="fine", actor=MEDIATOR)
    models = town.queries.models
    models.fresh()
    live = snapshot(models)
    models.projector.rebuild()
    assert snapshot(models) == live
    assert all(live[table] for table in ("rm_conventions", "rm_pledge_check_ins", "rm_cases",
                                         "rm_case_events", "rm_case_deadlines"))


def test_the_demo_has_a_convention_with_pledges_and_a_signed_quiet_hours_agreement(bank):
    seed_demo(bank)
    head = bank.recorder.max_notification_id()
    seed_demo(bank)
    assert bank.recorder.max_notification_id() == head
    queries = CivicQueries(ReadModels(bank))
    [convention] = queries.conventions()
    assert convention["status"] == "adopted" and convention["pledges"]["active"] == 3
    [case] = queries.cases()["cases"]
    assert case["status"] == "agreement_reached"
    log = queries.agreement_log(UUID(case["id"]))
    assert len(log["parties"]) == 2 and log["reached"] is not None
    terms = CivicRecords(bank).cases.case(UUID(case["id"]))["terms"]
    assert terms[0]["recurrence"] == {"kind": "daily", "from": "22:00", "to": "07:00"}
