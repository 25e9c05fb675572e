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

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import Any

from ledger.storage import Reads, serialise_ddl

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Table:
    """A read-model table: its key columns and its other columns."""

    name: str
    keys: tuple[str, ...]
    columns: tuple[str, ...]
    types: Mapping[str, str]

    @cached_property
    def all_columns(self) -> tuple[str, ...]:
        """Keys first, then the rest."""
        return self.keys + self.columns

    @cached_property
    def key_of(self) -> Callable[[Mapping[str, Any]], Key]:
        """A row's key tuple (made once per table: it runs for every row put)."""
        if len(self.keys) == 1:
            only = self.keys[0]
            return lambda row: (row[only],)
        return itemgetter(*self.keys)  # type: ignore[return-value]

    @cached_property
    def values_of(self) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
        """A row's values in column order (missing columns are NULL)."""
        columns = self.all_columns
        return lambda row: tuple(map(row.get, columns))

    def ddl(self, prefix: str) -> str:
        """CREATE TABLE IF NOT EXISTS for this table."""
        cols = ", ".join(f"{c} {self.types.get(c, 'TEXT')}" for c in self.all_columns)
        return (f"CREATE TABLE IF NOT EXISTS {prefix}{self.name} ({cols}, "
                f"PRIMARY KEY ({', '.join(self.keys)}))")


class SqlViews:
    """Connection handling and dialect for the read-model tables."""

    def __init__(self, datastore: Any, backend: str, schema: str, reads: Reads) -> None:
        self.datastore = datastore
        self.reads = reads
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
        """Rows as dicts, from one statement (one snapshot; off the write path)."""
        return self.reads.query(self.sql(statement), params)

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
        self._warm_tables = warm.tables if warm is not None else frozenset()
        self._rows: dict[tuple[str, Key], dict[str, Any] | None] = {}
        self._dirty: dict[tuple[str, Key], dict[str, Any]] = {}
        self._appended: dict[str, list[tuple[Any, ...]]] = {}

    def get(self, table: str, key: Key) -> dict[str, Any] | None:
        """The row to change and :meth:`put`, or None.

        The batch's own copy: a row this batch already put is handed back as
        it is (it is written on flush either way), any other row is copied, so
        rows shared between batches only ever change through :meth:`put`."""
        slot = (table, key)
        mine = self._dirty.get(slot)
        if mine is not None:
            return mine
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
        slot = (table, self._tables[table].key_of(row))
        self._rows[slot] = row
        self._dirty[slot] = row
        if table in self._warm_tables:
            self._warm.rows[slot] = row  # type: ignore[union-attr]

    def append(self, table: str, row: Mapping[str, Any] | tuple[Any, ...]) -> None:
        """Insert a row that is never changed afterwards (statement lines): a
        mapping, or its values in the table's column order."""
        values = row if isinstance(row, tuple) else self._tables[table].values_of(row)
        self._appended.setdefault(table, []).append(values)

    def flush(self) -> None:
        """Write every changed and appended row."""
        by_table: dict[str, list[dict[str, Any]]] = {}
        for (table, _), row in self._dirty.items():
            by_table.setdefault(table, []).append(row)
        for table, rows in by_table.items():
            self._upsert(self._tables[table], rows)
        for table, lines in self._appended.items():
            cols = self._tables[table].all_columns
            self._cursor.executemany(self._views.sql(
                f"INSERT INTO {{p}}{table} ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})"), lines)
        self._dirty.clear()
        self._appended.clear()

    def _upsert(self, spec: Table, rows: list[dict[str, Any]]) -> None:
        cols = spec.all_columns
        updates = ", ".join(f"{c} = excluded.{c}" for c in spec.columns)
        self._cursor.executemany(self._views.sql(
            f"INSERT INTO {{p}}{spec.name} ({', '.join(cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)}) "
            f"ON CONFLICT ({', '.join(spec.keys)}) DO UPDATE SET {updates}"),
            list(map(spec.values_of, rows)))
