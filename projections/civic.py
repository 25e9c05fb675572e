"""Civic read models as pure folds: conventions with pledge counts, cases with deadlines.

Two projections, each with its own tracking position:

- ``conventions``: every convention version (text, hash, adoption, filing,
  status) with its open, withdrawn and renewed pledge counts; every pledge and
  its check-ins. Whether an open pledge is active, due for renewal or lapsed
  is read off its version's status at query time (``projections.civic_queries``).
- ``mediation``: one row per case (status, mediators, terms), who takes part
  (for "by mediator" and "a member's own" questions), every event of a case
  with its log index (the case history), and each deadline with whether it is
  still open: the confirmation window until someone applies, each term with a
  deadline until it is fulfilled, nothing once the case is closed.

Sealed texts stay sealed here; only the queries open them, for callers allowed
to read them. This module does not import ``projections.folds`` at run time
(folds imports it to list every projection), so it exports *specs*, which
``folds`` turns into :class:`~projections.folds.Projection` objects.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.civic_context import sealed_digest
from projections.store import Table

if TYPE_CHECKING:
    from projections.folds import Rows, Seen

Handler = Callable[["Seen", "Rows"], None]
Spec = tuple[str, tuple[Table, ...], Mapping[str, Handler]]
INT, BIG = "INTEGER", "BIGINT"

CONVENTIONS = Table("rm_conventions", ("convention_id",), (
    "community_id", "lineage_id", "version_number", "previous_version_id", "scope",
    "scope_ref", "title", "text", "text_sha256", "effective_date", "status", "adoption",
    "filing", "superseded_by", "superseded_on", "retired_on", "retirement_reason",
    "open_pledges", "withdrawn_pledges", "renewed_pledges", "drafted_at",
    "drafted_log_index", "adopted_log_index", "filed_log_index", "ended_log_index"),
    {"version_number": INT, "open_pledges": BIG, "withdrawn_pledges": BIG,
     "renewed_pledges": BIG, "drafted_log_index": BIG, "adopted_log_index": BIG,
     "filed_log_index": BIG, "ended_log_index": BIG})
PLEDGES = Table("rm_pledges", ("pledge_id",), (
    "member_account_id", "community_id", "convention_id", "convention_version", "channel",
    "actor", "paper_form_number", "pledged_at", "renews", "renewed_by", "withdrawn_reason",
    "withdrawn_at", "check_ins", "kept_days", "log_index"),
    {"convention_version": INT, "check_ins": BIG, "kept_days": BIG, "log_index": BIG})
CHECK_INS = Table("rm_pledge_check_ins", ("pledge_id", "date"),
                  ("kept", "note", "reported_at", "log_index"),
                  {"kept": INT, "log_index": BIG})
CASES = Table("rm_cases", ("case_id",), (
    "community_id", "case_number", "committee", "mediators", "parties", "dispute_type",
    "hearing", "status", "outcome", "terms", "effective_on", "confirmation_deadline",
    "registered_at", "updated_at", "log_index"), {"log_index": BIG})
CASE_ROLES = Table("rm_case_roles", ("case_id", "role", "who"), ("log_index",),
                   {"log_index": BIG})
CASE_EVENTS = Table("rm_case_events", ("case_id", "seq"),
                    ("log_index", "at", "event", "actor", "details"),
                    {"seq": BIG, "log_index": BIG})
DEADLINES = Table("rm_case_deadlines", ("case_id", "item"),
                  ("community_id", "term_id", "due_on", "open"), {"open": INT})


def plain(value: Any) -> Any:
    """``value`` with ids and times as text, ready for JSON."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _json(value: Any) -> str:
    return json.dumps(plain(value), sort_keys=True)


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _row(rows: Rows, table: str, key: str, what: str) -> dict[str, Any]:
    row = rows.get(table, (key,))
    if row is None:
        raise LookupError(f"{what} {key} has no creating event before this one")
    return row


# -- conventions and pledges ----------------------------------------------------------


def convention_drafted(seen: Seen, rows: Rows) -> None:
    """A new version, as a draft."""
    f = seen.fields
    rows.put("rm_conventions", {
        "convention_id": seen.originator_id, "community_id": _s(f["community_id"]),
        "lineage_id": _s(f["lineage_id"]), "version_number": f["version_number"],
        "previous_version_id": _s(f["previous_version_id"]), "scope": f["scope"],
        "scope_ref": f["scope_ref"], "title": f["title"], "text": f["text"],
        "text_sha256": f["text_sha256"], "effective_date": f["effective_date"],
        "status": "draft", "open_pledges": 0, "withdrawn_pledges": 0, "renewed_pledges": 0,
        "drafted_at": seen.at, "drafted_log_index": seen.log_index})


def convention_changed(seen: Seen, rows: Rows) -> None:
    """Adopted, filed, superseded or retired."""
    row = _row(rows, "rm_conventions", seen.originator_id, "convention")
    f, event = seen.fields, seen.name.split(".")[1]
    if event == "Adopted":
        row.update(status="adopted", adopted_log_index=seen.log_index,
                   adoption=_json({k: v for k, v in f.items() if k != "actor"}))
    elif event == "Filed":
        row.update(filed_log_index=seen.log_index,
                   filing=_json({k: v for k, v in f.items() if k != "actor"}))
    elif event == "Superseded":
        row.update(status="superseded", superseded_by=_s(f["superseded_by"]),
                   superseded_on=f["superseded_on"], ended_log_index=seen.log_index)
    else:
        row.update(status="retired", retired_on=f["retired_on"],
                   retirement_reason=f["reason"], ended_log_index=seen.log_index)
    rows.put("rm_conventions", row)


def pledge_made(seen: Seen, rows: Rows) -> None:
    """A pledge to one version; it counts as open on that version."""
    f = seen.fields
    rows.put("rm_pledges", {
        "pledge_id": seen.originator_id, "member_account_id": _s(f["member_account_id"]),
        "community_id": _s(f["community_id"]), "convention_id": _s(f["convention_id"]),
        "convention_version": f["convention_version"], "channel": f["channel"],
        "actor": f["actor"], "paper_form_number": f["paper_form_number"],
        "pledged_at": plain(f["pledged_at"]), "renews": _s(f["renews"]), "check_ins": 0,
        "kept_days": 0, "log_index": seen.log_index})
    _count(rows, _s(f["convention_id"]) or "", {"open_pledges": 1})


def pledge_changed(seen: Seen, rows: Rows) -> None:
    """Withdrawn or renewed: no longer open; counted as such."""
    row = _row(rows, "rm_pledges", seen.originator_id, "pledge")
    if seen.name == "Pledge.Withdrawn":
        row.update(withdrawn_reason=seen.fields["reason"],
                   withdrawn_at=plain(seen.fields["withdrawn_at"]))
        change = {"open_pledges": -1, "withdrawn_pledges": 1}
    else:
        row["renewed_by"] = _s(seen.fields["new_pledge_id"])
        change = {"open_pledges": -1, "renewed_pledges": 1}
    rows.put("rm_pledges", row)
    _count(rows, row["convention_id"], change)


def pledge_checked_in(seen: Seen, rows: Rows) -> None:
    """A member's self-report for one day."""
    f = seen.fields
    row = _row(rows, "rm_pledges", seen.originator_id, "pledge")
    row["check_ins"] += 1
    row["kept_days"] += 1 if f["kept"] else 0
    rows.put("rm_pledges", row)
    rows.append("rm_pledge_check_ins", {
        "pledge_id": seen.originator_id, "date": f["date"], "kept": int(bool(f["kept"])),
        "note": f["note"], "reported_at": plain(f["reported_at"]),
        "log_index": seen.log_index})


def _count(rows: Rows, convention_id: str, change: Mapping[str, int]) -> None:
    row = _row(rows, "rm_conventions", convention_id, "convention")
    for column, delta in change.items():
        row[column] += delta
    rows.put("rm_conventions", row)


# -- mediation cases ----------------------------------------------------------------------

_STATUS = {"Accepted": "accepted", "MediationStarted": "in_mediation",
           "PartyRefused": "failed", "MediationFailed": "failed", "Withdrawn": "withdrawn"}
_ACTOR_FIELDS = ("actor", "recorded_by", "mediator")


def case_registered(seen: Seen, rows: Rows) -> None:
    """A new case, who mediates it and which members are parties."""
    f = seen.fields
    parties = [{"id": p["party_id"], "kind": p["kind"]} for p in f["parties"]]
    rows.put("rm_cases", {
        "case_id": seen.originator_id, "community_id": _s(f["community_id"]),
        "case_number": f["case_number"], "committee": f["committee"],
        "mediators": _json(f["mediators"]), "parties": _json(parties),
        "dispute_type": f["dispute_type"], "hearing": f["hearing"], "status": "registered",
        "terms": "[]", "registered_at": plain(f["registered_at"]), "updated_at": seen.at,
        "log_index": seen.log_index})
    people = [("mediator", m) for m in f["mediators"]] + [
        ("party", p["id"]) for p in parties if p["kind"] == "member"]
    for role, who in people:
        rows.append("rm_case_roles", {"case_id": seen.originator_id, "role": role,
                                      "who": who, "log_index": seen.log_index})
    _history(seen, rows)


def case_changed(seen: Seen, rows: Rows) -> None:
    """Any later event: its status effect, its deadlines effect, its history line."""
    row = _row(rows, "rm_cases", seen.originator_id, "mediation case")
    event, f = seen.name.split(".")[1], seen.fields
    row["updated_at"] = seen.at
    if event in _STATUS:
        row["status"] = _STATUS[event]
    elif event == "AgreementDrafted":
        row["terms"] = _json([{"term_id": t["term_id"], "deadline": t["deadline"]}
                              for t in f["terms"]])
    elif event == "AgreementReached":
        row.update(status="agreement_reached", effective_on=f["effective_on"],
                   confirmation_deadline=f["confirmation_deadline"])
        _open_deadlines(row, rows)
    elif event == "ConfirmationApplied":
        _close_deadline(rows, row["case_id"], "confirmation_deadline")
    elif event == "TermFulfilled":
        _close_deadline(rows, row["case_id"], f"term:{f['term_id']}")
    elif event == "Closed":
        row.update(outcome=row["status"], status="closed")
        for item, _, _ in _deadline_items(row):
            _close_deadline(rows, row["case_id"], item)
    rows.put("rm_cases", row)
    _history(seen, rows)


def _deadline_items(case: Mapping[str, Any]) -> list[tuple[str, str | None, str | None]]:
    terms = [(f"term:{t['term_id']}", t["term_id"], t["deadline"])
             for t in json.loads(case["terms"]) if t["deadline"] is not None]
    return [("confirmation_deadline", None, case.get("confirmation_deadline")), *terms]


def _open_deadlines(case: Mapping[str, Any], rows: Rows) -> None:
    for item, term_id, due_on in _deadline_items(case):
        rows.put("rm_case_deadlines", {"case_id": case["case_id"], "item": item,
                                       "community_id": case["community_id"],
                                       "term_id": term_id, "due_on": due_on, "open": 1})


def _close_deadline(rows: Rows, case_id: str, item: str) -> None:
    row = rows.get("rm_case_deadlines", (case_id, item))
    if row is not None and row["open"]:
        row["open"] = 0
        rows.put("rm_case_deadlines", row)


def _history(seen: Seen, rows: Rows) -> None:
    fields = {k: v for k, v in seen.fields.items()
              if k not in (*_ACTOR_FIELDS, "originator_topic")}
    if "text_sha256" in fields:  # the domain hashes the sealed text the parties sign
        fields["sealed_sha256"] = fields.pop("text_sha256")
    if seen.name == "MediationCase.AgreementDrafted":
        fields["text_sha256"] = sealed_digest(fields["text"])
    actor = next((seen.fields[k] for k in _ACTOR_FIELDS if seen.fields.get(k)), None)
    rows.append("rm_case_events", {
        "case_id": seen.originator_id, "seq": seen.version, "log_index": seen.log_index,
        "at": seen.at, "event": seen.name.split(".")[1], "actor": actor,
        "details": _json(fields)})


_CASE_EVENTS = ("Accepted", "MediationStarted", "ParticipantInvited", "PartyRefused",
                "MediationFailed", "Withdrawn", "AgreementDrafted", "PartySigned",
                "MediatorSigned", "AgreementReached", "ConfirmationApplied",
                "ConfirmationDecided", "FollowedUp", "TermBreached", "TermFulfilled", "Closed")

CONVENTIONS_SPEC: Spec = ("conventions", (CONVENTIONS, PLEDGES, CHECK_INS), {
    "Convention.Drafted": convention_drafted,
    **{f"Convention.{e}": convention_changed
       for e in ("Adopted", "Filed", "Superseded", "Retired")},
    "Pledge.Made": pledge_made,
    "Pledge.Withdrawn": pledge_changed,
    "Pledge.Renewed": pledge_changed,
    "Pledge.CheckedIn": pledge_checked_in,
})
MEDIATION_SPEC: Spec = ("mediation", (CASES, CASE_ROLES, CASE_EVENTS, DEADLINES), {
    "MediationCase.Registered": case_registered,
    **{f"MediationCase.{e}": case_changed for e in _CASE_EVENTS},
})
CIVIC_SPECS: tuple[Spec, ...] = (CONVENTIONS_SPEC, MEDIATION_SPEC)
"""(name, tables, handlers) of each civic projection; ``projections.folds`` lists them."""
