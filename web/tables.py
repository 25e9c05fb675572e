"""The tables a deployment needs: made once (``civic-ledger migrate``), or checked.

Every table a server or projection worker touches is made when the app is built
(events, snapshots, the log, tokens, member keys, read models, partner tables)
or with the first civic request (party details). :func:`create_all_tables`
makes them all in one process: ``migrate`` runs it, and so does ``serve``
before it forks, unless the deployment made them at deploy time
(``CIVIC_LEDGER_CREATE_TABLES=0`` / ``--no-create-tables``): then no process
runs DDL, and :func:`require_tables` stops a worker whose database lacks some,
naming the command that makes them. The names are not listed by hand: they are
what a migration makes on a scratch SQLite file, with the event store's own
table names (which differ per backend) taken from the ledger's recorder.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ledger.application import TimeBank
from ledger.civic import CivicRecords
from ledger.config import ConfigError
from ledger.storage import Database, existing_tables
from web.app import create_app


def create_all_tables(bank: TimeBank) -> None:
    """Create every missing table (CREATE TABLE IF NOT EXISTS: safe to repeat)."""
    create_app({"LEDGER": bank})
    CivicRecords(bank)


def event_store_tables(bank: TimeBank) -> set[str]:
    """The event store's tables: events and snapshots (names differ per backend)."""
    names = {bank.recorder.events_table_name}  # type: ignore[attr-defined]
    if bank.snapshots is not None:
        names.add(bank.snapshots.recorder.events_table_name)  # type: ignore[attr-defined]
    return names


def required_tables(bank: TimeBank) -> set[str]:
    """Every table ``bank``'s processes use."""
    with tempfile.TemporaryDirectory(prefix="civic-ledger-schema-") as scratch:
        model = TimeBank(Database.parse(f"sqlite:///{Path(scratch) / 'schema.sqlite'}"), None)
        try:
            create_all_tables(model)
            made = existing_tables(model.datastore, "sqlite") - event_store_tables(model)
        finally:
            model.close()
    return made | event_store_tables(bank)


def missing_tables(bank: TimeBank) -> list[str]:
    """Required tables the database does not have, by name."""
    database = bank.database
    have = existing_tables(bank.datastore, database.backend, database.pg_schema)
    return sorted(required_tables(bank) - have)


def require_tables(bank: TimeBank) -> None:
    """When tables are made at deploy time, refuse (ConfigError) unless all are there."""
    if bank.database.create_tables:
        return  # this process makes what it needs
    missing = missing_tables(bank)
    if missing:
        raise ConfigError(f"the database lacks {len(missing)} table(s) "
                          f"({', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}); "
                          "create them once with: civic-ledger migrate --database URL")


def prepare_tables(bank: TimeBank) -> None:
    """Before a server forks: create every table now, or check they were made."""
    if bank.database.create_tables:
        create_all_tables(bank)
    else:
        require_tables(bank)
