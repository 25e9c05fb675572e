"""A mediation case as clients see it, with personal data only for those allowed.

By default a view holds what the log holds in the clear: ids, statuses, dates,
terms, signature marks and hashes. ``reveal_text`` adds the opened sealed texts
(facts, disputed matters, agreement text, visit notes, breach descriptions,
closing reason); ``reveal_parties`` adds non-member parties' decrypted
details. A text or details whose key was erased show as null. Which callers
may reveal what is the access policy's business (``ledger.access``), not this
module's.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.agreements import PartyKind
from domain.mediation import MediationCase
from ledger.civic_context import CivicContext, sealed_digest

View = dict[str, Any]


def case_view(context: CivicContext, case: MediationCase, log_indexes: tuple[int, ...] = (),
              *, created: bool = True, reveal_text: bool = False,
              reveal_parties: bool = False) -> View:
    """The case; see the module docstring for what each flag reveals."""
    def opened(value: str | None) -> str | None:
        return context.open(case.id, value)

    view: View = {
        "id": case.id, "community": case.community_id, "case_number": case.case_number,
        "committee": case.committee, "mediators": list(case.mediators),
        "parties": [_party(context, party, reveal_parties)
                    for party in case.parties.values()],
        "dispute_type": case.dispute_type.value, "hearing": case.hearing.value,
        "status": case.status.value,
        "outcome": None if case.outcome is None else case.outcome.value,
        "participants": list(case.participants), "refused_by": case.refused_by,
        "agreement": _agreement(case, opened if reveal_text else None),
        "terms": [dict(term) for term in case.terms.values()],
        "signatures": _signatures(case),
        "effective_on": case.effective_on,
        "confirmation_deadline": case.confirmation_deadline,
        "confirmation": case.confirmation,
        "visits": [{"visited_on": v["visited_on"], "term_id": v["term_id"],
                    **({"notes": opened(v["notes"])} if reveal_text else {})}
                   for v in case.visits],
        "breaches": [{"term_id": b["term_id"], "breached_on": b["breached_on"],
                      **({"description": opened(b["description"])} if reveal_text else {})}
                     for b in case.breaches],
        "fulfilled": [{"term_id": term_id, **done} for term_id, done in case.fulfilled.items()],
        "created": created, "log_indexes": list(log_indexes)}
    if reveal_text:
        view.update(facts=opened(case.facts), disputed_matters=opened(case.disputed_matters),
                    close_reason=opened(case.close_reason))
    return view


def _party(context: CivicContext, party: dict[str, Any], reveal: bool) -> View:
    shown: View = {"id": party["party_id"], "kind": party["kind"]}
    if reveal and party["kind"] == PartyKind.NON_MEMBER:
        shown["details"] = context.parties.read(UUID(party["party_id"]),
                                                party["ciphertext_ref"])
    return shown


def _agreement(case: MediationCase, opened: Any) -> View | None:
    if case.agreement is None:
        return None
    sealed = case.agreement["text"]
    shown: View = {"form": case.agreement["form"], "text_sha256": sealed_digest(sealed),
                   "sealed_sha256": case.agreement["text_sha256"],
                   "drafted_at": case.agreement["drafted_at"]}
    if opened is not None:
        shown["text"] = opened(sealed)
    return shown


def _signatures(case: MediationCase) -> View:
    return {"parties": [{"party": party, **mark} for party, mark in case.party_marks.items()],
            "mediator": None if case.mediator_mark is None else dict(case.mediator_mark)}
