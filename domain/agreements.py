"""What mediation cases and agreements are made of, checked before they become events.

A case has parties, mediators and a case number; its agreement (People's
Mediation Law art. 28-33) is a list of obligations, each owed by one party to
another with a method, a place and either a deadline or a recurrence (quiet
from 22:00 to 07:00, every day). An obligation may be community service, in
whole minutes, which a linked service credit in the time bank can fulfil.
Everything is checked here and returned as plain dicts of primitives, because
it goes into permanent events (``domain.mediation`` holds the aggregate).

Personal data stays out of the log: a member party is its account id; a
non-member party is a pseudonymous id plus a reference to ciphertext stored
elsewhere.

The checks at the bottom (ISO dates written exactly YYYY-MM-DD so that strings
compare as dates, bounded texts, aware datetimes, the SHA-256 of a text) are
shared with residents' conventions (``domain.conventions``), the other agreed
text of a community.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Collection
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.accounts import check_minutes
from domain.communities import derived_id
from domain.errors import DomainError

if TYPE_CHECKING:  # the case aggregate imports this module at run time
    from domain.mediation import MediationCase

CASE_NUMBER = re.compile(r"MED-(\d{4})-(\d{4,6})")
LABEL_MAX = 200
CONFIRMATION_WINDOW_DAYS = 30  # art. 33: apply jointly within 30 days of taking effect
TERM_FIELDS = ("term_id", "obligor", "beneficiary", "description", "method", "place",
               "deadline", "recurrence", "community_service_minutes")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TERM_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


class DisputeType(StrEnum):
    """What the dispute is about."""

    NEIGHBOUR_NOISE = "neighbour_noise"
    PROPERTY_MANAGEMENT = "property_management"
    FAMILY = "family"
    NEIGHBOUR_OTHER = "neighbour_other"
    OTHER = "other"


class PartyKind(StrEnum):
    """A member (its account id) or a non-member (pseudonym + ciphertext reference)."""

    MEMBER = "member"
    NON_MEMBER = "non_member"


class Hearing(StrEnum):
    """Art. 23: the parties may ask for mediation in public or in private."""

    PUBLIC = "public"
    PRIVATE = "private"




def case_id_for(community_id: UUID, case_number: str) -> UUID:
    """The one aggregate id a case number can have in a community."""
    return derived_id(f"mediation-case/{case_number}", community_id)


def check_case_number(value: object) -> str:
    """``MED-<year>-<serial>``, e.g. MED-2026-0001 (serial of 4 to 6 digits)."""
    if not isinstance(value, str) or not CASE_NUMBER.fullmatch(value):
        raise DomainError("case_number looks like MED-2026-0001", field="case_number",
                          rule="case_number_format")
    return value


def check_parties(parties: object) -> list[dict[str, Any]]:
    """Two or more distinct parties, canonical: party_id (str), kind, ciphertext_ref."""
    if not isinstance(parties, list) or len(parties) < 2:
        raise DomainError("a dispute has at least two parties", field="parties",
                          rule="two_parties")
    checked = []
    for party in parties:
        if not isinstance(party, dict) or set(party) - {"party_id", "kind", "ciphertext_ref"} \
                or not isinstance(party.get("party_id"), UUID) \
                or party.get("kind") not in set(PartyKind):
            raise DomainError("a party is {party_id: UUID, kind: member|non_member, "
                              "ciphertext_ref}", field="parties", rule="party_shape")
        ref = party.get("ciphertext_ref")
        if party["kind"] == PartyKind.NON_MEMBER:
            bounded_text(ref, "ciphertext_ref", LABEL_MAX)
        elif ref is not None:
            raise DomainError("a member party's details live in its account",
                              field="ciphertext_ref", rule="member_party_no_ciphertext")
        checked.append({"party_id": str(party["party_id"]), "kind": party["kind"],
                        "ciphertext_ref": ref})
    if len({p["party_id"] for p in checked}) != len(checked):
        raise DomainError("each party is listed once", field="parties", rule="party_unique")
    return checked


def check_mediators(mediators: object) -> list[str]:
    if not isinstance(mediators, list) or not mediators \
            or not all(isinstance(m, str) and m.strip() for m in mediators) \
            or len(set(mediators)) != len(mediators):
        raise DomainError("at least one mediator, each named once", field="mediators",
                          rule="mediators_required")
    return list(mediators)


class AgreementForm(StrEnum):
    """Art. 28: a written agreement, or an oral one the mediator records."""

    WRITTEN = "written"
    ORAL = "oral"


class SignatureMark(StrEnum):
    """Art. 29: how a party marks the agreement."""

    SIGNATURE = "signature"
    SEAL = "seal"
    FINGERPRINT = "fingerprint"


class RecurrenceKind(StrEnum):
    """How often a recurring obligation applies."""

    DAILY = "daily"
    WEEKLY = "weekly"


def confirmation_deadline(effective_on: str) -> str:
    """Last day to apply for judicial confirmation: the start day is not counted."""
    return (iso_date(effective_on, "effective_on")
            + dt.timedelta(days=CONFIRMATION_WINDOW_DAYS)).isoformat()


def check_terms(terms: object, parties: Collection[str], today: dt.date) -> list[dict[str, Any]]:
    """The terms in canonical form (every field present), or the first refusal."""
    if not isinstance(terms, list) or not terms:
        raise DomainError("an agreement has at least one term", field="terms",
                          rule="terms_required")
    checked = [_check_term(term, parties, today) for term in terms]
    ids = [term["term_id"] for term in checked]
    if len(set(ids)) != len(ids):
        raise DomainError("term ids must be unique", field="term_id", rule="term_id_unique")
    return checked


def _check_term(term: object, parties: Collection[str], today: dt.date) -> dict[str, Any]:
    if not isinstance(term, dict) or set(term) - set(TERM_FIELDS):
        raise DomainError(f"a term is an object with fields {', '.join(TERM_FIELDS)}",
                          field="terms", rule="term_fields")
    term_id = term.get("term_id")
    if not isinstance(term_id, str) or not _TERM_ID.fullmatch(term_id):
        raise DomainError("term_id is 1-32 letters, digits, _ or -", field="term_id",
                          rule="term_id")
    obligor, beneficiary = _party(term.get("obligor"), parties, "obligor"), \
        _party(term.get("beneficiary"), parties, "beneficiary")
    if obligor == beneficiary:
        raise DomainError("a party cannot owe an obligation to itself", field="beneficiary",
                          rule="term_parties_distinct")
    deadline, recurrence = term.get("deadline"), term.get("recurrence")
    if (deadline is None) == (recurrence is None):
        raise DomainError("a term has either a deadline or a recurrence", field="deadline",
                          rule="deadline_or_recurrence")
    if deadline is not None and iso_date(deadline, "deadline") < today:
        raise DomainError("the deadline has already passed", field="deadline",
                          rule="deadline_in_past")
    minutes = term.get("community_service_minutes")
    return {"term_id": term_id, "obligor": obligor, "beneficiary": beneficiary,
            "description": bounded_text(term.get("description"), "description", 1000),
            "method": bounded_text(term.get("method"), "method", 200),
            "place": bounded_text(term.get("place", ""), "place", 200, required=False),
            "deadline": deadline,
            "recurrence": None if recurrence is None else _check_recurrence(recurrence),
            "community_service_minutes": None if minutes is None else check_minutes(
                minutes, field="community_service_minutes")}


def _party(value: object, parties: Collection[str], field: str) -> str:
    party = str(value) if isinstance(value, (str, UUID)) else ""
    if party not in parties:
        raise DomainError(f"the {field} must be a party to the case", field=field,
                          rule="term_party")
    return party


def _check_recurrence(value: object) -> dict[str, Any]:
    def refuse(detail: str) -> DomainError:
        return DomainError(detail, field="recurrence", rule="recurrence")

    if not isinstance(value, dict) or value.get("kind") not in set(RecurrenceKind):
        raise refuse("recurrence.kind is daily or weekly")
    weekly = value["kind"] == RecurrenceKind.WEEKLY
    if set(value) - {"kind", "from", "to", "until"} - ({"days"} if weekly else set()):
        raise refuse("recurrence takes kind, from, to, until and (weekly) days")
    start, end = value.get("from"), value.get("to")
    if not all(isinstance(t, str) and _CLOCK.fullmatch(t) for t in (start, end)) \
            or start == end:
        raise refuse("recurrence.from and .to are distinct times HH:MM (to may be "
                     "after midnight)")
    canonical: dict[str, Any] = {"kind": value["kind"], "from": start, "to": end}
    if weekly:
        days = value.get("days")
        if not isinstance(days, list) or not days or not set(days) <= set(WEEKDAYS) \
                or len(set(days)) != len(days):
            raise refuse("recurrence.days lists distinct days among " + ", ".join(WEEKDAYS))
        canonical["days"] = list(days)
    if value.get("until") is not None:
        canonical["until"] = iso_date(value["until"], "recurrence.until").isoformat()
    return canonical


def deadlines_due(case: MediationCase, today: dt.date,
                  days: int = 7) -> list[tuple[str, dt.date]]:
    """What falls due by ``today + days``, earliest first.

    ``("confirmation_deadline", day)`` while the art. 33 window is still open and
    nobody has applied; ``("term:<term_id>", day)`` for each unfulfilled term with
    a deadline, including overdue ones (they stay due until fulfilled). Nothing
    is due before the agreement is reached or once the case is closed.
    """
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise DomainError("days is a whole number, zero or more", field="days",
                          rule="days_non_negative")
    if case.status != "agreement_reached":
        return []
    horizon = today + dt.timedelta(days=days)
    due: list[tuple[str, dt.date]] = []
    window = dt.date.fromisoformat(str(case.confirmation_deadline))
    if case.confirmation is None and today <= window <= horizon:
        due.append(("confirmation_deadline", window))
    for term_id, term in case.terms.items():
        if term["deadline"] is not None and term_id not in case.fulfilled:
            deadline = dt.date.fromisoformat(term["deadline"])
            if deadline <= horizon:
                due.append((f"term:{term_id}", deadline))
    return sorted(due, key=lambda item: (item[1], item[0]))


# -- checks shared by every agreed text ---------------------------------------------


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of the UTF-8 text exactly as stored (no normalisation)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def iso_date(value: object, field: str) -> dt.date:
    """The date, when ``value`` is exactly YYYY-MM-DD (so stored strings sort as dates)."""
    try:
        parsed = dt.date.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.isoformat() != value:
        raise DomainError(f"{field} must be an ISO date (YYYY-MM-DD)", field=field,
                          rule="iso_date")
    return parsed


def bounded_text(value: object, field: str, limit: int, *, required: bool = True) -> str:
    """``value`` when it is text of at most ``limit`` characters (and not blank if required)."""
    if not isinstance(value, str) or (required and not value.strip()):
        raise DomainError(f"{field} must be non-empty text", field=field,
                          rule="text_required")
    if len(value) > limit:
        raise DomainError(f"{field} is longer than {limit} characters", field=field,
                          rule="text_too_long")
    return value


def aware(at: object, field: str) -> dt.datetime:
    """``at`` when it is a timezone-aware datetime (events store it in UTC)."""
    if not isinstance(at, dt.datetime) or at.tzinfo is None:
        raise DomainError(f"{field} must be a timezone-aware datetime", field=field,
                          rule="aware_datetime")
    return at
