"""People's mediation cases: registration, the course of mediation, the agreement, follow-up.

Staff and mediators write; the calling mediator is the one recorded (drafting,
recording a party's mark, signing as mediator need a mediator named on the
case). Write answers show the case as the log holds it in the clear; reading
it (``GET``) adds what the caller may see: sealed texts for staff, mediators
and member parties, non-member parties' details for staff and mediators.
Auditors read every case, its history and its printable agreement without any
personal data. A case's id derives from its community and number: registering
it again answers 201 with ``"created": false``.
"""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue

from ledger.access import Action
from web.agreements_html import render_agreement
from web.auth import found, may, permit
from web.civic import civic, civic_queries, member_parties, readable_case
from web.mediation_schemas import (
    AgreementIn,
    BreachIn,
    CaseHistoryOut,
    CaseIn,
    CaseOut,
    CaseQuery,
    CasesOut,
    ConfirmationIn,
    DeadlineQuery,
    DeadlinesOut,
    DecisionIn,
    FulfilmentIn,
    ParticipantIn,
    PartyStepIn,
    ReasonIn,
    SignatureIn,
    VisitIn,
)
from web.schemas import body, query, shared

bp = Blueprint("mediation", __name__, url_prefix="/v1/mediation")
CASE = "/cases/<uuid:case_id>"


def _actor() -> str:
    return permit(Action.RECORD_MEDIATION).actor


@bp.post("/cases")
def register_case() -> ResponseReturnValue:
    """Register an application for mediation."""
    actor = _actor()
    data = body(shared(CaseIn))
    return shared(CaseOut).dump(civic().cases.register(**data, actor=actor)), 201


@bp.post(f"{CASE}/acceptance")
def accept(case_id: UUID) -> ResponseReturnValue:
    """The committee takes the case on."""
    return shared(CaseOut).dump(civic().cases.accept(case_id, actor=_actor()))


@bp.post(f"{CASE}/start")
def begin(case_id: UUID) -> ResponseReturnValue:
    """Mediation sessions start."""
    return shared(CaseOut).dump(civic().cases.begin(case_id, actor=_actor()))


@bp.post(f"{CASE}/participants")
def invite(case_id: UUID) -> ResponseReturnValue:
    """Invite a participant with the parties' consent."""
    actor = _actor()
    return shared(CaseOut).dump(civic().cases.invite(case_id, **body(shared(ParticipantIn)),
                                               actor=actor))


@bp.post(f"{CASE}/refusal")
def refuse(case_id: UUID) -> ResponseReturnValue:
    """A party refuses mediation: the case fails."""
    actor = _actor()
    case = civic().cases.refuse(case_id, **body(shared(PartyStepIn)), actor=actor)
    return shared(CaseOut).dump(case)


@bp.post(f"{CASE}/withdrawal")
def withdraw(case_id: UUID) -> ResponseReturnValue:
    """A party withdraws the application before any agreement."""
    actor = _actor()
    return shared(CaseOut).dump(civic().cases.withdraw(case_id, **body(shared(PartyStepIn)),
                                                 actor=actor))


@bp.post(f"{CASE}/failure")
def fail(case_id: UUID) -> ResponseReturnValue:
    """Mediation ended without an agreement."""
    actor = _actor()
    return shared(CaseOut).dump(civic().cases.fail(case_id, **body(shared(ReasonIn)), actor=actor))


@bp.post(f"{CASE}/closure")
def close(case_id: UUID) -> ResponseReturnValue:
    """File an ended case away with a reason."""
    actor = _actor()
    return shared(CaseOut).dump(civic().cases.close(case_id, **body(shared(ReasonIn)), actor=actor))


@bp.post(f"{CASE}/agreement")
def draft_agreement(case_id: UUID) -> ResponseReturnValue:
    """The calling mediator writes the agreement down (an earlier draft lapses)."""
    actor = _actor()
    return shared(CaseOut).dump(civic().cases.draft_agreement(case_id, **body(shared(AgreementIn)),
                                                        actor=actor))


@bp.post(f"{CASE}/signatures")
def sign(case_id: UUID) -> ResponseReturnValue:
    """The calling mediator records a party's signature, seal or fingerprint."""
    actor = _actor()
    return shared(CaseOut).dump(civic().cases.sign(case_id, **body(shared(SignatureIn)),
                                             recorded_by=actor))


@bp.post(f"{CASE}/mediator-signature")
def sign_as_mediator(case_id: UUID) -> ResponseReturnValue:
    """The calling mediator signs; with every party's mark the agreement takes effect."""
    return shared(CaseOut).dump(civic().cases.sign_as_mediator(case_id, mediator=_actor()))


@bp.post(f"{CASE}/confirmation")
def apply_for_confirmation(case_id: UUID) -> ResponseReturnValue:
    """Record the parties' joint application for judicial confirmation."""
    _actor()
    return shared(CaseOut).dump(civic().cases.apply_for_confirmation(case_id,
                                                               **body(shared(ConfirmationIn))))


@bp.post(f"{CASE}/confirmation/decision")
def decide_confirmation(case_id: UUID) -> ResponseReturnValue:
    """Record the court's decision on the application."""
    actor = _actor()
    case = civic().cases.decide_confirmation(case_id, **body(shared(DecisionIn)), actor=actor)
    return shared(CaseOut).dump(case)


@bp.post(f"{CASE}/visits")
def visit(case_id: UUID) -> ResponseReturnValue:
    """A follow-up visit, about one term or the whole agreement."""
    actor = _actor()
    case = civic().cases.visit(case_id, **body(shared(VisitIn)), actor=actor)
    return shared(CaseOut).dump(case), 201


@bp.post(f"{CASE}/breaches")
def breach(case_id: UUID) -> ResponseReturnValue:
    """A term was not kept."""
    actor = _actor()
    case = civic().cases.breach(case_id, **body(shared(BreachIn)), actor=actor)
    return shared(CaseOut).dump(case), 201


@bp.post(f"{CASE}/fulfilments")
def fulfil(case_id: UUID) -> ResponseReturnValue:
    """A term was fulfilled (a community-service term by a linked service credit)."""
    actor = _actor()
    return shared(CaseOut).dump(civic().cases.fulfil(case_id, **body(shared(FulfilmentIn)),
                                               actor=actor)), 201


@bp.post(f"{CASE}/parties/<uuid:party_id>/erasure")
def erase_party(case_id: UUID, party_id: UUID) -> ResponseReturnValue:
    """Erase a non-member party's personal details for good."""
    permit(Action.ERASE_PARTY_DETAILS)
    return shared(CaseOut).dump(civic().cases.erase_party(case_id, party_id))


@bp.get("/cases")
def list_cases() -> ResponseReturnValue:
    """Cases not closed (or in `status`), by mediator, party or community, with counts."""
    asked = query(shared(CaseQuery))
    permit(Action.READ_CASE, [asked["party"]] if asked["party"] else [])
    return shared(CasesOut).dump(civic_queries().cases(**asked))


@bp.get(CASE)
def read_case(case_id: UUID) -> ResponseReturnValue:
    """The case, with what the caller may see of its personal data."""
    return shared(CaseOut).dump(readable_case(case_id))


@bp.get(f"{CASE}/history")
def case_history(case_id: UUID) -> ResponseReturnValue:
    """Every event of the case with its log index."""
    members = member_parties(found(Action.READ_CASE, lambda: civic().cases.case(case_id)))
    permit(Action.READ_CASE, members)
    events = civic_queries().history(case_id,
                                     reveal_text=may(Action.READ_CASE_TEXT, members))
    return shared(CaseHistoryOut).dump({"case": case_id, "events": events})


@bp.get(f"{CASE}/agreement")
def printable_agreement(case_id: UUID) -> ResponseReturnValue:
    """The agreement as a printable HTML page, with its text hash and log indexes."""
    case = readable_case(case_id)
    html = render_agreement(case, civic_queries().agreement_log(case_id))
    return Response(html, mimetype="text/html")


@bp.get("/deadlines")
def deadlines() -> ResponseReturnValue:
    """Confirmation windows and term deadlines due within `days` (default 7), overdue
    terms included, as of the community's today."""
    permit(Action.READ_CASE)
    asked = query(shared(DeadlineQuery))
    today = civic().today()
    found = civic_queries().deadlines(today=today, **asked)
    return shared(DeadlinesOut).dump({"today": today, "days": asked["days"], "deadlines": found})
