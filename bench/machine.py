"""What the figures were measured on, and the throw-away PostgreSQL database
they were measured in (when a server answers)."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DEFAULT_PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


# -- the machine ------------------------------------------------------------------

def _proc_field(path: str, name: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def filesystem_of(path: Path) -> str:
    """The filesystem type holding ``path`` (from /proc/mounts)."""
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, mount, fstype, *_ = line.split()
            if str(path.resolve()).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    except OSError:
        pass
    return f"{kind} (mounted at {best or '?'})"


def code_version() -> str:
    """The commit measured, and whether domain/ or ledger/ differ from it."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                  "domain", "ledger"], capture_output=True, text=True,
                                 check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (f" + {len(changed)} uncommitted file(s) in domain/, ledger/"
                   if changed else "")


def machine_facts(tmp: Path, pg_version: str) -> list[tuple[str, str]]:
    """What the figures were measured on."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [("cpus", f"{os.cpu_count()} (usable {len(os.sched_getaffinity(0))})"),
            ("cpu model", _proc_field("/proc/cpuinfo", "model name")),
            ("memory", _proc_field("/proc/meminfo", "MemTotal")),
            ("os", platform.platform()),
            ("python", sys.version.split()[0]),
            ("sqlite", sqlite3.sqlite_version),
            ("postgresql", pg_version),
            ("eventsourcing", metadata.version("eventsourcing")),
            ("psycopg", metadata.version("psycopg")),
            ("code", code_version()),
            ("temp dir", f"{tmp} on {filesystem_of(tmp)}"),
            ("load average at start", load)]


# -- PostgreSQL --------------------------------------------------------------------

def postgres_version(admin_dsn: str) -> tuple[str | None, str]:
    """(server version, None) when a server answers; (None, reason) otherwise."""
    try:
        with psycopg.connect(admin_dsn, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0] if row else "?"), ""
    except psycopg.Error as error:
        detail = " ".join(str(error).split())
        return None, f"no PostgreSQL server answers at {admin_dsn!r}: {detail}"


@contextmanager
def throwaway_database(admin_dsn: str) -> Iterator[str]:
    """Create ``civic_ledger_bench_<pid>``, yield its DSN, drop it at the end."""
    name = f"civic_ledger_bench_{os.getpid()}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore
    try:
        yield make_conninfo(admin_dsn, dbname=name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore


def fresh_schema(dsn: str, name: str) -> str:
    """A new, empty schema in the throw-away database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")  # type: ignore[arg-type]
    return name


def ledger_url(dsn: str, schema: str) -> str:
    """The ledger's database URL for ``schema`` in the database ``dsn`` names."""
    p = conninfo_to_dict(dsn)
    auth = quote(str(p.get("user", "postgres")))
    if p.get("password"):
        auth += ":" + quote(str(p["password"]))
    return (f"postgresql://{auth}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}"
            f"/{p['dbname']}?schema={schema}")
