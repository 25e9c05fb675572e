"""People's mediation cases: load, let ``domain.mediation`` decide, save once.

Every command runs in ``bank._retrying`` and ends in one atomic
``bank._commit``; its result is the case as the log holds it in the clear
(no sealed text, no party details) with the ``log_indexes`` it appended.
:meth:`CaseRecords.case` opens the sealed texts and party details for callers
allowed to read them (``ledger.civic_context`` explains the sealing).

A case's id derives from its community and case number, so registering the
same case again returns it (``created`` false) and a different registration
under the same number is an :class:`IdempotencyConflict`. Later steps are
state transitions: repeating one is refused by the domain (409 at the edge).

Dates the law counts in days (the day an agreement takes effect, the 30-day
confirmation window, a term's deadline not being past) are the community's
calendar days: commands pass the domain the community's local time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain.accounts import Account, AccountKind
from domain.agreements import PartyKind, case_id_for
from domain.communities import Community, derived_id
from domain.errors import (
    AccountErased,
    CrossCommunity,
    DomainError,
    IdempotencyConflict,
    WrongAccountKind,
)
from domain.mediation import NOTE_MAX, TEXT_MAX, MediationCase
from domain.transfers import Transfer, TransferKind, TransferState
from ledger.civic_context import CivicContext
from ledger.civic_case_views import case_view

View = dict[str, Any]
Party = tuple[UUID, str, dict[str, Any] | None]  # id, kind, a non-member's details


class CaseRecords:
    """Commands on mediation cases and their agreements."""

    def __init__(self, context: CivicContext) -> None:
        self.context = context
        self.bank = context.bank

    # -- registration ------------------------------------------------------------------

    def register(self, *, community_id: UUID, case_number: str, committee: str,
                 mediators: list[str], parties: list[dict[str, Any]], dispute_type: str,
                 facts: str, disputed_matters: str, hearing: str, actor: str) -> View:
        """Register an application; non-member parties' details are stored encrypted."""
        case_id = case_id_for(community_id, case_number)
        fixed: dict[str, Any] = {"community_id": community_id, "case_number": case_number,
                 "committee": committee, "mediators": mediators,
                 "dispute_type": dispute_type, "hearing": hearing, "actor": actor}

        def command() -> View:
            wanted = self._parties(case_id, parties)
            if self.bank._exists(case_id):
                return self._existing(case_id, fixed, wanted, facts, disputed_matters)
            self.bank._get(community_id, Community, "community", "community_id")
            self._check_members(community_id, wanted)
            now = self.context.now()
            # Every domain rule first, on the plain values: nothing is sealed or stored
            # for a registration the domain refuses.
            MediationCase.register(**fixed, parties=_party_records(wanted, lambda p: "-"),
                                   facts=facts, disputed_matters=disputed_matters, at=now)
            case = MediationCase.register(
                **fixed, parties=_party_records(wanted, self._store_details), at=now,
                facts=self.context.seal(case_id, facts, field="facts", limit=TEXT_MAX),
                disputed_matters=self.context.seal(case_id, disputed_matters,
                                                   field="disputed_matters", limit=TEXT_MAX))
            return case_view(self.context, case, self.bank._commit(case))

        return self.bank._retrying(command)

    def _parties(self, case_id: UUID, parties: list[dict[str, Any]]) -> list[Party]:
        resolved: list[Party] = []
        for n, party in enumerate(parties):
            kind, details = party.get("kind"), party.get("details")
            if kind == PartyKind.MEMBER and details is not None:
                raise DomainError("a member party's details live in its account",
                                  field="details", rule="member_party_no_details")
            if kind == PartyKind.NON_MEMBER and not details:
                raise DomainError("a non-member party needs its details (at least a name)",
                                  field="details", rule="party_details_required")
            party_id = party.get("id") or derived_id(f"mediation-party/{n}", case_id)
            resolved.append((party_id, str(kind), details))
        return resolved

    def _check_members(self, community_id: UUID, parties: list[Party]) -> None:
        for party_id, kind, _ in parties:
            if kind != PartyKind.MEMBER:
                if self.bank._exists(party_id):
                    raise DomainError(f"{party_id} already names a record; a non-member "
                                      "party needs a new id", field="parties",
                                      rule="party_id_taken")
                continue
            account = self.bank._get(party_id, Account, "account", "parties")
            if account.kind is not AccountKind.MEMBER:
                raise WrongAccountKind(f"{party_id} is not a member", field="parties")
            if account.community_id != community_id:
                raise CrossCommunity(f"member {party_id} belongs to another community",
                                     field="parties")
            if account.erased:
                raise AccountErased(f"member {party_id} was erased", field="parties")

    def _store_details(self, party: Party) -> str:
        party_id, _, details = party
        return self.context.parties.store(party_id, details or {})

    def _existing(self, case_id: UUID, fixed: dict[str, Any], parties: list[Party],
                  facts: str, disputed_matters: str) -> View:
        case = self._case(case_id)
        found = {"committee": case.committee, "mediators": case.mediators,
                 "dispute_type": case.dispute_type.value, "hearing": case.hearing.value,
                 "parties": [(UUID(p["party_id"]), p["kind"], self._details(p))
                             for p in case.parties.values()],
                 "facts": self.context.open(case_id, case.facts),
                 "disputed_matters": self.context.open(case_id, case.disputed_matters)}
        wanted = {**{k: fixed[k] for k in ("committee", "mediators", "dispute_type",
                                           "hearing")},
                  "parties": parties, "facts": facts, "disputed_matters": disputed_matters}
        differing = [key for key in wanted if wanted[key] != found[key]]
        if differing:
            raise IdempotencyConflict(f"case {case.case_number} was registered differently "
                                      f"({', '.join(differing)})", field=differing[0])
        return case_view(self.context, case, created=False)

    def _details(self, party: dict[str, Any]) -> dict[str, Any] | None:
        if party["kind"] != PartyKind.NON_MEMBER:
            return None
        return self.context.parties.read(UUID(party["party_id"]), party["ciphertext_ref"])

    # -- the course of mediation --------------------------------------------------------

    def accept(self, case_id: UUID, *, actor: str) -> View:
        """The committee takes the case on."""
        return self._step(case_id, lambda c: c.accept(actor=actor, at=self.context.now()))

    def begin(self, case_id: UUID, *, actor: str) -> View:
        """Mediation sessions start."""
        return self._step(case_id, lambda c: c.begin(actor=actor, at=self.context.now()))

    def invite(self, case_id: UUID, *, participant_id: UUID, consent: bool,
               actor: str) -> View:
        """Invite a relative, neighbour or expert with the parties' consent."""
        return self._step(case_id, lambda c: c.invite(participant_id=participant_id,
                                                      consent=consent, actor=actor))

    def refuse(self, case_id: UUID, *, party_id: UUID, actor: str) -> View:
        """A party refuses mediation: the case fails."""
        return self._step(case_id, lambda c: c.record_refusal(
            party_id=party_id, actor=actor, at=self.context.now()))

    def fail(self, case_id: UUID, *, reason: str, actor: str) -> View:
        """Mediation ended without an agreement (the reason is sealed)."""
        return self._step(case_id, lambda c: c.fail(
            reason=self.context.seal(case_id, reason, field="reason", limit=NOTE_MAX),
            actor=actor, at=self.context.now()))

    def withdraw(self, case_id: UUID, *, party_id: UUID, actor: str) -> View:
        """A party withdraws the application before any agreement."""
        return self._step(case_id, lambda c: c.withdraw(party_id=party_id, actor=actor,
                                                        at=self.context.now()))

    def close(self, case_id: UUID, *, reason: str, actor: str) -> View:
        """File an ended case away (the reason is sealed)."""
        return self._step(case_id, lambda c: c.close(
            reason=self.context.seal(case_id, reason, field="reason", limit=NOTE_MAX),
            actor=actor, at=self.context.now()))

    # -- the agreement -------------------------------------------------------------------

    def draft_agreement(self, case_id: UUID, *, terms: list[dict[str, Any]], form: str,
                        text: str, actor: str) -> View:
        """The mediator writes the agreement down; its text is sealed with its SHA-256."""
        def draft(case: MediationCase) -> None:
            sealed = self.context.seal(case_id, text, field="text", limit=TEXT_MAX,
                                       digest=True)
            case.draft_agreement(terms=terms, form=form, text=sealed, actor=actor,
                                 at=self.context.now())
        return self._step(case_id, draft)

    def sign(self, case_id: UUID, *, party_id: UUID, mark: str, recorded_by: str) -> View:
        """A mediator records a party's signature, seal or fingerprint."""
        return self._step(case_id, lambda c: c.sign(party_id=party_id, mark=mark,
                                                    recorded_by=recorded_by,
                                                    at=self.context.now()))

    def sign_as_mediator(self, case_id: UUID, *, mediator: str) -> View:
        """A mediator of the case signs; with every party's mark, the agreement is reached."""
        return self._step(case_id, lambda c: c.sign_as_mediator(mediator=mediator,
                                                                at=self.context.now()))

    def apply_for_confirmation(self, case_id: UUID, *, applicants: list[UUID], court: str,
                               at: dt.datetime | None = None) -> View:
        """The parties' joint application for judicial confirmation (30-day window)."""
        return self._step(case_id, lambda c: c.apply_for_confirmation(
            applicants=applicants, court=court, at=self.context.local(at)))

    def decide_confirmation(self, case_id: UUID, *, confirmed: bool, decided_on: str,
                            reference: str, actor: str) -> View:
        """The court's decision on the application."""
        return self._step(case_id, lambda c: c.confirmation_decided(
            confirmed=confirmed, decided_on=decided_on, reference=reference, actor=actor))

    # -- follow-up -------------------------------------------------------------------------

    def visit(self, case_id: UUID, *, visited_on: str, notes: str, actor: str,
              term_id: str | None = None) -> View:
        """A follow-up visit (notes sealed), about one term or the whole agreement."""
        return self._step(case_id, lambda c: c.record_visit(
            visited_on=visited_on, term_id=term_id, actor=actor,
            notes=self.context.seal(case_id, notes, field="notes", limit=NOTE_MAX)))

    def breach(self, case_id: UUID, *, term_id: str, breached_on: str, description: str,
               actor: str) -> View:
        """A term was not kept (the description is sealed)."""
        return self._step(case_id, lambda c: c.record_breach(
            term_id=term_id, breached_on=breached_on, actor=actor,
            description=self.context.seal(case_id, description, field="description",
                                          limit=NOTE_MAX)))

    def fulfil(self, case_id: UUID, *, term_id: str, fulfilled_on: str, actor: str,
               transfer_id: UUID | None = None) -> View:
        """A term was fulfilled; a community-service term by a linked service credit."""
        def fulfil(case: MediationCase) -> None:
            if transfer_id is not None:
                self._check_credit(case, term_id, transfer_id)
            case.term_fulfilled(term_id, fulfilled_on=fulfilled_on, actor=actor,
                                transfer_id=transfer_id)
        return self._step(case_id, fulfil)

    def _check_credit(self, case: MediationCase, term_id: str, transfer_id: UUID) -> None:
        term = case.terms.get(term_id)
        if term is None or term["community_service_minutes"] is None \
                or term_id in case.fulfilled:
            return  # the domain refuses these with its own rule
        credit = self.bank._get(transfer_id, Transfer, "transfer", "transfer_id")

        def refuse(detail: str, rule: str) -> DomainError:
            return DomainError(detail, field="transfer_id", rule=rule)

        if credit.kind is not TransferKind.SERVICE_CREDIT:
            raise refuse(f"{transfer_id} is a {credit.kind}, not a service credit",
                         "fulfilment_not_a_service_credit")
        if credit.state is not TransferState.POSTED or credit.reversed_by is not None:
            raise refuse("the service credit is not posted (or was reversed)",
                         "fulfilment_credit_not_posted")
        if str(credit.credit_account_id) != term["obligor"]:
            raise refuse("the service credit was not earned by the term's obligor",
                         "fulfilment_credit_not_to_obligor")
        if credit.minutes < term["community_service_minutes"]:
            raise refuse(f"{credit.minutes} minutes credited; the term asks for "
                         f"{term['community_service_minutes']}", "fulfilment_minutes_short")
        if any(done["transfer_id"] == transfer_id for done in case.fulfilled.values()):
            raise refuse("that service credit already fulfils another term",
                         "fulfilment_credit_used")

    # -- reading ---------------------------------------------------------------------------

    def case(self, case_id: UUID, *, reveal_text: bool = False,
             reveal_parties: bool = False) -> View:
        """The case; sealed texts and party details only when asked to reveal them."""
        return case_view(self.context, self._case(case_id), created=False,
                         reveal_text=reveal_text, reveal_parties=reveal_parties)

    def erase_party(self, case_id: UUID, party_id: UUID) -> View:
        """Destroy a non-member party's data key: their details become unreadable."""
        case = self._case(case_id)
        party = case.parties.get(str(party_id))
        if party is None or party["kind"] != PartyKind.NON_MEMBER:
            raise DomainError(f"{party_id} is not a non-member party of this case (a "
                              "member is erased as a member)", field="party_id",
                              rule="not_a_non_member_party")
        self.context.parties.erase(party_id)
        return self.case(case_id, reveal_parties=True)

    def _step(self, case_id: UUID, change: Callable[[MediationCase], None]) -> View:
        def command() -> View:
            case = self._case(case_id)
            change(case)
            return case_view(self.context, case, self.bank._commit(case))
        return self.bank._retrying(command)

    def _case(self, case_id: UUID) -> MediationCase:
        return self.bank._get(case_id, MediationCase, "mediation case", "case")


def _party_records(parties: list[Party], ref: Callable[[Party], str]
                   ) -> list[dict[str, Any]]:
    return [{"party_id": p[0], "kind": p[1],
             **({"ciphertext_ref": ref(p)} if p[1] == PartyKind.NON_MEMBER else {})}
            for p in parties]

