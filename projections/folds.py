"""The read models as pure folds: each handler maps one event onto rows.

A handler reads and writes rows only through the :class:`Rows` it is given
(the unit of work of a batch, or anything with the same three methods), and
never does I/O of its own, so the live path and the rebuild-from-zero path
run exactly the same code.

Two projections, each with its own tracking position:

- ``accounts``: communities, accounts (balances, pending, budget), transfers,
  and statements (every entry of every account with its running balance and
  the log index of the event);
- ``reports``: minutes moved per community, month of service, kind, category,
  payer and payee, for organisation reports and the community dashboard.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from projections.civic import CIVIC_SPECS  # conventions, mediation (no cycle: specs)
from projections.store import Key, Table

INT, BIG = "INTEGER", "BIGINT"


class Rows(Protocol):
    """What a fold may do."""

    def get(self, table: str, key: Key) -> dict[str, Any] | None: ...
    def peek(self, table: str, key: Key) -> dict[str, Any] | None: ...
    def put(self, table: str, row: dict[str, Any]) -> None: ...
    def append(self, table: str, row: Mapping[str, Any] | tuple[Any, ...]) -> None: ...


class Seen(NamedTuple):
    """One event as the fold sees it: its name, fields, and place in the log.

    A named tuple, not a frozen dataclass: one is made per event on the
    rebuild path, and a frozen dataclass's ``__init__`` costs several times more."""

    name: str  # "Account.Debited"
    originator_id: str
    version: int
    at: str  # ISO timestamp
    fields: Mapping[str, Any]
    position: int  # notification id
    log_index: int  # leaf index in the verifiable log


Handler = Callable[[Seen, Rows], None]


@dataclass(frozen=True)
class Projection:
    """A named read model: its tables and one handler per event it folds."""

    name: str
    tables: tuple[Table, ...]
    handlers: Mapping[str, Handler]

    def fold(self, seen: Seen, rows: Rows) -> None:
        """Apply one event (events without a handler change nothing)."""
        handler = self.handlers.get(seen.name)
        if handler is not None:
            handler(seen, rows)


def _s(value: Any) -> Any:
    return None if value is None else str(value)


# -- accounts -------------------------------------------------------------------

COMMUNITIES = Table("rm_communities", ("community_id",), ("name", "rules"), {})
ACCOUNTS = Table("rm_accounts", ("account_id",),
                 ("community_id", "kind", "label", "balance", "pending_in", "pending_out",
                  "budget", "erased", "entries", "last_activity"),
                 {"balance": BIG, "pending_in": BIG, "pending_out": BIG, "budget": BIG,
                  "erased": INT, "entries": BIG})
TRANSFERS = Table("rm_transfers", ("transfer_id",),
                  ("community_id", "kind", "state", "debit_account", "credit_account",
                   "minutes", "category", "service_date", "actor", "on_behalf_of", "channel",
                   "expires_at", "recorded_at", "reverses", "reversed_by", "void_reason",
                   "log_index"),
                  {"minutes": BIG, "log_index": BIG})
STATEMENTS = Table("rm_statements", ("account_id", "entry_no"),
                   ("log_index", "at", "event", "transfer_id", "kind", "direction", "phase",
                    "minutes", "counterparty", "category", "service_date", "actor",
                    "on_behalf_of", "channel", "reason", "balance_after",
                    "pending_in_after", "pending_out_after"),
                   {"entry_no": BIG, "log_index": BIG, "minutes": BIG, "balance_after": BIG,
                    "pending_in_after": BIG, "pending_out_after": BIG})


def community_registered(seen: Seen, rows: Rows) -> None:
    """A community and its rules."""
    rows.put("rm_communities", {"community_id": seen.originator_id,
                                "name": seen.fields.get("name"),
                                "rules": json.dumps(seen.fields["rules"], sort_keys=True)})


def rules_changed(seen: Seen, rows: Rows) -> None:
    """New rules for a community."""
    row = rows.get("rm_communities", (seen.originator_id,))
    if row is not None:
        row["rules"] = json.dumps(seen.fields["rules"], sort_keys=True)
        rows.put("rm_communities", row)


def account_opened(seen: Seen, rows: Rows) -> None:
    """A new account with zero balances."""
    _statement(seen, rows, {
        "account_id": seen.originator_id, "community_id": _s(seen.fields["community_id"]),
        "kind": seen.fields["kind"], "label": seen.fields.get("label", ""), "balance": 0,
        "pending_in": 0, "pending_out": 0, "budget": 0, "erased": 0, "entries": 0,
        "last_activity": None})


def account_changed(seen: Seen, rows: Rows) -> None:
    """Budget, erasure or profile: no minutes move."""
    row = rows.get("rm_accounts", (seen.originator_id,))
    if row is None:
        raise LookupError(f"account {seen.originator_id} has no Opened event before this")
    if seen.name == "Account.BudgetSet":
        row["budget"] = seen.fields["budget"]
    elif seen.name == "Account.Erased":
        row["erased"] = 1
    _statement(seen, rows, row)


_PHASES = {"PendingPosted": "settled", "PendingReleased": "released"}


def account_entry(seen: Seen, rows: Rows) -> None:
    """A movement: apply it to the balances and write a statement line."""
    row = rows.get("rm_accounts", (seen.originator_id,))
    if row is None:
        raise LookupError(f"account {seen.originator_id} has no Opened event before this")
    f, kind = seen.fields, seen.name.split(".")[1]
    minutes = int(f["minutes"])
    side = f.get("side") or ("debit" if kind == "Debited" else "credit")
    pending_col = "pending_out" if side == "debit" else "pending_in"
    sign = -1 if side == "debit" else 1
    if kind in ("Debited", "Credited"):
        if f["pending"]:
            row[pending_col] += minutes
        else:
            row["balance"] += sign * minutes
    elif kind == "PendingPosted":
        row[pending_col] -= minutes
        row["balance"] += sign * minutes
    else:  # PendingReleased
        row[pending_col] -= minutes
    row["last_activity"] = seen.at
    phase = _PHASES.get(kind) or ("pending" if f.get("pending") else "posted")
    transfer_id = _s(f["transfer_id"])
    transfer = rows.peek("rm_transfers", (transfer_id,)) or {}
    row["entries"] += 1
    rows.put("rm_accounts", row)
    # The hottest row of a rebuild, so given as values in STATEMENTS' column order.
    rows.append("rm_statements", (
        seen.originator_id, row["entries"], seen.log_index, seen.at, kind, transfer_id,
        _either(f.get("kind"), transfer.get("kind")), side, phase, minutes,
        _s(f.get("counterparty_id")), _either(f.get("category"), transfer.get("category")),
        f.get("service_date"), transfer.get("actor"), transfer.get("on_behalf_of"),
        transfer.get("channel"), f.get("reason"), row["balance"], row["pending_in"],
        row["pending_out"]))


def _either(own: Any, transfers: Any) -> Any:
    """The event's own value, else the transfer's."""
    return own if own is not None else transfers


def _statement(seen: Seen, rows: Rows, account: dict[str, Any]) -> None:
    """Count an entry that moves no minutes on the account row (then saved) and
    append its statement line."""
    account["entries"] += 1
    rows.put("rm_accounts", account)
    rows.append("rm_statements", {
        "account_id": seen.originator_id, "entry_no": account["entries"],
        "log_index": seen.log_index, "at": seen.at, "event": seen.name.split(".")[1],
        "balance_after": account["balance"], "pending_in_after": account["pending_in"],
        "pending_out_after": account["pending_out"]})


def transfer_recorded(seen: Seen, rows: Rows) -> None:
    """A transfer's facts, for statements and lookups."""
    f = seen.fields
    rows.put("rm_transfers", {
        "transfer_id": seen.originator_id, "community_id": _s(f["community_id"]),
        "kind": f["kind"], "state": "pending" if f["pending"] else "posted",
        "debit_account": _s(f["debit_account_id"]), "credit_account": _s(f["credit_account_id"]),
        "minutes": f["minutes"], "category": f["category"], "service_date": f["service_date"],
        "actor": f["actor"], "on_behalf_of": _s(f.get("on_behalf_of")), "channel": f["channel"],
        "expires_at": _s(f.get("expires_at")), "recorded_at": seen.at,
        "reverses": _s(f.get("reverses")), "reversed_by": None, "void_reason": None,
        "log_index": seen.log_index})


def transfer_changed(seen: Seen, rows: Rows) -> None:
    """Posted, voided or reversed."""
    row = rows.get("rm_transfers", (seen.originator_id,))
    if row is None:
        raise LookupError(f"transfer {seen.originator_id} has no Recorded event before this")
    if seen.name == "Transfer.Posted":
        row["state"] = "posted"
    elif seen.name == "Transfer.Voided":
        row["state"], row["void_reason"] = "voided", seen.fields.get("reason")
    else:
        row["reversed_by"] = _s(seen.fields["reversal_id"])
    rows.put("rm_transfers", row)


ACCOUNTS_PROJECTION = Projection(
    "accounts", (COMMUNITIES, ACCOUNTS, TRANSFERS, STATEMENTS), {
        "Community.Registered": community_registered,
        "Community.RulesChanged": rules_changed,
        "Account.Opened": account_opened,
        "Account.BudgetSet": account_changed,
        "Account.Erased": account_changed,
        "Account.ProfileRecorded": account_changed,
        "Account.Debited": account_entry,
        "Account.Credited": account_entry,
        "Account.PendingPosted": account_entry,
        "Account.PendingReleased": account_entry,
        "Transfer.Recorded": transfer_recorded,
        "Transfer.Posted": transfer_changed,
        "Transfer.Voided": transfer_changed,
        "Transfer.Reversed": transfer_changed,
    })

# -- reports ----------------------------------------------------------------------

FLOWS = Table("rm_flows", ("community_id", "month", "kind", "category", "payer", "payee"),
              ("minutes", "transfers"), {"minutes": BIG, "transfers": BIG})
REPORT_TRANSFERS = Table("rm_report_transfers", ("transfer_id",),
                         ("community_id", "month", "kind", "category", "payer", "payee",
                          "minutes"), {"minutes": BIG})


def _flow(rows: Rows, dims: Mapping[str, Any], minutes: int, count: int) -> None:
    row = rows.get("rm_flows", FLOWS.key_of(dims))
    if row is None:
        row = {**dims, "minutes": 0, "transfers": 0}
    row["minutes"] += minutes
    row["transfers"] += count
    rows.put("rm_flows", row)


def report_recorded(seen: Seen, rows: Rows) -> None:
    """Count a posted transfer; remember a pending one; a reversal takes its original back."""
    f = seen.fields
    original = (rows.get("rm_report_transfers", (_s(f["reverses"]),))
                if f.get("reverses") else None)
    dims = {k: original[k] for k in FLOWS.keys} if original else {
        "community_id": _s(f["community_id"]), "month": f["service_date"][:7],
        "kind": f["kind"], "category": f["category"], "payer": _s(f["debit_account_id"]),
        "payee": _s(f["credit_account_id"])}
    rows.put("rm_report_transfers", {"transfer_id": seen.originator_id, **dims,
                                     "minutes": f["minutes"]})
    if original is not None:
        _flow(rows, dims, -int(f["minutes"]), -1)
    elif not f["pending"]:
        _flow(rows, dims, int(f["minutes"]), 1)


def report_posted(seen: Seen, rows: Rows) -> None:
    """A pending credit now counts."""
    row = rows.get("rm_report_transfers", (seen.originator_id,))
    if row is None:
        raise LookupError(f"transfer {seen.originator_id} has no Recorded event before this")
    _flow(rows, {k: row[k] for k in FLOWS.keys}, int(row["minutes"]), 1)


REPORTS_PROJECTION = Projection(
    "reports", (FLOWS, REPORT_TRANSFERS), {
        "Transfer.Recorded": report_recorded,
        "Transfer.Posted": report_posted,
    })

PROJECTIONS: tuple[Projection, ...] = (ACCOUNTS_PROJECTION, REPORTS_PROJECTION,
                                      *(Projection(*spec) for spec in CIVIC_SPECS))
