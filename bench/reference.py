"""The physical floor under a credit: raw single-transaction inserts.

A recorded credit is, physically, three rows of ``eventsourcing``'s
``stored_events`` table written in one durable transaction. This module writes
rows of the same shape straight through the driver, with no application
around them, so the application's figure can be read against what the disk
and the database allow on the same machine in the same run:

* ``1 row per transaction``: one ``Account.Credited``-shaped row per commit
  (what any durable write costs at least: one commit, one WAL sync);
* ``3 rows per transaction``: a ``Transfer.Recorded``, an ``Account.Debited``
  and an ``Account.Credited`` row per commit, exactly a credit's write;
* ``bulk``: the three rows of each of 1,000 credits in one transaction, by
  ``executemany`` (the floor under a partner's bulk batch), counted in credits.

And, for reads, a point read: one ``SELECT`` of one row by its key on one
connection (the floor under a balance read or a proof's node read).

The tables are created with the DDL ``eventsourcing`` 9.5 uses for an
application recorder, the SQLite connection is opened the way it opens its own
(autocommit mode, explicit ``BEGIN``, ``PRAGMA journal_mode=WAL``, the
library's default ``synchronous``), and the states are JSON documents of the
sizes the application writes (about 620, 375 and 375 bytes).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from uuid import UUID, uuid4

import psycopg

from bench import Measurement, sqlite_synchronous, timed_loop

Row = tuple[UUID, int, str, bytes]

SQLITE_DDL = ("CREATE TABLE IF NOT EXISTS stored_events (originator_id TEXT, "
              "originator_version INTEGER, topic TEXT, state BLOB, "
              "PRIMARY KEY (originator_id, originator_version))")
SQLITE_INSERT = "INSERT INTO stored_events VALUES (?,?,?,?)"
POSTGRES_DDL = ("CREATE TABLE {schema}.stored_events (originator_id uuid NOT NULL, "
                "originator_version bigint NOT NULL, topic text, state bytea, "
                "notification_id bigserial, "
                "PRIMARY KEY (originator_id, originator_version)); "
                "CREATE UNIQUE INDEX ON {schema}.stored_events (notification_id ASC)")
POSTGRES_INSERT = ("INSERT INTO {schema}.stored_events "
                   "(originator_id, originator_version, topic, state) VALUES (%s,%s,%s,%s)")
MEMBERS = 200
TOPICS = ("domain.transfers:Transfer.Recorded", "domain.accounts:Account.Debited",
          "domain.accounts:Account.Credited")


def _ref(value: UUID | dt.datetime) -> dict[str, str]:
    if isinstance(value, UUID):
        return {"_type_": "uuid_hex", "_data_": value.hex}
    return {"_type_": "datetime_iso", "_data_": value.isoformat()}


def event_states(transfer: UUID, organisation: UUID, member: UUID) -> tuple[bytes, ...]:
    """States shaped like the application's three events of one credit."""
    now = dt.datetime.now(dt.UTC)
    entry = {"transfer_id": _ref(transfer), "minutes": 60, "kind": "service_credit",
             "pending": False, "service_date": "2026-11-20",
             "category": "elderly-companionship"}
    recorded = {"timestamp": _ref(now), "originator_topic": "domain.transfers:Transfer",
                "community_id": _ref(uuid4()), "kind": "service_credit",
                "debit_account_id": _ref(organisation), "credit_account_id": _ref(member),
                "minutes": 60, "category": "elderly-companionship",
                "service_date": "2026-11-20", "pending": False, "expires_at": None,
                "actor": "staff:bench", "on_behalf_of": None, "channel": "api",
                "rules_version": 1, "reverses": None, "earning": 60}
    debited = {"timestamp": _ref(now), **entry, "counterparty_id": _ref(member),
               "earning": 0}
    credited = {"timestamp": _ref(now), **entry, "counterparty_id": _ref(organisation),
                "earning": 60}
    return tuple(json.dumps(s, separators=(",", ":")).encode()
                 for s in (recorded, debited, credited))


def credit_rows(n: int, rows_per_transaction: int) -> list[list[Row]]:
    """``n`` batches: a credit's three rows, or only its ``Credited`` row.

    Versions grow per originator as they do in the application (the
    organisation's with every credit after ``Opened`` and ``BudgetSet``, a
    member's every ``MEMBERS`` credits after ``Opened``).
    """
    organisation = uuid4()
    members = [uuid4() for _ in range(MEMBERS)]
    batches = []
    for k in range(n):
        transfer, member = uuid4(), members[k % MEMBERS]
        states = event_states(transfer, organisation, member)
        rows = [(transfer, 1, TOPICS[0], states[0]),
                (organisation, k + 3, TOPICS[1], states[1]),
                (member, k // MEMBERS + 2, TOPICS[2], states[2])]
        batches.append(rows if rows_per_transaction == 3 else rows[2:])
    return batches


def _label(rows_per_transaction: int, credits_per_transaction: int) -> str:
    if credits_per_transaction > 1:
        return f"raw: bulk, {credits_per_transaction:,} x 3 rows per txn"
    plural = "row" if rows_per_transaction == 1 else "rows"
    return f"raw: {rows_per_transaction} {plural} per transaction"


def transactions(n: int, rows_per_transaction: int,
                 credits_per_transaction: int) -> list[list[Row]]:
    """The rows of ``n`` credits, ``credits_per_transaction`` credits to a transaction
    (a bulk batch is every row of each of its credits)."""
    batches = credit_rows(n, rows_per_transaction)
    return [[row for batch in batches[i:i + credits_per_transaction] for row in batch]
            for i in range(0, n, credits_per_transaction)]


def _with_ops(measured: Measurement, n: int) -> Measurement:
    """Operations are credits (rows, as a partner counts them), not transactions."""
    return replace(measured, operations=n)


def _sqlite_insert(conn: sqlite3.Connection, batch: list[Row]) -> None:
    cursor = conn.cursor()
    cursor.execute("BEGIN")
    if len(batch) > 3:
        cursor.executemany(SQLITE_INSERT, [(o.hex, v, t, s) for o, v, t, s in batch])
    else:
        for originator_id, version, topic, state in batch:
            cursor.execute(SQLITE_INSERT, (originator_id.hex, version, topic, state))
    conn.commit()


def measure_sqlite(path: str, n: int, rows_per_transaction: int,
                   credits_per_transaction: int = 1) -> Measurement:
    """``n`` credits' raw inserts into a fresh SQLite file, in durable transactions
    of ``credits_per_transaction`` credits (a bulk one by ``executemany``)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        journal_mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
        conn.execute(SQLITE_DDL)
        batches = transactions(n, rows_per_transaction, credits_per_transaction)
        calls: list[Callable[[], object]] = [partial(_sqlite_insert, conn, b)
                                             for b in batches]
        return _with_ops(timed_loop(
            _label(rows_per_transaction, credits_per_transaction), "sqlite", calls,
            {"journal_mode": journal_mode, "synchronous": sqlite_synchronous(synchronous)}),
            n)
    finally:
        conn.close()


def _postgres_insert(conn: psycopg.Connection, insert: str, batch: list[Row]) -> None:
    with conn.transaction():
        if len(batch) > 3:
            with conn.cursor() as cursor:
                cursor.executemany(insert, batch)  # type: ignore[arg-type]
        else:
            for row in batch:
                conn.execute(insert, row)  # type: ignore[arg-type]


def measure_postgres(dsn: str, schema: str, n: int, rows_per_transaction: int,
                     credits_per_transaction: int = 1) -> Measurement:
    """``n`` credits' raw inserts into a fresh table in ``schema``, in transactions
    of ``credits_per_transaction`` credits (a bulk one by ``executemany``)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(POSTGRES_DDL.format(schema=schema))  # type: ignore[arg-type]
        settings = {name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore
                    for name in ("synchronous_commit", "fsync", "wal_sync_method")}
        insert = POSTGRES_INSERT.format(schema=schema)
        calls: list[Callable[[], object]] = [
            partial(_postgres_insert, conn, insert, b)
            for b in transactions(n, rows_per_transaction, credits_per_transaction)]
        return _with_ops(timed_loop(_label(rows_per_transaction, credits_per_transaction),
                                    "postgres", calls, settings), n)


def measure_sqlite_point_reads(path: str, sql: str, keys: list[tuple[object, ...]],
                               n: int, label: str) -> Measurement:
    """``n`` single-statement reads (``sql`` with each of ``keys`` in turn) on one
    connection to an existing SQLite file: the floor under a one-row read."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        calls: list[Callable[[], object]] = [
            partial(_fetch, conn, sql, keys[k % len(keys)]) for k in range(n)]
        return timed_loop(label, "sqlite", calls)
    finally:
        conn.close()


def _fetch(conn: sqlite3.Connection, sql: str, key: tuple[object, ...]) -> None:
    if conn.execute(sql, key).fetchone() is None:
        raise RuntimeError(f"no row for {key}: the reference read must find its row")
