"""Questions about conventions, pledges and mediation cases, answered from the read models.

Every answer first catches its projection up to the log as it is now
(``ReadModels.fresh``), so a write acknowledged before a read is in it. Two
rules of the domain are *read* here from the folded rows and are tested to
agree with the domain's own functions (``tests/service/test_civic.py``):
what an open pledge means given its version's status
(``domain.conventions.pledge_status``), and what falls due by a horizon
(``domain.agreements.deadlines_due``: the confirmation window while nobody has
applied and it has not passed, every unfulfilled term deadline including
overdue ones, only while the agreement stands and the case is not closed).

Sealed texts in a case's history are opened only when the caller may read
them (``reveal_text``); otherwise they are left out.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from uuid import UUID

from domain.errors import DomainError, NotFound
from ledger.civic_context import is_sealed, open_sealed
from projections.queries import ReadModels

Row = dict[str, Any]
OPEN_STATUSES = ("registered", "accepted", "in_mediation", "agreement_reached", "failed",
                 "withdrawn")


class CivicQueries:
    """Conventions with their versions and pledge counts; a member's pledges; cases."""

    def __init__(self, models: ReadModels) -> None:
        self.models = models
        self.views = models.views

    # -- conventions ----------------------------------------------------------------

    def conventions(self, *, community: UUID | None = None,
                    status: str | None = None) -> list[Row]:
        """Every version (newest lineage first), without texts, with pledge counts."""
        self.models.fresh("conventions")
        where, params = _filters(("community_id", community), ("status", status))
        rows = self.views.query(f"SELECT * FROM {{p}}rm_conventions{where} "
                                "ORDER BY drafted_at DESC, version_number DESC", params)
        return [_convention(row, text=False) for row in rows]

    def convention(self, convention_id: UUID) -> Row:
        """One version with its text, hash, pledge counts and every version of it."""
        self.models.fresh("conventions")
        found = self.views.query("SELECT * FROM {p}rm_conventions WHERE convention_id = ?",
                                 (str(convention_id),))
        if not found:
            raise NotFound(f"no convention {convention_id}", field="convention")
        versions = self.views.query(
            "SELECT convention_id, version_number, status, text_sha256, effective_date "
            "FROM {p}rm_conventions WHERE lineage_id = ? ORDER BY version_number",
            (found[0]["lineage_id"],))
        return {**_convention(found[0], text=True), "versions": [
            {"id": v["convention_id"], "version": v["version_number"], "status": v["status"],
             "text_sha256": v["text_sha256"], "effective_date": v["effective_date"]}
            for v in versions]}

    # -- pledges ----------------------------------------------------------------------

    def pledges(self, *, member: UUID | None = None,
                convention: UUID | None = None) -> list[Row]:
        """Pledges (a member's, or a version's) in log order, with what each means now."""
        self.models.fresh("conventions")
        where, params = _filters(("p.member_account_id", member),
                                 ("p.convention_id", convention))
        rows = self.views.query(
            "SELECT p.*, c.status AS convention_status, c.title AS convention_title "
            f"FROM {{p}}rm_pledges p JOIN {{p}}rm_conventions c "
            f"ON c.convention_id = p.convention_id{where} "
            "ORDER BY p.log_index", params)
        return [_pledge(row) for row in rows]

    def pledge(self, pledge_id: UUID) -> Row:
        """One pledge with its check-ins."""
        self.models.fresh("conventions")
        rows = self.views.query(
            "SELECT p.*, c.status AS convention_status, c.title AS convention_title "
            "FROM {p}rm_pledges p JOIN {p}rm_conventions c "
            "ON c.convention_id = p.convention_id WHERE p.pledge_id = ?", (str(pledge_id),))
        if not rows:
            raise NotFound(f"no pledge {pledge_id}", field="pledge")
        check_ins = self.views.query(
            "SELECT date, kept, note FROM {p}rm_pledge_check_ins WHERE pledge_id = ? "
            "ORDER BY date", (str(pledge_id),))
        return {**_pledge(rows[0]), "check_ins": [
            {"date": c["date"], "kept": bool(c["kept"]), "note": c["note"]}
            for c in check_ins]}

    # -- mediation -----------------------------------------------------------------------

    def cases(self, *, status: str | None = None, mediator: str | None = None,
              party: UUID | None = None, community: UUID | None = None) -> Row:
        """Cases not closed (or in ``status``), with counts by status and mediator."""
        self.models.fresh("mediation")
        people = [(role, str(who)) for role, who in (("mediator", mediator),
                                                     ("party", party)) if who is not None]
        where, params = _filters(
            ("c.community_id", community), ("c.status", status),
            extra=(("c.status <> 'closed'",) if status is None else ()) + tuple(
                "EXISTS (SELECT 1 FROM {p}rm_case_roles r WHERE r.case_id = c.case_id "
                "AND r.role = ? AND r.who = ?)" for _ in people))
        params += [value for pair in people for value in pair]
        rows = self.views.query(f"SELECT * FROM {{p}}rm_cases c{where} "
                                "ORDER BY c.registered_at, c.case_number", params)
        cases = [_case(row) for row in rows]
        counts: dict[tuple[str, str], int] = {}
        for case in cases:
            for who in case["mediators"]:
                counts[(case["status"], who)] = counts.get((case["status"], who), 0) + 1
        return {"cases": cases, "counts": [
            {"status": s, "mediator": m, "cases": n} for (s, m), n in sorted(counts.items())]}

    def deadlines(self, *, today: dt.date, days: int = 7,
                  community: UUID | None = None) -> list[Row]:
        """What falls due by ``today + days``, earliest first (overdue terms included)."""
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise DomainError("days is a whole number, zero or more", field="days",
                              rule="days_non_negative")
        self.models.fresh("mediation")
        horizon = (today + dt.timedelta(days=days)).isoformat()
        where, params = _filters(("c.community_id", community), extra=(
            "d.open = 1", "c.status = 'agreement_reached'", "d.due_on <= ?",
            "(d.term_id IS NOT NULL OR d.due_on >= ?)"))
        rows = self.views.query(
            "SELECT d.*, c.case_number, c.mediators FROM {p}rm_case_deadlines d "
            f"JOIN {{p}}rm_cases c ON c.case_id = d.case_id{where} ORDER BY d.due_on, d.item",
            [*params, horizon, today.isoformat()])
        return [{"case": r["case_id"], "case_number": r["case_number"],
                 "community": r["community_id"], "item": r["item"],
                 "kind": "term" if r["term_id"] else "confirmation",
                 "term_id": r["term_id"], "due_on": r["due_on"],
                 "overdue": r["due_on"] < today.isoformat(),
                 "mediators": json.loads(r["mediators"])} for r in rows]

    def history(self, case_id: UUID, *, reveal_text: bool) -> list[Row]:
        """Every event of the case with its log index; sealed texts opened or left out."""
        self.models.fresh("mediation")
        rows = self.views.query("SELECT * FROM {p}rm_case_events WHERE case_id = ? "
                                "ORDER BY seq", (str(case_id),))
        if not rows:
            raise NotFound(f"no mediation case {case_id}", field="case")
        personal = self.models.bank.personal
        entries = []
        for row in rows:
            details = {}
            for key, value in json.loads(row["details"]).items():
                if not is_sealed(value):
                    details[key] = value
                elif reveal_text:
                    details[key] = open_sealed(personal, case_id, value)
            entries.append({"seq": row["seq"], "log_index": row["log_index"],
                            "at": row["at"], "event": row["event"], "actor": row["actor"],
                            "details": details})
        return entries

    def agreement_log(self, case_id: UUID) -> Row:
        """Log indexes of the agreement in force: its draft, each mark, its effect."""
        entries = self.history(case_id, reveal_text=False)
        drafted = [e for e in entries if e["event"] == "AgreementDrafted"]
        if not drafted:
            raise NotFound(f"case {case_id} has no agreement", field="agreement")
        since = [e for e in entries if e["seq"] >= drafted[-1]["seq"]]
        return {"drafted": drafted[-1]["log_index"],
                "parties": {e["details"]["party_id"]: e["log_index"] for e in since
                            if e["event"] == "PartySigned"},
                "mediator": next((e["log_index"] for e in since
                                  if e["event"] == "MediatorSigned"), None),
                "reached": next((e["log_index"] for e in since
                                 if e["event"] == "AgreementReached"), None)}


def _filters(*pairs: tuple[str, Any], extra: tuple[str, ...] = ()
             ) -> tuple[str, list[Any]]:
    """`` WHERE column = ? AND ...`` for the pairs whose value is given, plus ``extra``."""
    given = [(column, str(value)) for column, value in pairs if value is not None]
    clauses = [f"{column} = ?" for column, _ in given] + list(extra)
    return ((" WHERE " + " AND ".join(clauses)) if clauses else ""), [v for _, v in given]


def _convention(row: Row, *, text: bool) -> Row:
    open_, status = int(row["open_pledges"]), row["status"]
    view = {
        "id": row["convention_id"], "community": row["community_id"],
        "lineage": row["lineage_id"], "version": row["version_number"],
        "previous_version": row["previous_version_id"], "scope": row["scope"],
        "scope_ref": row["scope_ref"], "title": row["title"],
        "text_sha256": row["text_sha256"], "effective_date": row["effective_date"],
        "status": status, "adoption": _loads(row["adoption"]),
        "filing": _loads(row["filing"]), "superseded_by": row["superseded_by"],
        "superseded_on": row["superseded_on"], "retired_on": row["retired_on"],
        "retirement_reason": row["retirement_reason"],
        "pledges": {"active": open_ if status == "adopted" else 0,
                    "renewal_due": open_ if status == "superseded" else 0,
                    "lapsed": open_ if status == "retired" else 0,
                    "withdrawn": int(row["withdrawn_pledges"]),
                    "renewed": int(row["renewed_pledges"])},
        "log": {"drafted": row["drafted_log_index"], "adopted": row["adopted_log_index"],
                "filed": row["filed_log_index"], "ended": row["ended_log_index"]}}
    if text:
        view["text"] = row["text"]
    return view


def _pledge(row: Row) -> Row:
    status = ("withdrawn" if row["withdrawn_reason"] is not None
              else "renewed" if row["renewed_by"] is not None
              else {"superseded": "renewal_due", "retired": "lapsed"}.get(
                  row["convention_status"], "active"))
    return {"id": row["pledge_id"], "member": row["member_account_id"],
            "community": row["community_id"], "convention": row["convention_id"],
            "convention_title": row["convention_title"],
            "convention_version": row["convention_version"], "status": status,
            "channel": row["channel"], "actor": row["actor"],
            "paper_form_number": row["paper_form_number"], "pledged_at": row["pledged_at"],
            "renews": row["renews"], "renewed_by": row["renewed_by"],
            "withdrawn_reason": row["withdrawn_reason"],
            "check_in_count": int(row["check_ins"]), "kept_days": int(row["kept_days"]),
            "log_index": row["log_index"]}


def _case(row: Row) -> Row:
    return {"id": row["case_id"], "community": row["community_id"],
            "case_number": row["case_number"], "committee": row["committee"],
            "status": row["status"], "outcome": row["outcome"],
            "mediators": json.loads(row["mediators"]), "parties": json.loads(row["parties"]),
            "dispute_type": row["dispute_type"], "hearing": row["hearing"],
            "registered_at": row["registered_at"], "updated_at": row["updated_at"],
            "effective_on": row["effective_on"],
            "confirmation_deadline": row["confirmation_deadline"]}


def _loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)
