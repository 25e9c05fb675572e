"""People's mediation cases (People's Mediation Law art. 17-33), one aggregate each.

registered -> accepted -> in_mediation -> agreement_reached | failed | withdrawn,
then closed. Mediation needs every party's willingness (art. 17, 23, 26): a
party's refusal at any point before the agreement is reached ends the case as
failed. The agreement is part of the case: drafted during mediation, it takes
effect only once every party has marked it and a mediator has signed it
(art. 29), which opens the 30-day window for a joint application for judicial
confirmation (art. 33). The committee then follows up on each term (art. 31):
visits, breaches, and fulfilment (possibly by a linked service credit).

Parties are pseudonymous (see ``domain.agreements``). ``facts``,
``disputed_matters`` and agreement texts are opaque strings here; the service
layer decides whether they are stored encrypted. The case id is derived from
the community and the case number, so one case number names one case.
"""

from __future__ import annotations

import copy
import datetime as dt
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.agreements import (
    AgreementForm,
    DisputeType,
    Hearing,
    SignatureMark,
    aware,
    bounded_text,
    case_id_for,
    check_case_number,
    check_mediators,
    check_parties,
    check_terms,
    confirmation_deadline,
    iso_date,
    sha256_hex,
)
from domain.errors import DomainError, InvalidTransition, NotFound

TEXT_MAX, NOTE_MAX, LABEL_MAX = 20_000, 2_000, 200


class CaseStatus(StrEnum):
    """Where a case is in its life."""

    REGISTERED = "registered"
    ACCEPTED = "accepted"
    IN_MEDIATION = "in_mediation"
    AGREEMENT_REACHED = "agreement_reached"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"


_OPEN = (CaseStatus.REGISTERED, CaseStatus.ACCEPTED, CaseStatus.IN_MEDIATION)
_ENDED = (CaseStatus.AGREEMENT_REACHED, CaseStatus.FAILED, CaseStatus.WITHDRAWN)


class MediationCase(Aggregate):
    """One dispute before a people's mediation committee, and its agreement."""

    @event("Registered")
    def __init__(self, id: UUID, community_id: UUID, case_number: str,  # noqa: A002
                 committee: str, mediators: list[str], parties: list[dict[str, Any]],
                 dispute_type: str, facts: str, disputed_matters: str, hearing: str,
                 actor: str, registered_at: dt.datetime) -> None:
        self.community_id, self.case_number = community_id, case_number
        self.committee = committee
        self.mediators = list(mediators)
        self.parties = {p["party_id"]: dict(p) for p in parties}
        self.dispute_type, self.hearing = DisputeType(dispute_type), Hearing(hearing)
        self.facts, self.disputed_matters = facts, disputed_matters
        self.status = CaseStatus.REGISTERED
        self.outcome: CaseStatus | None = None  # the status the case was closed in
        self.participants: list[str] = []
        self.refused_by: str | None = None
        self.agreement: dict[str, Any] | None = None
        self.terms: dict[str, dict[str, Any]] = {}
        self.party_marks: dict[str, dict[str, Any]] = {}
        self.mediator_mark: dict[str, Any] | None = None
        self.effective_on: str | None = None
        self.confirmation_deadline: str | None = None
        self.confirmation: dict[str, Any] | None = None
        self.visits: list[dict[str, Any]] = []
        self.breaches: list[dict[str, Any]] = []
        self.fulfilled: dict[str, dict[str, Any]] = {}
        self.close_reason: str | None = None

    @classmethod
    def register(cls, *, community_id: UUID, case_number: str, committee: str,
                 mediators: list[str], parties: list[dict[str, Any]], dispute_type: str,
                 facts: str, disputed_matters: str, hearing: str, actor: str,
                 at: dt.datetime) -> MediationCase:
        """Register an application; the id is :func:`case_id_for` the case number."""
        check_case_number(case_number)
        if dispute_type not in set(DisputeType):
            raise DomainError("dispute_type is one of " + ", ".join(DisputeType),
                              field="dispute_type", rule="dispute_type")
        if hearing not in set(Hearing):
            raise DomainError("hearing is public or private", field="hearing", rule="hearing")
        return cls(id=case_id_for(community_id, case_number), community_id=community_id,
                   case_number=case_number,
                   committee=bounded_text(committee, "committee", LABEL_MAX),
                   mediators=check_mediators(mediators), parties=check_parties(parties),
                   dispute_type=dispute_type, facts=bounded_text(facts, "facts", TEXT_MAX),
                   disputed_matters=bounded_text(disputed_matters, "disputed_matters",
                                                 TEXT_MAX),
                   hearing=hearing, actor=actor,
                   registered_at=aware(at, "at").astimezone(dt.UTC))

    # -- the course of mediation ---------------------------------------------------

    def accept(self, *, actor: str, at: dt.datetime) -> None:
        """The committee takes the case on."""
        self._require((CaseStatus.REGISTERED,), "accept")
        self._accepted(actor=actor, accepted_at=_utc(at))

    def begin(self, *, actor: str, at: dt.datetime) -> None:
        """Mediation sessions start."""
        self._require((CaseStatus.ACCEPTED,), "begin mediation in")
        self._mediation_started(actor=actor, started_at=_utc(at))

    def invite(self, *, participant_id: UUID, consent: bool, actor: str) -> None:
        """Art. 20: invite a relative, neighbour or expert, with the parties' consent."""
        self._require((CaseStatus.ACCEPTED, CaseStatus.IN_MEDIATION), "invite to")
        if consent is not True:
            raise DomainError("a participant is invited only with the parties' consent",
                              field="consent", rule="participant_consent_required")
        if str(participant_id) in self.parties or str(participant_id) in self.participants:
            raise DomainError("already taking part in the case", field="participant_id",
                              rule="participant_unique")
        self._participant_invited(participant_id=participant_id, consent=consent, actor=actor)

    def record_refusal(self, *, party_id: UUID, actor: str, at: dt.datetime) -> None:
        """A party refuses mediation: the case fails (art. 17, 26)."""
        self._require(_OPEN, "record a refusal in")
        self._party_refused(party_id=UUID(self._party(party_id)), actor=actor,
                            refused_at=_utc(at))

    def fail(self, *, reason: str, actor: str, at: dt.datetime) -> None:
        """Mediation did not lead to an agreement (art. 26)."""
        self._require((CaseStatus.IN_MEDIATION,), "end as failed")
        self._mediation_failed(reason=bounded_text(reason, "reason", NOTE_MAX), actor=actor,
                               failed_at=_utc(at))

    def withdraw(self, *, party_id: UUID, actor: str, at: dt.datetime) -> None:
        """A party withdraws the application before any agreement."""
        self._require(_OPEN, "withdraw")
        self._withdrawn(party_id=UUID(self._party(party_id)), actor=actor,
                        withdrawn_at=_utc(at))

    def close(self, *, reason: str, actor: str, at: dt.datetime) -> None:
        """File the case away once it has ended."""
        self._require(_ENDED, "close")
        if self.confirmation is not None and self.confirmation["confirmed"] is None:
            raise DomainError("the court has not decided the confirmation yet",
                              field="status", rule="confirmation_pending")
        self._closed(reason=bounded_text(reason, "reason", NOTE_MAX), actor=actor,
                     closed_at=_utc(at))

    # -- the agreement (art. 28-30) ------------------------------------------------

    def draft_agreement(self, *, terms: list[dict[str, Any]], form: str, text: str,
                        actor: str, at: dt.datetime) -> None:
        """Write down what the parties agreed; an earlier draft and its marks lapse."""
        self._require((CaseStatus.IN_MEDIATION,), "draft an agreement in")
        self._mediator(actor, "actor")
        if form not in set(AgreementForm):
            raise DomainError("form is written or oral", field="form", rule="agreement_form")
        checked = check_terms(terms, self.parties, aware(at, "at").date())
        text = bounded_text(text, "text", TEXT_MAX)
        self._agreement_drafted(terms=checked, form=form, text=text,
                                text_sha256=sha256_hex(text), actor=actor, drafted_at=_utc(at))

    def sign(self, *, party_id: UUID, mark: str, recorded_by: str, at: dt.datetime) -> None:
        """A mediator records a party's signature, seal or fingerprint on the draft."""
        self._check_signable(at)
        party = self._party(party_id)
        if party in self.party_marks:
            raise DomainError("this party has already marked the agreement",
                              field="party_id", rule="already_signed")
        if mark not in set(SignatureMark):
            raise DomainError("mark is signature, seal or fingerprint", field="mark",
                              rule="signature_mark")
        self._mediator(recorded_by, "recorded_by")
        self._party_signed(party_id=UUID(party), mark=mark, recorded_by=recorded_by,
                           text_sha256=self._signed_text(), signed_at=_utc(at),
                           signed_on=at.date().isoformat())
        self._take_effect_when_complete()

    def sign_as_mediator(self, *, mediator: str, at: dt.datetime) -> None:
        """A mediator of the case signs the draft."""
        self._check_signable(at)
        self._mediator(mediator, "mediator")
        if self.mediator_mark is not None:
            raise DomainError("a mediator has already signed the agreement",
                              field="mediator", rule="already_signed")
        self._mediator_signed(mediator=mediator, text_sha256=self._signed_text(),
                              signed_at=_utc(at), signed_on=at.date().isoformat())
        self._take_effect_when_complete()

    def _check_signable(self, at: dt.datetime) -> None:
        self._require((CaseStatus.IN_MEDIATION,), "sign an agreement in")
        if self.agreement is None:
            raise DomainError("no agreement has been drafted", field="agreement",
                              rule="no_agreement_drafted")
        if _utc(at) < self.agreement["drafted_at"]:
            raise DomainError("signed before the agreement was drafted", field="at",
                              rule="signed_before_drafted")

    def _signed_text(self) -> str:
        return (self.agreement or {})["text_sha256"]

    def _take_effect_when_complete(self) -> None:
        # Effective only when every party and a mediator have marked this draft.
        if self.mediator_mark is None or set(self.party_marks) != set(self.parties):
            return
        effective_on = max(m["signed_on"] for m in [*self.party_marks.values(),
                                                    self.mediator_mark])
        self._agreement_reached(effective_on=effective_on,
                                confirmation_deadline=confirmation_deadline(effective_on))

    # -- after the agreement (art. 31, 33) ----------------------------------------

    def apply_for_confirmation(self, *, applicants: list[UUID], court: str,
                               at: dt.datetime) -> None:
        """Art. 33: all parties jointly ask a court to confirm, within the window."""
        self._require((CaseStatus.AGREEMENT_REACHED,), "apply for confirmation in")
        if self.confirmation is not None:
            raise InvalidTransition("confirmation was already applied for", field="at")
        if not isinstance(applicants, list) \
                or sorted(str(a) for a in applicants) != sorted(self.parties):
            raise DomainError("every party applies jointly", field="applicants",
                              rule="joint_application")
        applied_on = aware(at, "at").date().isoformat()
        if applied_on > str(self.confirmation_deadline):
            raise DomainError(f"the confirmation window closed on "
                              f"{self.confirmation_deadline}", field="at",
                              rule="confirmation_window_closed")
        if applied_on < str(self.effective_on):
            raise DomainError("the agreement was not yet effective", field="at",
                              rule="confirmation_before_effective")
        self._confirmation_applied(applicants=sorted(self.parties),
                                   court=bounded_text(court, "court", LABEL_MAX),
                                   applied_at=_utc(at), applied_on=applied_on)

    def confirmation_decided(self, *, confirmed: bool, decided_on: str, reference: str,
                             actor: str) -> None:
        """The court confirmed the agreement (enforceable) or refused to."""
        self._require((CaseStatus.AGREEMENT_REACHED,), "record a court decision in")
        if self.confirmation is None or self.confirmation["confirmed"] is not None:
            raise InvalidTransition("no application is awaiting a decision",
                                    field="confirmed")
        if not isinstance(confirmed, bool):
            raise DomainError("confirmed is true or false", field="confirmed",
                              rule="confirmed_boolean")
        if iso_date(decided_on, "decided_on").isoformat() < self.confirmation["applied_on"]:
            raise DomainError("decided before the application", field="decided_on",
                              rule="decided_before_applied")
        self._confirmation_decided(confirmed=confirmed, decided_on=decided_on,
                                   reference=bounded_text(reference, "reference", LABEL_MAX),
                                   actor=actor)

    def record_visit(self, *, visited_on: str, notes: str, actor: str,
                     term_id: str | None = None) -> None:
        """A follow-up visit (art. 31), about one term or the whole agreement."""
        self._check_follow_up(visited_on, "visited_on", term_id)
        self._followed_up(visited_on=visited_on, notes=bounded_text(notes, "notes", NOTE_MAX),
                          term_id=term_id, actor=actor)

    def record_breach(self, *, term_id: str, breached_on: str, description: str,
                      actor: str) -> None:
        """A term was not kept on ``breached_on``."""
        self._check_follow_up(breached_on, "breached_on", term_id)
        self._term_breached(term_id=term_id, breached_on=breached_on, actor=actor,
                            description=bounded_text(description, "description", NOTE_MAX))

    def term_fulfilled(self, term_id: str, *, fulfilled_on: str, actor: str,
                       transfer_id: UUID | None = None) -> None:
        """A term was fulfilled; community service by the linked service credit."""
        self._check_follow_up(fulfilled_on, "fulfilled_on", term_id)
        if term_id in self.fulfilled:
            raise InvalidTransition(f"term {term_id} is already fulfilled", field="term_id")
        if transfer_id is not None and self.terms[term_id]["community_service_minutes"] is None:
            raise DomainError("only a community service term is fulfilled by a service "
                              "credit", field="transfer_id", rule="term_not_community_service")
        self._term_fulfilled(term_id=term_id, transfer_id=transfer_id,
                             fulfilled_on=fulfilled_on, actor=actor)

    def _check_follow_up(self, day: str, field: str, term_id: str | None) -> None:
        self._require((CaseStatus.AGREEMENT_REACHED,), "follow up on")
        if iso_date(day, field).isoformat() < str(self.effective_on):
            raise DomainError("before the agreement took effect", field=field,
                              rule="before_effective")
        if term_id is not None and term_id not in self.terms:
            raise NotFound(f"no term {term_id} in the agreement", field="term_id")

    # -- guards ------------------------------------------------------------------

    def _require(self, allowed: tuple[CaseStatus, ...], action: str) -> None:
        if self.status not in allowed:
            raise InvalidTransition(f"cannot {action} a case that is {self.status}",
                                    field="status")

    def _party(self, party_id: object, field: str = "party_id") -> str:
        if str(party_id) not in self.parties:
            raise DomainError(f"{party_id} is not a party to the case", field=field,
                              rule="not_a_party")
        return str(party_id)

    def _mediator(self, mediator: str, field: str) -> str:
        if mediator not in self.mediators:
            raise DomainError(f"{mediator} is not a mediator of the case", field=field,
                              rule="not_a_mediator")
        return mediator

    # -- appliers (state changes only; they re-run on every replay) --------------

    @event("Accepted")
    def _accepted(self, actor: str, accepted_at: dt.datetime) -> None:
        self.status = CaseStatus.ACCEPTED

    @event("MediationStarted")
    def _mediation_started(self, actor: str, started_at: dt.datetime) -> None:
        self.status = CaseStatus.IN_MEDIATION

    @event("ParticipantInvited")
    def _participant_invited(self, participant_id: UUID, consent: bool, actor: str) -> None:
        self.participants.append(str(participant_id))

    @event("PartyRefused")
    def _party_refused(self, party_id: UUID, actor: str, refused_at: dt.datetime) -> None:
        self.status, self.refused_by = CaseStatus.FAILED, str(party_id)

    @event("MediationFailed")
    def _mediation_failed(self, reason: str, actor: str, failed_at: dt.datetime) -> None:
        self.status = CaseStatus.FAILED

    @event("Withdrawn")
    def _withdrawn(self, party_id: UUID, actor: str, withdrawn_at: dt.datetime) -> None:
        self.status = CaseStatus.WITHDRAWN

    @event("Closed")
    def _closed(self, reason: str, actor: str, closed_at: dt.datetime) -> None:
        self.status, self.outcome, self.close_reason = CaseStatus.CLOSED, self.status, reason

    @event("AgreementDrafted")
    def _agreement_drafted(self, terms: list[dict[str, Any]], form: str, text: str,
                           text_sha256: str, actor: str, drafted_at: dt.datetime) -> None:
        self.agreement = {"form": form, "text": text, "text_sha256": text_sha256,
                          "drafted_at": drafted_at}
        self.terms = {term["term_id"]: copy.deepcopy(term) for term in terms}
        self.party_marks, self.mediator_mark = {}, None

    @event("PartySigned")
    def _party_signed(self, party_id: UUID, mark: str, recorded_by: str, text_sha256: str,
                      signed_at: dt.datetime, signed_on: str) -> None:
        self.party_marks[str(party_id)] = {"mark": mark, "recorded_by": recorded_by,
                                           "signed_at": signed_at, "signed_on": signed_on}

    @event("MediatorSigned")
    def _mediator_signed(self, mediator: str, text_sha256: str, signed_at: dt.datetime,
                         signed_on: str) -> None:
        self.mediator_mark = {"mediator": mediator, "signed_at": signed_at,
                              "signed_on": signed_on}

    @event("AgreementReached")
    def _agreement_reached(self, effective_on: str, confirmation_deadline: str) -> None:
        self.status = CaseStatus.AGREEMENT_REACHED
        self.effective_on, self.confirmation_deadline = effective_on, confirmation_deadline

    @event("ConfirmationApplied")
    def _confirmation_applied(self, applicants: list[str], court: str,
                              applied_at: dt.datetime, applied_on: str) -> None:
        self.confirmation = {"court": court, "applied_on": applied_on, "confirmed": None,
                             "decided_on": None, "reference": None}

    @event("ConfirmationDecided")
    def _confirmation_decided(self, confirmed: bool, decided_on: str, reference: str,
                              actor: str) -> None:
        self.confirmation = dict(self.confirmation or {}, confirmed=confirmed,
                                 decided_on=decided_on, reference=reference)

    @event("FollowedUp")
    def _followed_up(self, visited_on: str, notes: str, term_id: str | None,
                     actor: str) -> None:
        self.visits.append({"visited_on": visited_on, "notes": notes, "term_id": term_id})

    @event("TermBreached")
    def _term_breached(self, term_id: str, breached_on: str, description: str,
                       actor: str) -> None:
        self.breaches.append({"term_id": term_id, "breached_on": breached_on,
                              "description": description})

    @event("TermFulfilled")
    def _term_fulfilled(self, term_id: str, transfer_id: UUID | None, fulfilled_on: str,
                        actor: str) -> None:
        self.fulfilled[term_id] = {"transfer_id": transfer_id, "fulfilled_on": fulfilled_on}


def _utc(at: dt.datetime) -> dt.datetime:
    return aware(at, "at").astimezone(dt.UTC)

