"""Consistent copies of the whole database, taken while the server writes, and
putting one back.

SQLite: the online backup API copies every page in one step inside one read
transaction, so the copy is the database as of one commit (in WAL mode the
writers are not held up meanwhile). It is written beside the target and
renamed into place, so a half-written file never carries the backup's name.
PostgreSQL: ``pg_dump -Fc`` (one repeatable-read snapshot of every table the
URL's schema holds), restored with ``pg_restore``. Either way the copy holds
the events, the log and its checkpoints in one state, so ``civic-ledger
verify`` passes on it; the read models in it are caught up again on restore.

A restore never overwrites by accident: a SQLite file is replaced only when
asked (its users stopped), a PostgreSQL dump goes only into an empty schema,
and the backup is checked before anything of the target is touched.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from ledger.storage import Database


class BackupError(OSError):
    """The copy could not be made; the message says why (nothing was written)."""


def back_up(database: Database, target: Path) -> None:
    """Copy ``database`` to the file ``target`` (replaced when it exists)."""
    if database.backend == "sqlite":
        back_up_sqlite(Path(database.sqlite_path), target)
    elif database.backend == "postgres":
        back_up_postgres(database, target)
    else:
        raise BackupError("memory:// has nothing to back up")


def back_up_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup of ``source`` into ``target``, checked before it is named."""
    if not source.exists():
        raise BackupError(f"no SQLite database at {source}")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst)  # pages=-1: every page in one step, so one consistent state
        dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        (status,) = dst.execute("PRAGMA integrity_check").fetchone()
    finally:
        dst.close()
        src.close()
    if status != "ok":
        partial.unlink(missing_ok=True)
        raise BackupError(f"the copy failed SQLite's integrity check: {status}")
    os.replace(partial, target)


def pg_dump_command(database: Database, target: Path) -> tuple[list[str], dict[str, str]]:
    """The ``pg_dump`` argv and environment."""
    argv, env = _pg_client_command(["pg_dump", "--format=custom", "--no-owner",
                                    "--file", str(target)], database)
    if database.pg_schema:
        argv += ["--schema", database.pg_schema]
    return argv, env


def _pg_client_command(program: list[str], database: Database
                       ) -> tuple[list[str], dict[str, str]]:
    """A PostgreSQL client's argv reaching ``database``, and its environment (the
    password travels in PGPASSWORD, never in argv, where ``ps`` would show it)."""
    argv = [*program, "--host", database.pg_host, "--port", database.pg_port,
            "--username", database.pg_user, "--dbname", database.pg_dbname]
    env = dict(os.environ)
    if database.pg_password:
        env["PGPASSWORD"] = database.pg_password
    return argv, env


def back_up_postgres(database: Database, target: Path) -> None:
    """Run ``pg_dump -Fc``; a dump that fails leaves no file under ``target``'s name."""
    if shutil.which("pg_dump") is None:
        raise BackupError("pg_dump is not on PATH; install the PostgreSQL client tools "
                          "(the same major version as the server, or newer)")
    partial = target.with_name(target.name + ".partial")
    argv, env = pg_dump_command(database, partial)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {done.stderr.strip() or done.returncode}")
    os.replace(partial, target)


class RestoreRefused(BackupError):
    """The restore would overwrite a database, or the file is not a ledger's
    backup; nothing was changed."""


LEDGER_TABLES = ("log_state", "log_leaves", "log_nodes")  # in every ledger's backup


def restore(source: Path, database: Database, *, replace: bool = False) -> None:
    """Put the backup ``source`` in place as ``database`` (see the two functions below)."""
    if not source.is_file():
        raise RestoreRefused(f"no backup file at {source}")
    if database.backend == "sqlite":
        restore_sqlite(source, Path(database.sqlite_path), replace=replace)
    elif database.backend == "postgres":
        restore_postgres(source, database)
    else:
        raise RestoreRefused("memory:// keeps nothing to restore into")


def restore_sqlite(source: Path, target: Path, *, replace: bool) -> None:
    """Copy the backup ``source`` to ``target``, whose users must all be stopped.

    An existing ``target`` is replaced only when asked (``replace``). The
    backup is checked (SQLite's integrity check, and the log's tables are
    there) before anything of ``target`` is touched; it is copied beside the
    target and renamed into place, after the target's ``-wal``, ``-shm`` and
    ``-journal`` files are removed: a stale log (write-ahead or rollback)
    replayed onto another file would corrupt it."""
    if target.exists() and not replace:
        raise RestoreRefused(f"{target} exists: stop every process using it, then "
                             "restore with --replace")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            _check_sqlite_backup(src, source)
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.DatabaseError as error:
        partial.unlink(missing_ok=True)
        raise RestoreRefused(f"{source} is not a readable SQLite database: {error}") from None
    except RestoreRefused:
        partial.unlink(missing_ok=True)
        raise
    for suffix in ("-wal", "-shm", "-journal"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    os.replace(partial, target)


def _check_sqlite_backup(connection: sqlite3.Connection, source: Path) -> None:
    (status,) = connection.execute("PRAGMA integrity_check").fetchone()
    if status != "ok":
        raise RestoreRefused(f"{source} fails SQLite's integrity check: {status}")
    tables = {name for (name,) in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in LEDGER_TABLES if t not in tables]
    if missing:
        raise RestoreRefused(f"{source} is not a ledger's backup (no {', '.join(missing)})")


def restore_postgres(source: Path, database: Database) -> None:
    """``pg_restore`` the dump ``source`` into ``database``'s schema, which must not
    exist yet (or, for ``public``, hold no table): a restore never overwrites.
    One transaction, stopping at the first error, so a failed restore leaves
    nothing behind."""
    if shutil.which("pg_restore") is None:
        raise BackupError("pg_restore is not on PATH; install the PostgreSQL client tools "
                          "(the same major version as the dump's pg_dump, or newer)")
    schema = database.pg_schema or "public"
    with psycopg.connect(_pg_conninfo(database)) as connection:
        held = connection.execute("SELECT count(*) FROM information_schema.tables "
                                  "WHERE table_schema = %s", (schema,)).fetchone()
        exists = connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                                    (schema,)).fetchone()
    if held and held[0]:
        raise RestoreRefused(f"the schema {schema!r} of the database {database.pg_dbname!r} "
                             f"already holds {held[0]} tables: restore into an empty "
                             "database (createdb NAME)")
    if exists and database.pg_schema:
        raise RestoreRefused(f"the schema {schema!r} exists already in the database "
                             f"{database.pg_dbname!r}: the dump creates it; drop the empty "
                             "schema or restore into a new database")
    argv, env = _pg_client_command(["pg_restore", "--no-owner", "--exit-on-error",
                                    "--single-transaction"], database)
    done = subprocess.run([*argv, str(source)], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise BackupError("pg_restore failed, nothing was restored: "
                          f"{done.stderr.strip() or done.returncode}")


def _pg_conninfo(database: Database) -> str:
    return make_conninfo(host=database.pg_host, port=database.pg_port, user=database.pg_user,
                         dbname=database.pg_dbname, password=database.pg_password or None)
