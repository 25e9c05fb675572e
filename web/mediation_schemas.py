"""Request and response shapes of mediation cases and their agreements.

As everywhere in ``web``: inputs check shape only and load under the ledger's
names (``party`` -> ``party_id``); every rule of the People's Mediation Law
(who may sign, deadlines, the 30-day window) is the domain's. What a response
holds depends on who asks: sealed texts and parties' details are left out for
callers who may not read them (``ledger.civic_case_views``).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from domain.agreements import AgreementForm, DisputeType, Hearing, PartyKind, SignatureMark
from domain.mediation import CaseStatus
from web.civic_schemas import LOG_INDEXES, Instant, one_of
from web.schemas import Input, IsoDate, Primitive, StrictBoolean, minutes


# -- mediation: requests ------------------------------------------------------------------


class PartyDetailsIn(Input):
    """A non-member party's personal details, stored encrypted for that person."""

    display_name = fields.String(required=True, validate=validate.Length(1, 200))
    phone = fields.String(validate=validate.Length(1, 50))
    address = fields.String(validate=validate.Length(1, 500))


class PartyIn(Input):
    """A member (its account id) or a non-member (optional id, required details)."""

    kind = one_of(PartyKind, required=True)
    id = fields.UUID()
    details = fields.Nested(PartyDetailsIn)


class CaseIn(Input):
    """An application for mediation; the case id derives from community and number."""

    community = fields.UUID(required=True, attribute="community_id")
    case_number = fields.String(required=True)
    committee = fields.String(required=True)
    mediators = fields.List(fields.String(), required=True)
    parties = fields.List(fields.Nested(PartyIn), required=True)
    dispute_type = one_of(DisputeType, required=True)
    facts = fields.String(required=True)
    disputed_matters = fields.String(required=True)
    hearing = one_of(Hearing, required=True)


class ParticipantIn(Input):
    """A relative, neighbour or expert invited with the parties' consent."""

    participant = fields.UUID(required=True, attribute="participant_id")
    consent = StrictBoolean(required=True)


class PartyStepIn(Input):
    """The party who refuses mediation or withdraws the application."""

    party = fields.UUID(required=True, attribute="party_id")


class ReasonIn(Input):
    """Why (stored sealed)."""

    reason = fields.String(required=True)


class RecurrenceIn(Input):
    """Daily, or weekly on `days`, from `from` to `to` (HH:MM, may cross midnight)."""

    kind = fields.String(required=True)
    from_ = fields.String(required=True, data_key="from", attribute="from")
    to = fields.String(required=True)
    days = fields.List(fields.String())
    until = IsoDate()


class TermIn(Input):
    """One obligation: who owes whom what, how, where, by when or how often."""

    term_id = fields.String(required=True)
    obligor = fields.UUID(required=True)
    beneficiary = fields.UUID(required=True)
    description = fields.String(required=True)
    method = fields.String(required=True)
    place = fields.String()
    deadline = IsoDate()
    recurrence = fields.Nested(RecurrenceIn)
    community_service_minutes = minutes()


class AgreementIn(Input):
    """The agreement as the mediator writes it down; `text` is sealed, its SHA-256 kept."""

    terms = fields.List(fields.Nested(TermIn), required=True)
    form = one_of(AgreementForm, required=True)
    text = fields.String(required=True)


class SignatureIn(Input):
    """A party's mark, recorded by the calling mediator."""

    party = fields.UUID(required=True, attribute="party_id")
    mark = one_of(SignatureMark, required=True)


class ConfirmationIn(Input):
    """The parties' joint application for judicial confirmation."""

    applicants = fields.List(fields.UUID(), required=True)
    court = fields.String(required=True)
    applied_at = fields.AwareDateTime(attribute="at")


class DecisionIn(Input):
    """The court's decision."""

    confirmed = StrictBoolean(required=True)
    decided_on = IsoDate(required=True)
    reference = fields.String(required=True)


class VisitIn(Input):
    """A follow-up visit; notes are stored sealed."""

    visited_on = IsoDate(required=True)
    notes = fields.String(required=True)
    term_id = fields.String(load_default=None)


class BreachIn(Input):
    """A term not kept; the description is stored sealed."""

    term_id = fields.String(required=True)
    breached_on = IsoDate(required=True)
    description = fields.String(required=True)


class FulfilmentIn(Input):
    """A term fulfilled; a community-service term by a posted service credit (`transfer`)."""

    term_id = fields.String(required=True)
    fulfilled_on = IsoDate(required=True)
    transfer = fields.UUID(attribute="transfer_id")


class CaseQuery(Input):
    """Cases not closed, or those in `status`; by mediator, member party or community."""

    status = one_of(CaseStatus, load_default=None)
    mediator = fields.String(load_default=None)
    party = fields.UUID(load_default=None)
    community = fields.UUID(load_default=None)


class DeadlineQuery(Input):
    """Deadlines up to `days` days from today (the community's today)."""

    days = fields.Integer(load_default=7, validate=validate.Range(0, 366))
    community = fields.UUID(load_default=None)


# -- mediation: responses -------------------------------------------------------------------


class CasePartyOut(Schema):
    """A party: a member's account id, or a non-member's pseudonym and (for staff and
    mediators) their decrypted details, null once erased."""

    id = fields.UUID()
    kind = fields.String()
    details = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)


class TermOut(Schema):
    """One obligation of the agreement."""

    term_id = fields.String()
    obligor = fields.UUID()
    beneficiary = fields.UUID()
    description = fields.String()
    method = fields.String()
    place = fields.String()
    deadline = IsoDate(allow_none=True)
    recurrence = fields.Dict(keys=fields.String(), values=Primitive(), allow_none=True)
    community_service_minutes = fields.Integer(allow_none=True)


class AgreementOut(Schema):
    """The agreement in force or in draft; `text` only for those who may read it."""

    form = fields.String()
    text = fields.String(allow_none=True)
    text_sha256 = fields.String(metadata={
        "description": "SHA-256 of the agreement text's UTF-8 bytes: check a copy with it"})
    sealed_sha256 = fields.String(metadata={
        "description": "SHA-256 of the sealed text in the log, which every signature names"})
    drafted_at = Instant()


class CaseOut(Schema):
    """A mediation case. Sealed texts (`facts`, `disputed_matters`, `close_reason`, the
    agreement's `text`, visit `notes`, breach `description`) appear only for staff,
    mediators and member parties; non-member `details` only for staff and mediators."""

    id = fields.UUID()
    community = fields.UUID()
    case_number = fields.String()
    committee = fields.String()
    mediators = fields.List(fields.String())
    parties = fields.List(fields.Nested(CasePartyOut))
    dispute_type = fields.String()
    hearing = fields.String()
    status = fields.String(metadata={"description": "registered, accepted, in_mediation, "
                                                    "agreement_reached, failed, withdrawn, "
                                                    "closed"})
    outcome = fields.String(allow_none=True, metadata={
        "description": "the status a closed case ended in"})
    facts = fields.String(allow_none=True)
    disputed_matters = fields.String(allow_none=True)
    participants = fields.List(fields.String())
    refused_by = fields.String(allow_none=True)
    agreement = fields.Nested(AgreementOut, allow_none=True)
    terms = fields.List(fields.Nested(TermOut))
    signatures = fields.Dict(keys=fields.String(), values=Primitive())
    effective_on = IsoDate(allow_none=True)
    confirmation_deadline = IsoDate(allow_none=True, metadata={
        "description": "last day to apply jointly for judicial confirmation (30 days)"})
    confirmation = fields.Dict(keys=fields.String(), values=Primitive(), allow_none=True)
    visits = fields.List(fields.Dict(keys=fields.String(), values=Primitive()))
    breaches = fields.List(fields.Dict(keys=fields.String(), values=Primitive()))
    fulfilled = fields.List(fields.Dict(keys=fields.String(), values=Primitive()))
    close_reason = fields.String(allow_none=True)
    created = fields.Boolean()
    log_indexes = LOG_INDEXES


class CaseSummaryOut(Schema):
    """A case in a list."""

    id = fields.UUID()
    community = fields.UUID()
    case_number = fields.String()
    committee = fields.String()
    status = fields.String()
    outcome = fields.String(allow_none=True)
    mediators = fields.List(fields.String())
    parties = fields.List(fields.Dict(keys=fields.String(), values=fields.String()))
    dispute_type = fields.String()
    hearing = fields.String()
    registered_at = Instant()
    updated_at = Instant()
    effective_on = IsoDate(allow_none=True)
    confirmation_deadline = IsoDate(allow_none=True)


class CaseCountOut(Schema):
    """How many listed cases a mediator has in one status."""

    status = fields.String()
    mediator = fields.String()
    cases = fields.Integer()


class CasesOut(Schema):
    """Cases and their counts by status and mediator."""

    cases = fields.List(fields.Nested(CaseSummaryOut))
    counts = fields.List(fields.Nested(CaseCountOut))


class DeadlineOut(Schema):
    """Something due: the confirmation window's last day, or a term's deadline."""

    case = fields.UUID()
    case_number = fields.String()
    community = fields.UUID()
    item = fields.String(metadata={"description": "confirmation_deadline or term:<id>"})
    kind = fields.String()
    term_id = fields.String(allow_none=True)
    due_on = IsoDate()
    overdue = fields.Boolean()
    mediators = fields.List(fields.String())


class DeadlinesOut(Schema):
    """Deadlines earliest first, as of the community's today."""

    today = IsoDate()
    days = fields.Integer()
    deadlines = fields.List(fields.Nested(DeadlineOut))


class CaseEventOut(Schema):
    """One event of a case and its log index; sealed texts only for those who may read."""

    seq = fields.Integer()
    log_index = fields.Integer()
    at = Instant()
    event = fields.String()
    actor = fields.String(allow_none=True)
    details = fields.Dict(keys=fields.String(), values=Primitive())


class CaseHistoryOut(Schema):
    """A case's events, oldest first."""

    case = fields.UUID()
    events = fields.List(fields.Nested(CaseEventOut))
