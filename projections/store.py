"""The thin store under the read models: SQL tables, a unit of work, positions.

A batch of events is folded into a :class:`UnitOfWork` — rows read lazily,
changed in memory — and written in **one transaction together with the
projection's tracking position**, so a batch is applied exactly once: a
crash before commit leaves both the rows and the position as they were, and
replaying a position that is already applied changes nothing because the
position is checked under the same lock.

The read models live in the events' database (SQLite or PostgreSQL, in the
same schema); with in-memory events they live in an in-memory SQLite database,
so one set of SQL serves every backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ledger.storage import serialise_ddl

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Table:
    """A read-model table: its key columns and its other columns."""

    name: str
    keys: tuple[str, ...]
    columns: tuple[str, ...]
    types: Mapping[str, str]

    @property
    def all_columns(self) -> tuple[str, ...]:
        """Keys first, then the rest."""
        return self.keys + self.columns

    def ddl(self, prefix: str) -> str:
        """CREATE TABLE IF NOT EXISTS for this table."""
        cols = ", ".join(f"{c} {self.types.get(c, 'TEXT')}" for c in self.all_columns)
        return (f"CREATE TABLE IF NOT EXISTS {prefix}{self.name} ({cols}, "
                f"PRIMARY KEY ({', '.join(self.keys)}))")


class SqlViews:
    """Connection handling and dialect for the read-model tables."""

    def __init__(self, datastore: Any, backend: str, schema: str = "") -> None:
        self.datastore = datastore
        self.postgres = backend == "postgres"
        self.prefix = f'"{schema}".' if schema else ""

    def sql(self, statement: str) -> str:
        """Translate ``?`` placeholders and ``{p}`` (the schema prefix)."""
        statement = statement.replace("{p}", self.prefix)
        return statement.replace("?", "%s") if self.postgres else statement

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Any]:
        """A cursor in one transaction (committed when ``commit``)."""
        with self.datastore.transaction(commit=commit) as cursor:
            yield cursor

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts, in one read transaction."""
        with self.transaction(commit=False) as cursor:
            cursor.execute(self.sql(statement), tuple(params))
            return [dict(row) for row in cursor.fetchall()]

    def create(self, tables: Sequence[Table]) -> None:
        """Create the tables and the positions table if missing."""
        with self.transaction(commit=True) as cursor:
            serialise_ddl(cursor, "postgres" if self.postgres else "sqlite")
            for table in tables:
                cursor.execute(table.ddl(self.prefix))
            cursor.execute(self.sql(
                "CREATE TABLE IF NOT EXISTS {p}projection_positions (name TEXT PRIMARY KEY, "
                "position BIGINT NOT NULL, failed_at BIGINT, error TEXT)"))


class WarmRows:
    """Rows of the small, hot tables kept between batches by one process.

    Valid only while nobody else has folded in between: the runner hands it
    to a batch only when the locked positions are the ones it last wrote.
    ``complete`` means every existing row of the kept tables is here (true
    after this process rebuilt from zero), so a miss needs no SELECT."""

    def __init__(self, tables: frozenset[str]) -> None:
        self.tables = tables
        self.rows: dict[tuple[str, Key], dict[str, Any] | None] = {}
        self.complete = False
        self.positions: dict[str, int] | None = None

    def forget(self) -> None:
        """Drop everything (another process folded meanwhile)."""
        self.rows.clear()
        self.complete = False
        self.positions = None


class UnitOfWork:
    """Rows of one batch: read through, changed in memory, written on :meth:`flush`."""

    def __init__(self, views: SqlViews, cursor: Any, tables: Mapping[str, Table],
                 warm: WarmRows | None = None) -> None:
        self._views = views
        self._cursor = cursor
        self._tables = tables
        self._warm = warm
        self._rows: dict[tuple[str, Key], dict[str, Any] | None] = {}
        self._dirty: dict[tuple[str, Key], dict[str, Any]] = {}
        self._appended: dict[str, list[dict[str, Any]]] = {}

    def get(self, table: str, key: Key) -> dict[str, Any] | None:
        """The row (a copy you may change and :meth:`put`), or None."""
        row = self.peek(table, key)
        return dict(row) if row is not None else None

    def peek(self, table: str, key: Key) -> dict[str, Any] | None:
        """The row itself, to read only (no copy), or None."""
        slot = (table, key)
        warm = self._warm
        if slot not in self._rows and warm is not None and table in warm.tables:
            if slot in warm.rows:
                self._rows[slot] = warm.rows[slot]
            elif warm.complete:
                self._rows[slot] = None
        if slot not in self._rows:
            spec = self._tables[table]
            where = " AND ".join(f"{k} = ?" for k in spec.keys)
            self._cursor.execute(self._views.sql(
                f"SELECT * FROM {{p}}{table} WHERE {where}"), key)
            found = self._cursor.fetchone()
            self._rows[slot] = dict(found) if found is not None else None
        return self._rows[slot]

    def put(self, table: str, row: dict[str, Any]) -> None:
        """Insert or replace a row (by its key columns)."""
        keys = self._tables[table].keys
        key = (row[keys[0]],) if len(keys) == 1 else tuple(row[k] for k in keys)
        self._rows[(table, key)] = row
        self._dirty[(table, key)] = row
        if self._warm is not None and table in self._warm.tables:
            self._warm.rows[(table, key)] = row

    def append(self, table: str, row: dict[str, Any]) -> None:
        """Insert a row that is never changed afterwards (statement lines)."""
        self._appended.setdefault(table, []).append(row)

    def flush(self) -> None:
        """Write every changed and appended row."""
        by_table: dict[str, list[dict[str, Any]]] = {}
        for (table, _), row in self._dirty.items():
            by_table.setdefault(table, []).append(row)
        for table, rows in by_table.items():
            self._upsert(self._tables[table], rows)
        for table, rows in self._appended.items():
            spec = self._tables[table]
            cols = spec.all_columns
            self._cursor.executemany(self._views.sql(
                f"INSERT INTO {{p}}{table} ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})"),
                [tuple(map(r.get, cols)) for r in rows])
        self._dirty.clear()
        self._appended.clear()

    def _upsert(self, spec: Table, rows: list[dict[str, Any]]) -> None:
        cols = spec.all_columns
        updates = ", ".join(f"{c} = excluded.{c}" for c in spec.columns)
        self._cursor.executemany(self._views.sql(
            f"INSERT INTO {{p}}{spec.name} ({', '.join(cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)}) "
            f"ON CONFLICT ({', '.join(spec.keys)}) DO UPDATE SET {updates}"),
            [tuple(map(r.get, cols)) for r in rows])
