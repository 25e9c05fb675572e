"""Questions answered from the read models, never by replaying aggregates.

Every answer here comes from the projection tables. ``fresh(...)`` gives
read-your-writes: it catches the projections up to the log position seen when
the request began (folding inline when no worker got there first), bounded by
the batch size, so a write acknowledged before a read is always in it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from domain.errors import NotFound, ProjectionStopped
from domain.rules import CommunityRules
from ledger.application import TimeBank
from projections.runner import Projector
from projections.store import SqlViews

STATEMENT_COLUMNS = ("entry_no", "at", "log_index", "event", "transfer_id", "kind",
                     "direction", "phase", "minutes", "counterparty", "category",
                     "service_date", "actor", "on_behalf_of", "channel", "reason",
                     "balance_after",
                     "pending_in_after", "pending_out_after")


class ReadModels:
    """Balances, statements, reports and dashboards."""

    def __init__(self, bank: TimeBank) -> None:
        self.bank = bank
        self.views = SqlViews(bank.datastore, bank.database.backend, bank.database.pg_schema,
                              bank.reads)
        self.projector = Projector(bank, self.views)
        if bank.database.create_tables:  # else made at deploy time (civic-ledger migrate)
            self.projector.create_tables()

    def fresh(self, *names: str) -> None:
        """Catch the named projections up to the log as it is now."""
        target, positions = self.projector.status()
        for name in names or tuple(positions):
            p = positions[name]
            if p.failed_at is not None:
                raise ProjectionStopped(f"read model {name!r} stopped at event {p.failed_at}:"
                                        f" {p.error}; fix it and run civic-ledger rebuild")
        if any(positions[n].position < target for n in names or tuple(positions)):
            self.projector.catch_up(target)

    # -- accounts and statements -----------------------------------------------------

    def account(self, account_id: UUID) -> dict[str, Any]:
        """Balances and limits of one account (O(1): one row and its community).

        The hottest read, so one SQL statement when the model is already caught
        up: the row comes back with the log's head and the projection's
        position, from the same snapshot; only when it is behind (or stopped)
        is it caught up (:meth:`fresh`) and the row read again."""
        head = self.projector.head_sql()
        if head is None:  # events in memory: no head to read beside the row
            self.fresh("accounts")
        row = self._account_row(account_id, head or "NULL")
        if head is not None and (row is None or row["seen_failed"] is not None
                                 or int(row["seen_position"]) < int(row["seen_head"] or 0)):
            self.fresh("accounts")
            row = self._account_row(account_id, head)
        if row is None or row["account_id"] is None:
            raise NotFound(f"no account {account_id}", field="account")
        return _account_view(row)

    def _account_row(self, account_id: UUID, head: str) -> dict[str, Any] | None:
        rows = self.views.query(
            f"SELECT a.*, c.rules, p.position AS seen_position, "
            f"p.failed_at AS seen_failed, ({head}) AS seen_head "
            "FROM {p}projection_positions p "
            "LEFT JOIN {p}rm_accounts a ON a.account_id = ? "
            "LEFT JOIN {p}rm_communities c ON c.community_id = a.community_id "
            "WHERE p.name = 'accounts'", (str(account_id),))
        return rows[0] if rows else None

    def statement(self, account_id: UUID, *, before: int | None = None,
                  limit: int = 50) -> dict[str, Any]:
        """Entries newest first; ``next`` is the ``before`` of the following page.

        Entry numbers only grow, so a page never shifts when new entries arrive."""
        self.account(account_id)
        params: list[Any] = [str(account_id)]
        clause = ""
        if before is not None:
            clause, params = " AND entry_no < ?", params + [before]
        rows = self.views.query(
            f"SELECT * FROM {{p}}rm_statements WHERE account_id = ?{clause} "
            "ORDER BY entry_no DESC LIMIT ?", params + [limit])
        entries = [{c: r.get(c) for c in STATEMENT_COLUMNS} for r in rows]
        more = bool(rows) and rows[-1]["entry_no"] > 1
        return {"account": str(account_id), "entries": entries,
                "next": rows[-1]["entry_no"] if more else None}

    def balance_as_of(self, account_id: UUID, *, at: dt.datetime | None = None,
                      log_index: int | None = None) -> dict[str, Any]:
        """Posted and pending balances after the last entry at or before a time or
        log index (zero before the account's first entry)."""
        self.account(account_id)
        column, value = ("log_index", log_index) if log_index is not None else (
            "at", (at or dt.datetime.now(dt.UTC)).isoformat())
        rows = self.views.query(
            f"SELECT entry_no, log_index, at, balance_after, pending_in_after, "
            f"pending_out_after FROM {{p}}rm_statements WHERE account_id = ? AND {column} <= ? "
            "ORDER BY entry_no DESC LIMIT 1", (str(account_id), value))
        row = rows[0] if rows else {}
        return {"account": str(account_id), "as_of": {column: value},
                "balance": row.get("balance_after", 0),
                "pending_in": row.get("pending_in_after", 0),
                "pending_out": row.get("pending_out_after", 0),
                "entry_no": row.get("entry_no"), "log_index": row.get("log_index")}

    def expired_pending(self, now: dt.datetime) -> list[UUID]:
        """Pending credits past their expiry (candidates for the expiry sweep)."""
        self.fresh("accounts")
        rows = self.views.query("SELECT transfer_id, expires_at FROM {p}rm_transfers "
                                "WHERE state = 'pending' AND expires_at IS NOT NULL")
        return [UUID(r["transfer_id"]) for r in rows
                if dt.datetime.fromisoformat(r["expires_at"]) <= now]

    def expire_pending(self) -> list[UUID]:
        """The expiry sweep: void every pending credit past its expiry."""
        return self.bank.expire_pending(self.expired_pending(self.bank.clock()))

    # -- reports ------------------------------------------------------------------------

    def organisation_report(self, org_id: UUID) -> dict[str, Any]:
        """Hours credited by month, category and volunteer; budget used."""
        account = self.account(org_id)
        if account["kind"] != "organisation":
            raise NotFound(f"no organisation {org_id}", field="organisation")
        self.fresh("reports")
        rows = self.views.query(
            "SELECT month, category, payee AS volunteer, minutes, transfers FROM {p}rm_flows "
            "WHERE payer = ? AND kind = 'service_credit' AND transfers <> 0 "
            "ORDER BY month, category, payee", (str(org_id),))
        return {"organisation": str(org_id), "budget": account["limits"]["budget"],
                "budget_used": -account["balance"], "pending": account["pending_out"],
                "rows": rows, "total_minutes": sum(r["minutes"] for r in rows)}

    def dashboard(self, community_id: UUID, today: dt.date | None = None) -> dict[str, Any]:
        """Activity, monthly flows, liability against recent redemptions, the pool."""
        self.fresh()
        today = today or dt.datetime.now(dt.UTC).date()
        since = (today - dt.timedelta(days=90)).isoformat()
        members = self.views.query(
            "SELECT COUNT(*) AS total, SUM(CASE WHEN last_activity >= ? THEN 1 ELSE 0 END) "
            "AS active, SUM(balance) AS liability FROM {p}rm_accounts "
            "WHERE community_id = ? AND kind = 'member'", (since, str(community_id)))[0]
        pool = self.views.query("SELECT balance FROM {p}rm_accounts WHERE community_id = ? "
                                "AND kind = 'pool'", (str(community_id),))
        if not pool:
            raise NotFound(f"no community {community_id}", field="community")
        flows = self.views.query(
            "SELECT month, kind, category, SUM(minutes) AS minutes FROM {p}rm_flows "
            "WHERE community_id = ? GROUP BY month, kind, category", (str(community_id),))
        return _dashboard(members, pool[0]["balance"], flows, today)

    def lag(self) -> dict[str, dict[str, Any]]:
        """Per projection: events behind the log, and any failure."""
        return self.projector.lag()


def _account_view(row: dict[str, Any]) -> dict[str, Any]:
    rules = CommunityRules.from_dict(json.loads(row["rules"]))
    kind, budget = row["kind"], int(row["budget"])
    floor = {"member": rules.member_min_balance, "organisation": -budget, "pool": 0}.get(kind)
    limits: dict[str, Any] = {"min_balance": floor,
                              "max_balance": rules.member_max_balance if kind == "member"
                              else None, "rules_version": rules.version}
    if kind == "member":
        limits.update(daily_earning_cap=rules.daily_earning_cap,
                      max_minutes_per_record=rules.max_minutes_per_record)
    if kind == "organisation":
        limits["budget"] = budget
    balance, pending_out = int(row["balance"]), int(row["pending_out"])
    return {"id": row["account_id"], "kind": kind, "community_id": row["community_id"],
            "label": row["label"], "balance": balance, "pending_in": int(row["pending_in"]),
            "pending_out": pending_out,
            "available": None if floor is None else balance - pending_out - floor,
            "limits": limits, "erased": bool(row["erased"])}


def _dashboard(members: dict[str, Any], pool: int, flows: list[dict[str, Any]],
               today: dt.date) -> dict[str, Any]:
    months: dict[str, dict[str, int]] = {}
    categories: dict[str, int] = {}
    for f in flows:
        slot = months.setdefault(f["month"], {"earned": 0, "redeemed": 0})
        if f["kind"] == "service_credit":
            slot["earned"] += int(f["minutes"])
            categories[f["category"]] = categories.get(f["category"], 0) + int(f["minutes"])
        elif f["kind"] == "redemption":
            slot["redeemed"] += int(f["minutes"])
    first_month = (today - dt.timedelta(days=90)).strftime("%Y-%m")
    redeemed_90 = sum(v["redeemed"] for m, v in months.items() if m >= first_month)
    liability = int(members["liability"] or 0)
    return {"members": int(members["total"] or 0),
            "active_members_90_days": int(members["active"] or 0),
            "months": [{"month": m, **v} for m, v in sorted(months.items())],
            "outstanding_minutes": liability,
            "redeemed_minutes_90_days": redeemed_90,
            # How many days of redemptions, at the last 90 days' pace, the stored
            # credits amount to: "easy to store, hard to redeem" shows as this growing.
            "outstanding_days_of_redemption": liability * 90 // redeemed_90
            if redeemed_90 else None,
            "pool_balance": pool,
            "top_categories": [{"category": c, "minutes": m} for c, m in sorted(
                categories.items(), key=lambda kv: -kv[1])[:5]]}


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV text with a header line (for coordinators' spreadsheets)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return out.getvalue()
