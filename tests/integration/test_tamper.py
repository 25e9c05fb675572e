"""Tampering with the database directly is caught, with the exact finding, on SQLite
and PostgreSQL: a changed byte, a deleted row, an inserted row, two rows swapped,
and a truncated tail (against a checkpoint the auditor kept)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.audit import Finding, verify_live
from ledger.checkpoints import generate_signer_key, parse_signer_key
from ledger.storage import Database


@pytest.fixture
def logged(durable_database_url: str, master_key: bytes) -> Iterator[tuple[TimeBank, str]]:
    """A bank with a log key and a dozen events; yields it and the vkey."""
    signer_key, vkey = generate_signer_key("tamper.test/log")
    bank = TimeBank(Database.parse(durable_database_url), master_key,
                    log_signer=parse_signer_key(signer_key))
    community = bank.register_community("Elm")
    org = bank.open_organisation(community["id"], "NGO", budget=6000)
    member = bank.open_member(community["id"])
    for minutes in (30, 45, 60):
        bank.record(TransferRequest(uuid4(), "service_credit", org.id, member.id, minutes,
                                    "cooking", "2026-11-20", False, "staff:t", None, "api"))
    yield bank, vkey
    bank.close()


def sql(bank: TimeBank, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Run raw SQL against the bank's database, as an attacker with file access would."""
    db = bank.database
    if db.backend == "sqlite":
        with sqlite3.connect(db.sqlite_path) as conn:
            return conn.execute(statement, params).fetchall()
    dsn = f"host={db.pg_host} port={db.pg_port} user={db.pg_user} dbname={db.pg_dbname}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{db.pg_schema}"')
        cur = conn.execute(statement.replace("?", "%s"), params)
        return cur.fetchall() if cur.description else []


def events_table(bank: TimeBank) -> str:
    """The events table's name on this backend."""
    return bank.recorder.events_table_name  # type: ignore[attr-defined]


def position_column(bank: TimeBank) -> str:
    """The commit-order column on this backend."""
    return "rowid" if bank.database.backend == "sqlite" else "notification_id"


def row_at(bank: TimeBank, leaf: int) -> tuple[Any, int]:
    """(originator_id, version) of the event at a leaf index."""
    rows = sql(bank, "SELECT originator_id, originator_version FROM log_leaves "
                     "WHERE leaf_index = ?", (leaf,))
    return rows[0][0], rows[0][1]


def kinds(findings: list[Finding]) -> list[tuple[str, int | None]]:
    """Just kind and index of each finding."""
    return [(f.kind, f.index) for f in findings]


def test_untouched_database_verifies_clean(logged):
    bank, vkey = logged
    assert verify_live(bank.audit_log, vkey=vkey) == []


def test_one_changed_byte_of_a_stored_event_is_found_as_modified(logged):
    bank, vkey = logged
    oid, version = row_at(bank, 7)
    table = events_table(bank)
    state = bytes(sql(bank, f"SELECT state FROM {table} WHERE originator_id = ? "
                            "AND originator_version = ?", (oid, version))[0][0])
    flipped = state.replace(b'"minutes":', b'"minutes":9', 1)
    assert flipped != state
    sql(bank, f"UPDATE {table} SET state = ? WHERE originator_id = ? AND "
              "originator_version = ?", (flipped, oid, version))
    assert kinds(verify_live(bank.audit_log, vkey=vkey)) == [("modified", 7)]


def test_a_deleted_event_row_is_found_as_missing(logged):
    bank, vkey = logged
    oid, version = row_at(bank, 5)
    sql(bank, f"DELETE FROM {events_table(bank)} WHERE originator_id = ? AND "
              "originator_version = ?", (oid, version))
    assert kinds(verify_live(bank.audit_log, vkey=vkey)) == [("missing", 5)]


def test_an_inserted_event_row_is_found_as_inserted(logged):
    bank, vkey = logged
    total = bank.audit_log.size()
    forged = uuid4()
    value = forged.hex if bank.database.backend == "sqlite" else forged
    sql(bank, f"INSERT INTO {events_table(bank)} (originator_id, originator_version, topic, "
              "state) VALUES (?, 1, 'domain.transfers:Transfer.Recorded', ?)",
        (value, b'{"minutes":600}'))
    assert kinds(verify_live(bank.audit_log, vkey=vkey)) == [("inserted", total)]


def test_two_swapped_rows_are_found_as_reordered(logged):
    bank, vkey = logged
    table, column = events_table(bank), position_column(bank)
    (a,), (b,) = sql(bank, f"SELECT {column} FROM {table} ORDER BY {column} LIMIT 2 OFFSET 3")
    for old, new in ((a, -1), (b, a), (-1, b)):
        sql(bank, f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (new, old))
    assert kinds(verify_live(bank.audit_log, vkey=vkey)) == [("reordered", 3),
                                                              ("reordered", 4)]


def test_a_truncated_tail_is_found_against_a_kept_checkpoint(logged):
    bank, vkey = logged
    kept = bank.audit_log.checkpoint()
    size = bank.audit_log.size()
    keep = size - 3
    erase_tail(bank, keep)
    findings = verify_live(bank.audit_log, vkey=vkey, kept_checkpoint=kept)
    assert kinds(findings) == [("truncated", keep)]


def erase_tail(bank: TimeBank, keep: int) -> None:
    """Cut events, leaves, nodes and stored checkpoints back to ``keep`` leaves,
    rebuilding the right edge so the log is consistent with itself."""
    from ledger.merkle import TreeBuilder
    for oid, version in [row_at(bank, i) for i in range(keep, bank.audit_log.size())]:
        sql(bank, f"DELETE FROM {events_table(bank)} WHERE originator_id = ? AND "
                  "originator_version = ?", (oid, version))
    sql(bank, "DELETE FROM log_leaves WHERE leaf_index >= ?", (keep,))
    hashes = [bytes(h) for (h,) in sql(bank, "SELECT hash FROM log_nodes WHERE level = 0 "
                                             "ORDER BY node_index")][:keep]
    sql(bank, "DELETE FROM log_nodes WHERE node_index * (1 << level) + (1 << level) > ?",
        (keep,))
    builder = TreeBuilder()
    builder.extend(hashes)
    sql(bank, "UPDATE log_state SET size = ?, frontier = ?",
        (keep, b"".join(builder.subtree_roots)))
    sql(bank, "DELETE FROM log_checkpoints")


def test_a_rewritten_history_is_never_signed_again(logged):
    bank, vkey = logged
    bank.audit_log.checkpoint()
    size = bank.audit_log.size()
    erase_tail(bank, size - 2)
    sql(bank, "INSERT INTO log_checkpoints (size, root, note, signed_at) VALUES (?, ?, ?, ?)",
        (size, b"\0" * 32, "forged", "now"))
    from ledger.transparency import LogIntegrityError
    with pytest.raises(LogIntegrityError):
        bank.audit_log.checkpoint()
