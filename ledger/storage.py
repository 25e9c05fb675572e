"""Where events live, chosen by one database URL.

``sqlite:///path`` (the embedded default), ``postgresql://user@host:port/db``
(production; ``?schema=name`` selects a schema) or ``memory://`` (tests).
The URL becomes the ``eventsourcing`` persistence environment; the side
tables we keep beside the events (member data keys, API tokens) use the same
datastore through :class:`SideStore`, so they share its connections.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_DATABASE_URL = "sqlite:///civic-ledger.sqlite"


@dataclass(frozen=True)
class Database:
    """A parsed database URL."""

    url: str
    backend: str  # "sqlite" | "postgres" | "memory"
    sqlite_path: str = ""
    pg_dbname: str = ""
    pg_host: str = ""
    pg_port: str = "5432"
    pg_user: str = ""
    pg_password: str = ""
    pg_schema: str = ""
    create_tables: bool = True  # False: the tables were made at deploy time (migrate)

    @classmethod
    def parse(cls, url: str) -> Database:
        """Parse ``url`` or raise ValueError naming what is wrong."""
        parts = urlsplit(url)
        if parts.scheme == "memory":
            return cls(url=url, backend="memory")
        if parts.scheme == "sqlite":
            path = unquote(parts.path)
            # sqlite:///relative.db -> "relative.db"; sqlite:////abs.db -> "/abs.db"
            path = path[1:] if path.startswith("/") else path
            if not path:
                raise ValueError("sqlite URL needs a file path: sqlite:///civic-ledger.sqlite")
            return cls(url=url, backend="sqlite", sqlite_path=path)
        if parts.scheme in ("postgresql", "postgres"):
            dbname = unquote(parts.path.lstrip("/"))
            if not dbname:
                raise ValueError("postgresql URL needs a database name")
            query = parse_qs(parts.query)
            return cls(url=url, backend="postgres", pg_dbname=dbname,
                       pg_host=parts.hostname or "127.0.0.1", pg_port=str(parts.port or 5432),
                       pg_user=unquote(parts.username or "postgres"),
                       pg_password=unquote(parts.password or ""),
                       pg_schema=query.get("schema", [""])[0])
        raise ValueError(f"unsupported database URL scheme {parts.scheme!r}; "
                         "use sqlite:///PATH or postgresql://USER@HOST:PORT/DB")

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite file, when this is one."""
        return Path(self.sqlite_path) if self.backend == "sqlite" else None

    def eventsourcing_env(self) -> dict[str, str]:
        """The persistence environment for ``eventsourcing``."""
        if self.backend == "memory":
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        if self.backend == "sqlite":
            return {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": self.sqlite_path, "SQLITE_LOCK_TIMEOUT": "30",
                    "APPLICATION_RECORDER_TOPIC": "ledger.log:LoggedSQLiteRecorder",
                    "CREATE_TABLE": "y" if self.create_tables else "n"}
        env = {"PERSISTENCE_MODULE": "eventsourcing.postgres",
               "POSTGRES_DBNAME": self.pg_dbname, "POSTGRES_HOST": self.pg_host,
               "POSTGRES_PORT": self.pg_port, "POSTGRES_USER": self.pg_user,
               "POSTGRES_PASSWORD": self.pg_password, "POSTGRES_LOCK_TIMEOUT": "10",
               "POSTGRES_CONNECT_TIMEOUT": "5",
               "POSTGRES_POOL_SIZE": "5", "POSTGRES_MAX_OVERFLOW": "10",
               "APPLICATION_RECORDER_TOPIC": "ledger.log:LoggedPostgresRecorder",
               "CREATE_TABLE": "y" if self.create_tables else "n"}
        if self.pg_schema:
            env["POSTGRES_SCHEMA"] = self.pg_schema
        return env


class SideStore:
    """SQL tables kept beside the event tables, in the same database.

    Statements are written with ``?`` placeholders and translated for psycopg.
    The in-memory backend keeps its side tables in an in-memory SQLite
    database (:class:`MemoryDatastore`), so the same SQL runs everywhere.
    """

    def __init__(self, datastore: Any, backend: str, schema: str, reads: Reads) -> None:
        self._datastore = datastore
        self._backend = backend
        self._prefix = f"{schema}." if schema else ""
        self._reads = reads

    def table(self, name: str) -> str:
        """The qualified table name."""
        return f"{self._prefix}{name}"

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
        """The rows of one SELECT (``?`` placeholders), outside any write transaction."""
        if self._backend == "postgres":
            sql = sql.replace("?", "%s")
        return self._reads.query(sql, params)  # type: ignore[return-value]

    @contextmanager
    def transaction(self) -> Iterator[SideCursor]:
        """One committed transaction."""
        with self._datastore.transaction(commit=True) as cursor:
            yield SideCursor(cursor, self._backend)

    @contextmanager
    def ddl_transaction(self) -> Iterator[SideCursor]:
        """A transaction for CREATE TABLE IF NOT EXISTS, serialised across processes."""
        with self._datastore.transaction(commit=True) as cursor:
            serialise_ddl(cursor, self._backend)
            yield SideCursor(cursor, self._backend)


DDL_LOCK = 0x43495643  # "CIVC": one advisory lock for all of our table creation


def serialise_ddl(cursor: Any, backend: str) -> None:
    """Take a transaction-scoped lock before creating tables.

    PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against a concurrent
    twin (both may try to insert the same catalogue row), which is what
    several server workers starting together would do. SQLite serialises
    writers already."""
    if backend == "postgres":
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))


def existing_tables(datastore: Any, backend: str, schema: str = "") -> set[str]:
    """The names of the tables there are (PostgreSQL: in ``schema``, else the
    current schema), to tell a worker that must not create them what is missing."""
    with datastore.transaction(commit=False) as cursor:
        if backend == "postgres":
            cursor.execute("SELECT table_name FROM information_schema.tables WHERE "
                           "table_schema = COALESCE(NULLIF(%s, ''), current_schema())",
                           (schema,))
        else:
            cursor.execute("SELECT name AS table_name FROM sqlite_master WHERE type = 'table'")
        return {str(row["table_name"]) for row in cursor.fetchall()}


class SideCursor:
    """A cursor that speaks ``?`` placeholders on every backend."""

    def __init__(self, cursor: Any, backend: str) -> None:
        self._cursor = cursor
        self._backend = backend

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement."""
        if self._backend == "postgres":
            sql = sql.replace("?", "%s")
        self._cursor.execute(sql, tuple(params))

    def fetchone(self) -> Mapping[str, Any] | None:
        """The next row as a mapping, or None."""
        row = self._cursor.fetchone()
        return dict(row) if row is not None else None

    def fetchall(self) -> list[Mapping[str, Any]]:
        """All remaining rows as mappings."""
        return [dict(row) for row in self._cursor.fetchall()]


class Reads:
    """Single-statement reads, off the write path.

    A lone SELECT is atomic on its own (it sees one snapshot of the database),
    so it needs no explicit transaction. On a SQLite file each thread keeps one
    autocommit, query-only connection for them: no pool, no BEGIN and
    ROLLBACK, and never the writer's slot that a transaction of the shared
    datastore may take. With PostgreSQL (and in memory) they run in a read
    transaction of the shared datastore. The SQL is given in the backend's
    own dialect."""

    def __init__(self, datastore: Any, database: Database) -> None:
        self._datastore = datastore
        self._path = database.sqlite_path if database.backend == "sqlite" else None
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row the statement returns, as dicts."""
        if self._path is None:
            with self._datastore.transaction(commit=False) as cursor:
                cursor.execute(sql, tuple(params))
                return [dict(row) for row in cursor.fetchall()]
        cursor = self._connection().execute(sql, tuple(params))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]] | None:
        """Every row as a plain tuple, on a SQLite file (None elsewhere: use :meth:`query`)."""
        if self._path is None:
            return None
        return self._connection().execute(sql, tuple(params)).fetchall()

    def _connection(self) -> sqlite3.Connection:
        mine = getattr(self._local, "connection", None)
        if mine is None or mine[0] != os.getpid():  # never use a parent's after fork
            mine = self._local.connection = (os.getpid(), self._connect(self._path or ""))
        return mine[1]

    def _connect(self, path: str) -> sqlite3.Connection:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                     timeout=30)
        connection.execute("PRAGMA query_only = ON")
        with self._lock:
            self._opened.append(connection)
        return connection

    def close(self) -> None:
        """Close every connection opened here (each thread opens a new one after)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()
        self._local = threading.local()


class MemoryDatastore:
    """An in-memory SQLite database with the datastore's ``transaction`` shape."""

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", check_same_thread=False,
                                     isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[sqlite3.Cursor]:
        """Serialised transactions on the one connection."""
        with self._lock:
            cursor = self._conn.cursor()
            cursor.execute("BEGIN")
            try:
                yield cursor
            except BaseException:
                self._conn.rollback()
                raise
            if commit:
                self._conn.commit()
            else:
                self._conn.rollback()
