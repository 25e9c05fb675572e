"""The operator's commands on SQLite and PostgreSQL: migrate once, workers that run
no DDL, backup and restore followed by verify, log and master key rotation.

They run ``web.cli.main`` in this process (a subprocess per command would cost a
second each); ``tests/integration/test_cli.py`` covers the real executable."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import psycopg
import pytest

from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.config import Settings, open_bank
from ledger.storage import Database
from projections.queries import ReadModels
from tests.conftest import PG_ADMIN_DSN, pg_url
from web.cli import main
from web.tables import missing_tables


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``civic-ledger ARGS`` with an empty environment; (status, stdout, stderr)."""
    status = main(list(args), env={})
    out, err = capsys.readouterr()
    return status, out, err


def seed(url: str, keys: Path) -> tuple[TimeBank, dict[str, UUID]]:
    """An open ledger with a community, an organisation and a member."""
    bank = open_bank(Settings(database_url=url, keys_dir=keys))
    community = bank.register_community("Elm Street")
    org = bank.open_organisation(community["id"], "Care NGO", budget=100_000)
    ada = bank.open_member(community["id"], profile={"display_name": "Ada"})
    return bank, {"org": org.id, "ada": ada.id}


def credit(bank: TimeBank, town: dict[str, UUID]) -> None:
    """One minute from the organisation to the member."""
    bank.record(TransferRequest(
        transfer_id=uuid4(), kind="service_credit", debit_account_id=town["org"],
        credit_account_id=town["ada"], minutes=1, category="errands",
        service_date="2026-11-20", pending=False, actor="staff:test", on_behalf_of=None,
        channel="api"))


def balances(url: str, keys: Path, town: dict[str, UUID]) -> dict[str, int]:
    """Posted balances, from the aggregates and (equal) from the read models."""
    bank = open_bank(Settings(database_url=url, keys_dir=keys))
    try:
        found = {name: bank.account(account).balance for name, account in town.items()}
        models = ReadModels(bank)
        models.fresh()
        assert models.projector.status()[1]["accounts"].failed_at is None
        return found
    finally:
        bank.close()


@pytest.fixture
def keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A keys directory with every key."""
    assert run(capsys, "keys", "--keys", str(tmp_path / "keys"))[0] == 0
    return tmp_path / "keys"


def test_migrate_creates_every_table_and_running_it_again_changes_nothing(
        durable_database_url, keys, capsys):
    where = ["--database", durable_database_url, "--keys", str(keys)]
    status, _, err = run(capsys, "project", "--no-create-tables", *where)
    assert status == 2 and "civic-ledger migrate" in err and "api_tokens" in err
    assert run(capsys, "serve", "--no-create-tables", *where)[0] == 2
    backend = Database.parse(durable_database_url).backend
    assert run(capsys, "migrate", *where)[:2] == (0, f"every table is in place ({backend})\n")
    assert run(capsys, "migrate", *where)[0] == 0
    bank = TimeBank(Database.parse(durable_database_url), None)
    assert missing_tables(bank) == []
    bank.close()
    assert run(capsys, "token", "--role", "admin", "--no-create-tables", *where)[0] == 0


def test_the_environment_turns_table_creation_off_and_a_bad_value_is_named(tmp_path, capsys):
    settings = Settings.from_env({"CIVIC_LEDGER_CREATE_TABLES": "0"})
    assert settings.database.create_tables is False
    assert Settings.from_env({}).database.create_tables is True
    assert main(["expire"], env={"CIVIC_LEDGER_CREATE_TABLES": "maybe"}) == 2
    assert "CIVIC_LEDGER_CREATE_TABLES must be 1 or 0" in capsys.readouterr().err


@pytest.fixture
def worker_role(pg_database: str) -> Iterator[tuple[str, str]]:
    """A PostgreSQL role that may read and write rows but create nothing; (name, schema)."""
    name = f"cl_worker_{uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN")
    yield name, f"s_{uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN.replace("dbname=test", f"dbname={pg_database}"),
                         autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {name}")
        conn.execute(f"DROP ROLE {name}")


def test_after_migrate_a_role_without_create_privilege_runs_the_ledger(
        pg_database, worker_role, keys, capsys):
    role, schema = worker_role
    admin_url = f"postgresql://postgres@127.0.0.1:5432/{pg_database}?schema={schema}"
    with psycopg.connect(PG_ADMIN_DSN.replace("dbname=test", f"dbname={pg_database}"),
                         autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        assert run(capsys, "migrate", "--database", admin_url)[0] == 0
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} "
                     f"TO {role}")
        conn.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")
    where = ["--database", f"postgresql://{role}@127.0.0.1:5432/{pg_database}?schema={schema}",
             "--keys", str(keys)]
    status, _, err = run(capsys, "token", "--role", "admin", *where)
    assert status == 1 and "permission denied" in err  # it would have run DDL
    status, _, err = run(capsys, "demo", "--no-create-tables", "--credentials",
                         str(keys.parent / "demo.json"), *where)
    assert status == 0, err
    assert run(capsys, "verify", "--no-create-tables", *where)[0] == 0


def test_a_sqlite_backup_taken_during_writes_restores_and_verifies(tmp_path, keys, capsys):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    bank, town = seed(url, keys)
    stop, written = threading.Event(), []

    def write() -> None:
        while not stop.is_set() or len(written) < 40:
            credit(bank, town)
            written.append(1)

    writer = threading.Thread(target=write)
    writer.start()
    while len(written) < 20:
        stop.wait(0.01)
    status, out, err = run(capsys, "backup", "--database", url, str(tmp_path / "copy.sqlite"))
    stop.set()
    writer.join()
    bank.close()
    assert status == 0 and "civic-ledger verify" in out, err
    # A stopped server's file, of another history, with the write-ahead log it left.
    restored = tmp_path / "restored" / "ledger.sqlite"
    restored.parent.mkdir()
    other, _ = seed(f"sqlite:///{restored}", keys)
    other.close()
    stale = restored.with_name("ledger.sqlite-wal")
    stale.write_bytes(wal_left_by_a_crash(restored))
    where = ["--database", f"sqlite:///{restored}", "--keys", str(keys)]
    before = restored.read_bytes()
    status, _, err = run(capsys, "restore", *where, str(tmp_path / "copy.sqlite"))
    assert status == 2 and "--replace" in err and restored.read_bytes() == before
    status, out, err = run(capsys, "restore", "--replace", *where,
                           str(tmp_path / "copy.sqlite"))
    assert status == 0 and "OK: every event matches its leaf" in out, err
    found = balances(f"sqlite:///{restored}", keys, town)
    assert 20 <= found["ada"] <= len(written) and found["org"] == -found["ada"]


def wal_left_by_a_crash(database: Path) -> bytes:
    """The write-ahead log of committed writes to ``database`` that were never
    checkpointed into it, as a process killed at that moment leaves it: valid
    frames, which SQLite replays onto whatever file then bears the name."""
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    with connection:
        connection.execute("UPDATE log_state SET size = size + 1000")
        connection.execute("DELETE FROM log_nodes")
    wal = database.with_name(database.name + "-wal").read_bytes()
    connection.close()  # checkpoints and removes the log; the copy above stays
    assert wal
    return wal


def test_restore_refuses_a_file_that_is_not_a_ledger_s_backup_and_changes_nothing(
        tmp_path, keys, capsys):
    target = tmp_path / "ledger.sqlite"
    bank, town = seed(f"sqlite:///{target}", keys)
    credit(bank, town)
    bank.close()
    before = target.read_bytes()
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 500)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    where = ["--database", f"sqlite:///{target}", "--keys", str(keys)]
    status, _, err = run(capsys, "restore", "--replace", *where, str(junk))
    assert status == 2 and "not a readable SQLite database" in err
    status, _, err = run(capsys, "restore", "--replace", *where, str(other))
    assert status == 2 and "not a ledger's backup" in err and "log_state" in err
    status, _, err = run(capsys, "restore", "--replace", *where, str(tmp_path / "none"))
    assert status == 2 and "no backup file" in err
    assert target.read_bytes() == before
    assert not target.with_name("ledger.sqlite.partial").exists()
    assert balances(f"sqlite:///{target}", keys, town) == {"org": -1, "ada": 1}


@pytest.mark.skipif(shutil.which("pg_restore") is None, reason="no pg_restore on PATH")
def test_a_pg_dump_restores_into_an_empty_database_and_verifies(pg_database, tmp_path, keys,
                                                                 capsys):
    url = pg_url(pg_database)
    bank, town = seed(url, keys)
    for _ in range(5):
        credit(bank, town)
    bank.close()
    dump = tmp_path / "ledger.dump"
    status, out, err = run(capsys, "backup", "--database", url, str(dump))
    assert status == 0 and "civic-ledger restore" in out, err
    target = f"{pg_database}_restored"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{target}"')
    try:
        restored = url.replace(f"/{pg_database}?", f"/{target}?")
        where = ["--database", restored, "--keys", str(keys)]
        status, out, err = run(capsys, "restore", *where, str(dump))
        assert status == 0 and "OK: every event matches its leaf" in out, err
        assert balances(restored, keys, town) == balances(url, keys, town) == {
            "org": -5, "ada": 5}
        status, _, err = run(capsys, "restore", *where, str(dump))  # never over a database
        assert status == 2 and "already holds" in err
        assert balances(restored, keys, town) == {"org": -5, "ada": 5}
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


def test_rotate_log_keeps_the_old_checkpoints_verifiable_with_the_retired_key(
        durable_database_url, keys, tmp_path, capsys):
    url = durable_database_url
    where = ["--database", url, "--keys", str(keys)]
    bank, town = seed(url, keys)
    credit(bank, town)
    kept = tmp_path / "kept.txt"
    kept.write_text(bank.audit_log.checkpoint())
    bank.close()
    old_vkey = (keys / "log.vkey").read_text()
    status, out, err = run(capsys, "keys", "rotate-log", *where)
    assert status == 0, err
    assert (keys / "log-retired.vkeys").read_text() == old_vkey
    assert (keys / "log.vkey").read_text() != old_vkey and out.count("\u2014 ") == 2
    bank = open_bank(Settings(database_url=url, keys_dir=keys))
    credit(bank, town)
    bank.close()
    assert run(capsys, "verify", "--checkpoint", str(kept), *where)[0] == 0
    bundle = str(tmp_path / "ledger.bundle")
    assert run(capsys, "export", "--out", bundle, *where)[0] == 0
    new_only = ["--key", str(keys / "log.vkey"), "--checkpoint", str(kept)]
    status, out, _ = run(capsys, "verify", bundle, *new_only)
    assert status == 1 and "kept checkpoint: no signature from a known key" in out
    status, out, _ = run(capsys, "verify", bundle, *new_only,
                         "--key", str(keys / "log-retired.vkeys"))
    assert status == 0 and "OK: the history is complete and consistent" in out
    assert "nothing created" in run(capsys, "keys", *where)[1]


def test_rotate_master_rewraps_member_keys_and_keeps_the_old_key(durable_database_url, keys,
                                                                  capsys):
    bank, town = seed(durable_database_url, keys)
    bank.close()
    old = (keys / "master.key").read_bytes()
    status, out, err = run(capsys, "keys", "rotate-master", "--database",
                           durable_database_url, "--keys", str(keys))
    assert status == 0 and "re-wrapped 1 member data key(s)" in out, err
    assert (keys / "master.key").read_bytes() != old
    assert [p.read_bytes() for p in (keys / "retired").iterdir()] == [old]
    bank = open_bank(Settings(database_url=durable_database_url, keys_dir=keys))
    assert bank.member(town["ada"]).profile == {"display_name": "Ada"}
    bank.close()
