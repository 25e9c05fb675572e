"""Consistent copies of the whole database, taken while the server writes.

SQLite: the online backup API copies every page in one step inside one read
transaction, so the copy is the database as of one commit (in WAL mode the
writers are not held up meanwhile). It is written beside the target and
renamed into place, so a half-written file never carries the backup's name.
PostgreSQL: ``pg_dump -Fc`` (one repeatable-read snapshot of every table the
URL's schema holds), restored with ``pg_restore``. Either way the copy holds
the events, the log and its checkpoints in one state, so ``civic-ledger
verify`` passes on it; the read models in it are caught up again on restore.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

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
    """The ``pg_dump`` argv and environment (the password travels in PGPASSWORD, not argv)."""
    argv = ["pg_dump", "--format=custom", "--no-owner", "--file", str(target),
            "--host", database.pg_host, "--port", database.pg_port,
            "--username", database.pg_user, "--dbname", database.pg_dbname]
    if database.pg_schema:
        argv += ["--schema", database.pg_schema]
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
