"""Mediation cases over HTTP: every step, who may take it, and who sees which personal data.

Staff and mediators write (agreement steps by a mediator named on the case);
member parties read their own case with its texts but not other parties'
details; auditors read every case without personal data. Each endpoint has a
happy path and a refusal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.agreements import case_id_for
from ledger.tokens import Role

ZONE = dt.timezone(dt.timedelta(hours=8))  # the default community time zone
FACTS = "Drums from flat 4B after midnight, most weeknights"
TEXT = "Party B keeps quiet from 22:00 to 07:00 and apologises in writing."
DETAILS = {"display_name": "Oskar Hale", "phone": "+1 555 0199"}


def today(days: int = 0) -> str:
    """The community's date, ``days`` from now."""
    return (dt.datetime.now(ZONE).date() + dt.timedelta(days=days)).isoformat()


class Desk:
    """The API plus a registered case between Ada (member) and a non-member."""

    def __init__(self, api: Any, number: str = "MED-2026-0042",
                 parties: list[dict[str, Any]] | None = None) -> None:
        self.api, self.town = api, api.town
        self.mediator = self.town.bank.tokens.authenticate(self.town.tokens["mediator"]).actor
        self.town.tokens["other_mediator"], _ = self.town.bank.tokens.issue(Role.MEDIATOR)
        self.registration = {
            "community": str(self.town.community), "case_number": number,
            "committee": "Elm PMC", "mediators": [self.mediator],
            "parties": parties or [{"kind": "member", "id": str(self.town.ada)},
                                   {"kind": "non_member", "details": DETAILS}],
            "dispute_type": "neighbour_noise", "facts": FACTS,
            "disputed_matters": "quiet hours", "hearing": "private"}
        registered = self.post("", self.registration, as_="staff", status=201, path="")
        self.id, self.neighbour = registered["id"], registered["parties"][1]["id"]

    def post(self, step: str, body: Any = None, as_: str = "mediator", status: int = 200,
             path: str | None = None) -> dict[str, Any]:
        """POST a step of the case and expect ``status``."""
        url = "/v1/mediation/cases" + (f"/{self.id}/{step}" if path is None else path)
        response = self.api.post(url, body, as_=as_)
        assert response.status_code == status, response.get_json()
        found: dict[str, Any] = response.get_json()
        return found

    def mediating(self) -> Desk:
        """Accepted and in mediation."""
        self.post("acceptance", as_="staff")
        self.post("start")
        return self

    def drafted(self, terms: list[dict[str, Any]] | None = None) -> Desk:
        """With a drafted written agreement."""
        self.mediating().post("agreement", {"terms": terms or self.terms(), "form": "written",
                                            "text": TEXT})
        return self

    def agreed(self) -> Desk:
        """With an agreement every party and the mediator signed."""
        self.drafted()
        self.post("signatures", {"party": str(self.town.ada), "mark": "signature"})
        self.post("signatures", {"party": self.neighbour, "mark": "fingerprint"})
        self.post("mediator-signature")
        return self

    def terms(self) -> list[dict[str, Any]]:
        """A recurring quiet-hours term and an apology due in three days."""
        return [{"term_id": "quiet", "obligor": self.neighbour,
                 "beneficiary": str(self.town.ada), "description": "No drums at night",
                 "method": "headphones", "recurrence": {"kind": "daily", "from": "22:00",
                                                        "to": "07:00"}},
                {"term_id": "apology", "obligor": self.neighbour,
                 "beneficiary": str(self.town.ada), "description": "Apologise",
                 "method": "a letter", "deadline": today(3)}]


@pytest.fixture
def desk(api: Any) -> Desk:
    """A registered case."""
    return Desk(api)


# -- registration and reading ----------------------------------------------------------


def test_staff_register_a_case_and_registering_again_answers_it(desk):
    again = desk.post("", desk.registration, as_="mediator", status=201, path="")
    assert (again["id"], again["created"], again["log_indexes"]) == (desk.id, False, [])
    assert again["status"] == "registered" and "facts" not in again


def test_members_and_auditors_may_not_register_and_a_bad_number_is_refused(desk, api,
                                                                           problem):
    for role in ("member", "auditor", "partner"):
        problem(api.post("/v1/mediation/cases", desk.registration, as_=role), 403,
                "forbidden")
    problem(api.post("/v1/mediation/cases", {**desk.registration, "case_number": "42"},
                     as_="staff"), 422, "case_number_format", "case_number")
    changed = {**desk.registration, "facts": "something else"}
    problem(api.post("/v1/mediation/cases", changed, as_="staff"), 422,
            "idempotency_conflict", "facts")


def test_staff_and_mediators_read_the_texts_and_the_non_members_details(desk, api):
    for role in ("staff", "mediator"):
        case = api.get(f"/v1/mediation/cases/{desk.id}", as_=role).get_json()
        assert case["facts"] == FACTS and case["parties"][1]["details"] == DETAILS


def test_auditors_read_a_case_without_any_personal_data(desk, api):
    desk.agreed()
    response = api.get(f"/v1/mediation/cases/{desk.id}", as_="auditor")
    case = response.get_json()
    assert case["status"] == "agreement_reached"
    assert "facts" not in case and "text" not in case["agreement"]
    assert all("details" not in party for party in case["parties"])
    raw = response.get_data(as_text=True)
    assert "Oskar" not in raw and "Drums" not in raw and "apologises" not in raw


def test_a_member_party_reads_the_texts_but_not_other_parties_details(desk, api, problem):
    case = api.get(f"/v1/mediation/cases/{desk.id}", as_="member").get_json()
    assert case["facts"] == FACTS and "details" not in case["parties"][1]
    problem(api.get(f"/v1/mediation/cases/{desk.id}", as_="other_member"), 403, "forbidden")
    problem(api.get(f"/v1/mediation/cases/{uuid4()}", as_="staff"), 404, "not_found")


def test_open_cases_are_listed_by_mediator_and_a_member_lists_their_own(desk, api, problem):
    listed = api.get(f"/v1/mediation/cases?mediator={desk.mediator}", as_="auditor").get_json()
    assert [c["id"] for c in listed["cases"]] == [desk.id]
    assert listed["counts"] == [{"status": "registered", "mediator": desk.mediator,
                                 "cases": 1}]
    own = api.get(f"/v1/mediation/cases?party={desk.town.ada}", as_="member").get_json()
    assert len(own["cases"]) == 1
    problem(api.get("/v1/mediation/cases", as_="member"), 403, "forbidden")
    problem(api.get("/v1/mediation/cases?status=open", as_="staff"), 422, "schema", "status")


def test_the_history_shows_every_event_with_its_log_index_and_texts_only_to_readers(
        desk, api, problem):
    desk.agreed()
    events = api.get(f"/v1/mediation/cases/{desk.id}/history", as_="member").get_json()[
        "events"]
    assert [e["event"] for e in events][:3] == ["Registered", "Accepted", "MediationStarted"]
    assert events[0]["details"]["facts"] == FACTS and events[-1]["event"] == "AgreementReached"
    hidden = api.get(f"/v1/mediation/cases/{desk.id}/history", as_="auditor").get_json()
    assert "facts" not in hidden["events"][0]["details"]
    assert [e["log_index"] for e in hidden["events"]] == [e["log_index"] for e in events]
    problem(api.get(f"/v1/mediation/cases/{desk.id}/history", as_="other_member"), 403,
            "forbidden")


def test_the_printable_agreement_carries_the_text_hash_and_log_indexes(desk, api):
    desk.agreed()
    response = api.get(f"/v1/mediation/cases/{desk.id}/agreement", as_="staff")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert hashlib.sha256(TEXT.encode()).hexdigest() in page and "Oskar Hale" in page
    assert TEXT in page
    log = api.get(f"/v1/mediation/cases/{desk.id}/history", as_="staff").get_json()["events"]
    reached = next(e["log_index"] for e in log if e["event"] == "AgreementReached")
    assert re.search(rf"agreement effective</th><td>{reached}<", page)
    withheld = api.get(f"/v1/mediation/cases/{desk.id}/agreement", as_="auditor")
    assert TEXT not in withheld.get_data(as_text=True)
    assert "withheld" in withheld.get_data(as_text=True)


def test_there_is_no_printable_agreement_before_one_is_drafted(desk, api, problem):
    problem(api.get(f"/v1/mediation/cases/{desk.id}/agreement", as_="staff"), 404,
            "not_found", "agreement")


def test_deadlines_due_this_week_list_the_terms_and_the_confirmation_window(desk, api,
                                                                            problem):
    desk.agreed()
    due = api.get("/v1/mediation/deadlines", as_="mediator").get_json()
    assert due["today"] == today() and due["days"] == 7
    assert [(d["item"], d["due_on"]) for d in due["deadlines"]] == [("term:apology", today(3))]
    month = api.get("/v1/mediation/deadlines?days=30", as_="auditor").get_json()["deadlines"]
    assert [d["item"] for d in month] == ["term:apology", "confirmation_deadline"]
    problem(api.get("/v1/mediation/deadlines", as_="member"), 403, "forbidden")
    problem(api.get("/v1/mediation/deadlines?days=-1", as_="staff"), 422, "schema", "days")


# -- the course of mediation -----------------------------------------------------------------


def test_a_case_is_accepted_once(desk, problem, api):
    assert desk.post("acceptance", as_="staff")["status"] == "accepted"
    problem(api.post(f"/v1/mediation/cases/{desk.id}/acceptance", as_="staff"), 409,
            "invalid_transition", "status")


def test_mediation_starts_only_after_acceptance(desk, api, problem):
    problem(api.post(f"/v1/mediation/cases/{desk.id}/start", as_="mediator"), 409,
            "invalid_transition")
    desk.post("acceptance", as_="staff")
    assert desk.post("start")["status"] == "in_mediation"


def test_a_participant_is_invited_only_with_consent(desk, api, problem):
    desk.mediating()
    participant = str(uuid4())
    problem(api.post(f"/v1/mediation/cases/{desk.id}/participants",
                     {"participant": participant, "consent": False}), 422,
            "participant_consent_required", "consent")
    invited = desk.post("participants", {"participant": participant, "consent": True})
    assert invited["participants"] == [participant]


def test_a_partys_refusal_ends_mediation_as_failed_and_only_a_party_refuses(desk, api,
                                                                            problem):
    problem(api.post(f"/v1/mediation/cases/{desk.id}/refusal", {"party": str(uuid4())},
                     as_="mediator"), 422, "not_a_party", "party")
    failed = desk.post("refusal", {"party": desk.neighbour})
    assert (failed["status"], failed["refused_by"]) == ("failed", desk.neighbour)


def test_a_party_withdraws_before_but_not_after_the_agreement(desk, api, problem):
    assert desk.post("withdrawal", {"party": str(desk.town.ada)}, as_="staff")[
        "status"] == "withdrawn"
    other = Desk(api, "MED-2026-0043").agreed()
    problem(api.post(f"/v1/mediation/cases/{other.id}/withdrawal",
                     {"party": str(desk.town.ada)}, as_="staff"), 409, "invalid_transition")


def test_mediation_fails_with_a_sealed_reason_only_while_mediating(desk, api, problem):
    problem(api.post(f"/v1/mediation/cases/{desk.id}/failure", {"reason": "no"}), 409,
            "invalid_transition")
    desk.mediating()
    failed = desk.post("failure", {"reason": "no common ground"})
    assert failed["status"] == "failed"
    history = api.get(f"/v1/mediation/cases/{desk.id}/history", as_="staff").get_json()
    assert history["events"][-1]["details"]["reason"] == "no common ground"


def test_an_ended_case_is_closed_and_an_open_one_is_not(desk, api, problem):
    problem(api.post(f"/v1/mediation/cases/{desk.id}/closure", {"reason": "x"},
                     as_="staff"), 409, "invalid_transition")
    desk.post("withdrawal", {"party": desk.neighbour}, as_="staff")
    closed = desk.post("closure", {"reason": "withdrawn by the applicant"}, as_="staff")
    assert (closed["status"], closed["outcome"]) == ("closed", "withdrawn")
    reason = api.get(f"/v1/mediation/cases/{desk.id}", as_="member").get_json()["close_reason"]
    assert reason == "withdrawn by the applicant"


# -- the agreement ------------------------------------------------------------------------------


def test_the_mediator_drafts_the_agreement_with_the_hash_of_its_text(desk):
    case = desk.drafted().post("signatures", {"party": str(desk.town.ada),
                                              "mark": "seal"})
    assert case["agreement"]["text_sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()
    assert case["agreement"]["form"] == "written" and len(case["terms"]) == 2


def test_staff_who_are_not_mediators_of_the_case_may_not_draft_or_record_marks(desk, api,
                                                                                problem):
    desk.mediating()
    body = {"terms": desk.terms(), "form": "written", "text": TEXT}
    problem(api.post(f"/v1/mediation/cases/{desk.id}/agreement", body, as_="staff"), 422,
            "not_a_mediator", "actor")
    desk.post("agreement", body)
    problem(api.post(f"/v1/mediation/cases/{desk.id}/signatures",
                     {"party": desk.neighbour, "mark": "seal"}, as_="staff"), 422,
            "not_a_mediator", "recorded_by")


def test_an_agreement_with_a_past_deadline_is_refused(desk, api, problem):
    desk.mediating()
    terms = desk.terms()
    terms[1]["deadline"] = today(-1)
    problem(api.post(f"/v1/mediation/cases/{desk.id}/agreement",
                     {"terms": terms, "form": "oral", "text": TEXT}, as_="mediator"), 422,
            "deadline_in_past", "deadline")


def test_the_agreement_takes_effect_when_every_party_and_a_mediator_have_signed(desk):
    desk.drafted()
    desk.post("signatures", {"party": str(desk.town.ada), "mark": "signature"})
    case = desk.post("mediator-signature")
    assert case["status"] == "in_mediation" and case["effective_on"] is None
    case = desk.post("signatures", {"party": desk.neighbour, "mark": "fingerprint"})
    assert (case["status"], case["effective_on"]) == ("agreement_reached", today())
    assert case["confirmation_deadline"] == today(30)


def test_only_a_mediator_named_on_the_case_signs_as_mediator(desk, api, problem):
    desk.drafted()
    problem(api.post(f"/v1/mediation/cases/{desk.id}/mediator-signature",
                     as_="other_mediator"), 422, "not_a_mediator", "mediator")


def test_the_parties_apply_jointly_for_judicial_confirmation(desk, api, problem):
    desk.agreed()
    problem(api.post(f"/v1/mediation/cases/{desk.id}/confirmation",
                     {"applicants": [desk.neighbour], "court": "District court"}), 422,
            "joint_application", "applicants")
    case = desk.post("confirmation", {"applicants": [desk.neighbour, str(desk.town.ada)],
                                      "court": "District court"})
    assert case["confirmation"]["applied_on"] == today()


def test_the_courts_decision_follows_an_application(desk, api, problem):
    desk.agreed()
    decision = {"confirmed": True, "decided_on": today(), "reference": "(2026)R0101"}
    problem(api.post(f"/v1/mediation/cases/{desk.id}/confirmation/decision", decision,
                     as_="staff"), 409, "invalid_transition", "confirmed")
    desk.post("confirmation", {"applicants": [desk.neighbour, str(desk.town.ada)],
                               "court": "District court"})
    case = desk.post("confirmation/decision", decision, as_="staff")
    assert case["confirmation"]["confirmed"] is True


# -- follow-up ------------------------------------------------------------------------------------


def test_visits_are_recorded_per_term_with_sealed_notes(desk, api, problem):
    desk.agreed()
    problem(api.post(f"/v1/mediation/cases/{desk.id}/visits",
                     {"visited_on": today(), "notes": "n", "term_id": "T9"}), 404,
            "not_found", "term_id")
    desk.post("visits", {"visited_on": today(), "notes": "quiet reported",
                         "term_id": "quiet"}, status=201)
    case = api.get(f"/v1/mediation/cases/{desk.id}", as_="member").get_json()
    assert case["visits"] == [{"visited_on": today(), "term_id": "quiet",
                               "notes": "quiet reported"}]
    audited = api.get(f"/v1/mediation/cases/{desk.id}", as_="auditor").get_json()
    assert audited["visits"] == [{"visited_on": today(), "term_id": "quiet"}]


def test_breaches_are_recorded_per_term_but_not_before_the_agreement_took_effect(desk, api,
                                                                                 problem):
    desk.agreed()
    problem(api.post(f"/v1/mediation/cases/{desk.id}/breaches",
                     {"term_id": "quiet", "breached_on": today(-1), "description": "d"}),
            422, "before_effective", "breached_on")
    case = desk.post("breaches", {"term_id": "quiet", "breached_on": today(),
                                  "description": "drums at 23:40"}, status=201)
    assert case["breaches"] == [{"term_id": "quiet", "breached_on": today()}]


def test_a_term_is_fulfilled_and_only_a_community_service_term_by_a_credit(desk, api,
                                                                            problem):
    desk.agreed()
    problem(api.post(f"/v1/mediation/cases/{desk.id}/fulfilments",
                     {"term_id": "apology", "fulfilled_on": today(),
                      "transfer": str(uuid4())}), 422, "term_not_community_service",
            "transfer")
    case = desk.post("fulfilments", {"term_id": "apology", "fulfilled_on": today()},
                     status=201)
    assert case["fulfilled"] == [{"term_id": "apology", "transfer_id": None,
                                  "fulfilled_on": today()}]
    assert api.get("/v1/mediation/deadlines", as_="staff").get_json()["deadlines"] == []


def test_a_community_service_term_is_fulfilled_by_the_obligors_service_credit(api, problem):
    desk = Desk(api, "MED-2026-0044", [{"kind": "member", "id": str(api.town.ada)},
                                       {"kind": "member", "id": str(api.town.bo)}])
    desk.drafted([{"term_id": "service", "obligor": str(desk.town.bo),
                   "beneficiary": str(desk.town.ada), "description": "Litter picking",
                   "method": "in the park", "deadline": today(5),
                   "community_service_minutes": 60}])
    desk.post("signatures", {"party": str(desk.town.ada), "mark": "signature"})
    desk.post("signatures", {"party": str(desk.town.bo), "mark": "signature"})
    desk.post("mediator-signature")
    to_ada = api.post("/v1/credits", desk.town.credit(minutes=60), as_="staff").get_json()
    problem(api.post(f"/v1/mediation/cases/{desk.id}/fulfilments",
                     {"term_id": "service", "fulfilled_on": today(),
                      "transfer": to_ada["id"]}), 422, "fulfilment_credit_not_to_obligor",
            "transfer")
    to_bo = api.post("/v1/credits", desk.town.credit(minutes=60, volunteer=str(desk.town.bo)),
                     as_="staff").get_json()
    case = desk.post("fulfilments", {"term_id": "service", "fulfilled_on": today(),
                                     "transfer": to_bo["id"]}, status=201)
    assert case["fulfilled"][0]["transfer_id"] == to_bo["id"]


def test_staff_erase_a_non_members_details_and_mediators_may_not(desk, api, problem):
    url = f"/v1/mediation/cases/{desk.id}/parties/{desk.neighbour}/erasure"
    problem(api.post(url, as_="mediator"), 403, "forbidden")
    erased = api.post(url, as_="staff").get_json()
    assert erased["parties"][1]["details"] is None
    assert api.get(f"/v1/mediation/cases/{desk.id}", as_="staff").get_json()[
        "facts"] == FACTS
    problem(api.post(f"/v1/mediation/cases/{desk.id}/parties/{desk.town.ada}/erasure",
                     as_="staff"), 422, "not_a_non_member_party", "party_id")


def test_an_anonymous_caller_is_refused_before_anything_else(api, problem):
    problem(api.post(f"/v1/mediation/cases/{uuid4()}/acceptance", as_=None), 401,
            "unauthenticated")
    problem(api.get("/v1/mediation/deadlines", as_=None), 401, "unauthenticated")


def test_case_ids_derive_from_the_community_and_the_case_number(desk):
    assert UUID(desk.id) == case_id_for(desk.town.community, "MED-2026-0042")


def test_a_case_runs_to_a_printable_agreement_on_every_backend(backend_api):
    desk = Desk(backend_api).agreed()
    desk.post("visits", {"visited_on": today(), "notes": "calm", "term_id": "quiet"},
              status=201)
    api = backend_api
    assert [c["status"] for c in api.get("/v1/mediation/cases").get_json()["cases"]] == [
        "agreement_reached"]
    assert [d["item"] for d in api.get("/v1/mediation/deadlines").get_json()[
        "deadlines"]] == ["term:apology"]
    events = api.get(f"/v1/mediation/cases/{desk.id}/history").get_json()["events"]
    assert events[-1]["details"]["notes"] == "calm"
    page = api.get(f"/v1/mediation/cases/{desk.id}/agreement").get_data(as_text=True)
    assert hashlib.sha256(TEXT.encode()).hexdigest() in page
