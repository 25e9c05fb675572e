"""The demo community's civic records: a quiet-hours convention with pledges, and a
mediation case settled by a signed quiet-hours agreement.

Why every step is guarded: the demo is seeded again on every ``civic-ledger
demo``, and a repeated state transition is (rightly) refused by the domain.
Creations are idempotent by identity (fixed ids; the case id derives from its
number), and each later step runs only while the record is still in the state
before it. Steps that the domain dates by "today" (pledging, signing, the
apology's deadline) use the ledger clock in the community's time zone, so the
agreement's 30-day confirmation window opens on the day the demo is first seeded.

Only the service layer is used; nothing here knows HTTP.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

from ledger.application import TimeBank
from ledger.civic import CivicRecords

CIVIC_NAMESPACE = uuid5(NAMESPACE_URL, "https://civic-ledger.org/demo/civic")
STAFF = "staff:demo"
MEDIATOR = f"mediator:{uuid5(CIVIC_NAMESPACE, 'mediator')}"
CASE_NUMBER = "MED-2025-0007"
CONVENTION_TEXT = (
    "Elm Street residents' convention\n\n"
    "1. Quiet hours are from 22:00 to 07:00 every day; music, tools and parties are kept "
    "inaudible outside one's home during them.\n"
    "2. Kitchen waste goes into the green bins, recyclables into the blue ones, on the "
    "days the street office announces.\n"
    "3. Dogs are kept on a lead in the courtyards and their droppings picked up.\n"
    "4. Disagreements about this convention are first taken to the residents' committee.")
AGREEMENT_TEXT = (
    "People's mediation agreement, case {number}\n\n"
    "The parties, the resident of flat 3B (party A, a time-bank member) and the tenant of "
    "flat 4B (party B), agree before the Elm Street People's Mediation Committee:\n"
    "1. Party B keeps music and other noise inaudible in flat 3B from 22:00 to 07:00 "
    "every day.\n"
    "2. Party B apologises to party A in writing by {apology}.\n"
    "3. Party A tells party B directly, and calmly, when noise disturbs them before "
    "calling the committee.\n"
    "This agreement takes effect when both parties and the mediator have signed it.")


def civic_id(name: str) -> UUID:
    """The fixed id of one civic demo thing."""
    return uuid5(CIVIC_NAMESPACE, name)


@dataclass(frozen=True)
class CivicDemo:
    """The ids of the demo's civic records."""

    convention: UUID
    pledges: tuple[UUID, ...]
    case: UUID


def seed_civic_demo(bank: TimeBank, community_id: UUID, members: Sequence[UUID],
                    timezone: dt.tzinfo | str | None = None) -> CivicDemo:
    """Seed (or complete) the civic records; a second call changes nothing."""
    civic = CivicRecords(bank, timezone)
    convention = _convention(civic, community_id)
    pledges = _pledges(civic, convention, members)
    case = _case(civic, community_id, members[4])
    return CivicDemo(convention=convention, pledges=pledges, case=case)


def _convention(civic: CivicRecords, community_id: UUID) -> UUID:
    records = civic.conventions
    draft = records.draft(convention_id=civic_id("convention/quiet-hours"),
                          community_id=community_id, scope="community", scope_ref="",
                          title="Elm Street residents' convention", text=CONVENTION_TEXT,
                          effective_date="2025-10-01", actor=STAFF)
    if draft["status"] == "draft":
        draft = records.adopt(draft["id"], {
            "meeting_date": "2025-09-20", "eligible": 48, "present": 31, "votes_for": 27,
            "votes_against": 2, "abstaining": 2}, actor=STAFF)
    if draft["filing"] is None:
        records.file(draft["id"], filed_with="Riverside Street Office",
                     filed_on="2025-09-25", reference="RS-2025-031", actor=STAFF)
    return UUID(str(draft["id"]))


def _pledges(civic: CivicRecords, convention: UUID,
             members: Sequence[UUID]) -> tuple[UUID, ...]:
    records = civic.conventions
    ada, bo, chidi, dana = members[:4]
    made = [records.pledge(convention, ada, channel="online", actor=f"member:{ada}"),
            records.pledge(convention, bo, channel="paper", actor=STAFF,
                           paper_form_number="EL-0001"),
            records.pledge(convention, chidi, channel="service_window", actor=STAFF),
            records.pledge(convention, dana, channel="online", actor=f"member:{dana}")]
    if made[3]["withdrawn_reason"] is None:
        records.withdraw_pledge(made[3]["id"], reason="moved_away", actor=f"member:{dana}")
    if not made[0]["check_ins"]:
        records.check_in(made[0]["id"], date=civic.today().isoformat(), kept=True,
                         note="quiet all evening", actor=f"member:{ada}")
    return tuple(UUID(str(p["id"])) for p in made)


def _case(civic: CivicRecords, community_id: UUID, member: UUID) -> UUID:
    cases, neighbour = civic.cases, civic_id("party/flat-4b")
    case = cases.register(
        community_id=community_id, case_number=CASE_NUMBER,
        committee="Elm Street People's Mediation Committee", mediators=[MEDIATOR],
        parties=[{"kind": "member", "id": member},
                 {"kind": "non_member", "id": neighbour,
                  "details": {"display_name": "Oskar Hale", "phone": "+1 555 0199"}}],
        dispute_type="neighbour_noise", hearing="private",
        facts="Loud music from flat 4B after 23:00 on most weeknights since September.",
        disputed_matters="Quiet hours at night; an apology.", actor=STAFF)
    case_id = case["id"]
    if case["status"] == "registered":
        case = cases.accept(case_id, actor=STAFF)
    if case["status"] == "accepted":
        case = cases.begin(case_id, actor=MEDIATOR)
    if case["status"] == "in_mediation" and case["agreement"] is None:
        case = _draft(civic, case_id, member, neighbour)
    if case["status"] == "in_mediation":
        signed = {mark["party"] for mark in case["signatures"]["parties"]}
        for party, mark in ((member, "signature"), (neighbour, "fingerprint")):
            if str(party) not in signed:
                case = cases.sign(case_id, party_id=party, mark=mark, recorded_by=MEDIATOR)
        if case["signatures"]["mediator"] is None:
            cases.sign_as_mediator(case_id, mediator=MEDIATOR)
    return UUID(str(case_id))


def _draft(civic: CivicRecords, case_id: UUID, member: UUID,
           neighbour: UUID) -> dict[str, object]:
    apology = (civic.today() + dt.timedelta(days=14)).isoformat()
    terms = [
        {"term_id": "quiet-hours", "obligor": neighbour, "beneficiary": member,
         "description": "Keep noise inaudible in flat 3B at night", "method":
         "music and tools off or with headphones", "place": "flat 4B",
         "recurrence": {"kind": "daily", "from": "22:00", "to": "07:00"}},
        {"term_id": "apology", "obligor": neighbour, "beneficiary": member,
         "description": "Apologise in writing", "method": "a letter", "deadline": apology},
        {"term_id": "tell-first", "obligor": member, "beneficiary": neighbour,
         "description": "Tell party B directly first when disturbed", "method":
         "in person or by note", "recurrence": {"kind": "daily", "from": "22:00",
                                                "to": "07:00"}}]
    return civic.cases.draft_agreement(
        case_id, terms=terms, form="written", actor=MEDIATOR,
        text=AGREEMENT_TEXT.format(number=CASE_NUMBER, apology=apology))
