"""The account folds on their own: events in, rows out, no storage.

The rows go into a fake :class:`Rows` kept in dicts, so a statement line is
checked column by column (the fold writes statement lines as value tuples in
the table's column order; a column out of place shows here by name)."""

from __future__ import annotations

from typing import Any

from projections.folds import ACCOUNTS_PROJECTION, REPORTS_PROJECTION, STATEMENTS, Seen
from projections.store import Key

ORG, MEMBER, COMMUNITY = "o-1", "m-1", "c-1"
TRANSFER = "t-1"


class DictRows:
    """A fake unit of work: tables as dicts, appended rows as lists of dicts."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Key, dict[str, Any]]] = {}
        self.appended: dict[str, list[dict[str, Any]]] = {}
        self.keys = {t.name: t for p in (ACCOUNTS_PROJECTION, REPORTS_PROJECTION)
                     for t in p.tables}

    def get(self, table: str, key: Key) -> dict[str, Any] | None:
        row = self.tables.get(table, {}).get(key)
        return dict(row) if row is not None else None

    def peek(self, table: str, key: Key) -> dict[str, Any] | None:
        return self.tables.get(table, {}).get(key)

    def put(self, table: str, row: dict[str, Any]) -> None:
        self.tables.setdefault(table, {})[self.keys[table].key_of(row)] = row

    def append(self, table: str, row: Any) -> None:
        columns = self.keys[table].all_columns
        if isinstance(row, tuple):
            assert len(row) == len(columns), "a value for every column"
            row = dict(zip(columns, row))
        self.appended.setdefault(table, []).append({c: row.get(c) for c in columns})


def seen(name: str, originator: str, position: int, **fields: Any) -> Seen:
    return Seen(name=name, originator_id=originator, version=position,
                at=f"2026-11-26T10:00:{position:02d}+00:00", fields=fields,
                position=position, log_index=position - 1)


def fold(rows: DictRows, *events: Seen) -> None:
    for event in events:
        for projection in (ACCOUNTS_PROJECTION, REPORTS_PROJECTION):
            projection.fold(event, rows)


def credit_events(minutes: int = 90, pending: bool = False) -> list[Seen]:
    common = {"transfer_id": TRANSFER, "minutes": minutes, "kind": "service_credit",
              "pending": pending, "service_date": "2026-11-20",
              "category": "cooking"}
    return [
        seen("Account.Opened", ORG, 1, community_id=COMMUNITY, kind="organisation",
             label="Kitchen"),
        seen("Account.Opened", MEMBER, 2, community_id=COMMUNITY, kind="member", label=""),
        seen("Transfer.Recorded", TRANSFER, 3, community_id=COMMUNITY,
             kind="service_credit", pending=pending, debit_account_id=ORG,
             credit_account_id=MEMBER, minutes=minutes, category="cooking",
             service_date="2026-11-20", actor="staff:ana", on_behalf_of=None,
             channel="window", expires_at=None, reverses=None),
        seen("Account.Debited", ORG, 4, counterparty_id=MEMBER, **common),
        seen("Account.Credited", MEMBER, 5, counterparty_id=ORG, **common),
    ]


def test_a_credit_moves_both_balances_and_writes_two_statement_lines() -> None:
    rows = DictRows()
    fold(rows, *credit_events(90))
    accounts = rows.tables["rm_accounts"]
    assert accounts[(ORG,)]["balance"] == -90
    assert accounts[(MEMBER,)]["balance"] == 90
    lines = [r for r in rows.appended["rm_statements"] if r["event"] == "Credited"]
    assert lines == [{
        "account_id": MEMBER, "entry_no": 2, "log_index": 4,
        "at": "2026-11-26T10:00:05+00:00", "event": "Credited", "transfer_id": TRANSFER,
        "kind": "service_credit", "direction": "credit", "phase": "posted", "minutes": 90,
        "counterparty": ORG, "category": "cooking", "service_date": "2026-11-20",
        "actor": "staff:ana", "on_behalf_of": None, "channel": "window", "reason": None,
        "balance_after": 90, "pending_in_after": 0, "pending_out_after": 0}]


def test_a_pending_credit_counts_as_pending_until_posted() -> None:
    rows = DictRows()
    fold(rows, *credit_events(60, pending=True))
    member = rows.tables["rm_accounts"][(MEMBER,)]
    assert (member["balance"], member["pending_in"]) == (0, 60)
    fold(rows, seen("Account.PendingPosted", MEMBER, 6, transfer_id=TRANSFER, minutes=60,
                    side="credit"))
    member = rows.tables["rm_accounts"][(MEMBER,)]
    assert (member["balance"], member["pending_in"]) == (60, 0)
    last = rows.appended["rm_statements"][-1]
    assert (last["phase"], last["channel"], last["balance_after"]) == ("settled", "window", 60)


def test_statement_lines_name_every_column() -> None:
    rows = DictRows()
    fold(rows, *credit_events())
    assert all(set(r) == set(STATEMENTS.all_columns) for r in rows.appended["rm_statements"])
    assert [r["entry_no"] for r in rows.appended["rm_statements"]
            if r["account_id"] == MEMBER] == [1, 2]


def test_reports_count_posted_minutes_by_month_category_and_payee() -> None:
    rows = DictRows()
    fold(rows, *credit_events(45))
    (flow,) = rows.tables["rm_flows"].values()
    assert (flow["month"], flow["category"], flow["payee"], flow["minutes"],
            flow["transfers"]) == ("2026-11", "cooking", MEMBER, 45, 1)
