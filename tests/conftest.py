"""Storage backends for the whole suite.

Every storage test runs on in-memory, SQLite and PostgreSQL storage through the
``database_url`` fixture. PostgreSQL (127.0.0.1:5432, trust auth) gets one
throw-away database per test run, dropped at the end, and a fresh schema per
test. Under ``CI=true`` a missing PostgreSQL server fails the run; elsewhere
the PostgreSQL cases skip with the reason.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ledger.application import TimeBank
from ledger.storage import Database

PG_ADMIN_DSN = os.environ.get("CIVIC_LEDGER_TEST_PG",
                              "host=127.0.0.1 port=5432 user=postgres dbname=test")
BACKENDS = ["memory", "sqlite", "postgres"]


def _pg_unavailable_reason() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"no PostgreSQL server answers at {PG_ADMIN_DSN!r}: {error}".strip()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test run; yields its name."""
    reason = _pg_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires PostgreSQL: {reason}")
        pytest.skip(reason)
    name = f"civic_ledger_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_url(pg_database: str) -> str:
    """A URL with a fresh schema in the run's database."""
    schema = f"s_{secrets.token_hex(6)}"
    dsn = PG_ADMIN_DSN.replace("dbname=test", f"dbname={pg_database}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"postgresql://postgres@127.0.0.1:5432/{pg_database}?schema={schema}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store on each backend."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return pg_url(request.getfixturevalue("pg_database"))


@pytest.fixture(params=["sqlite", "postgres"])
def durable_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store on each durable backend (for multi-process tests)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    return pg_url(request.getfixturevalue("pg_database"))


@pytest.fixture
def master_key() -> bytes:
    """A random master key for one test."""
    return os.urandom(32)


@pytest.fixture
def bank(database_url: str, master_key: bytes) -> Iterator[TimeBank]:
    """The ledger application on each backend."""
    app = TimeBank(Database.parse(database_url), master_key)
    yield app
    app.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many PostgreSQL cases ran, so a CI log shows they were not skipped."""
    counts = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        counts[outcome] = sum(1 for report in terminalreporter.stats.get(outcome, [])
                              if "postgres" in getattr(report, "nodeid", "")
                              and getattr(report, "when", "call") in ("call", "setup"))
    terminalreporter.write_line(
        "PostgreSQL cases: {passed} passed, {failed} failed, {skipped} skipped, "
        "{error} errors".format(**counts))
