"""The verifiable log: every stored event, in commit order, is one RFC 9162 leaf.

The leaf data is :func:`encode_leaf` of the stored record exactly as stored
(originator id, version, topic, state bytes), so an auditor never needs a
decryption key. The log is extended inside the same database transaction that
inserts the events (recorder subclasses below), so no committed event is ever
outside it. Leaf indexes are gap-free: on SQLite writers are serialised by the
database, on PostgreSQL by the events-table lock ``eventsourcing`` takes
before inserting.

Stored per leaf: its index and the (originator id, version) it covers, and the
hash of every completed perfect subtree (``log_nodes``, level 0 = leaf hashes),
which makes every inclusion or consistency proof O(log n) node reads. The
right edge of the tree (one hash per set bit of the size) is kept in
``log_state`` so an append reads one row.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from ledger.commits import GroupCommit, WriterConnection, WriterLock
from ledger.merkle import HASH_SIZE, TreeBuilder, leaf_hash
from ledger.storage import serialise_ddl

LEAF_FORMAT_V1 = 1
EVENTS_PER_STATEMENT = 500  # 2,000 parameters: far under SQLite's limit of 32,766
# The leaf indexes the current thread's last append assigned (read after a save).
_appended: ContextVar[tuple[int, ...]] = ContextVar("appended_leaves", default=())


# Versions of aggregates the current thread's next save read but does not write.
_unchanged: ContextVar[tuple[tuple[UUID, int], ...]] = ContextVar("unchanged_reads",
                                                                  default=())


def expect_unchanged(reads: Iterable[tuple[UUID, int]]) -> None:
    """The versions the next save's decision rests on (aggregates it only read).

    The recorders check them after inserting the events, while the writers are
    serialised (SQLite's write lock, the events-table lock on PostgreSQL, the
    recorder's lock in memory): if any aggregate has a newer version by then,
    the insert fails like a version conflict (:class:`IntegrityError`) and
    nothing is written, so a decision is never made on rules that changed
    before it was stored."""
    _unchanged.set(tuple(reads))


def _check_unchanged(latest: Callable[[UUID], int | None],
                     reads: Iterable[tuple[UUID, int]] | None = None) -> None:
    for aggregate_id, version in _unchanged.get() if reads is None else reads:
        found = latest(aggregate_id)
        if found != version:
            raise IntegrityError(f"{aggregate_id} is at version {found}, "
                                 f"the command read version {version}")


def reset_appended() -> None:
    """Forget the indexes of an earlier append (call before a save)."""
    _appended.set(())


def appended() -> tuple[int, ...]:
    """Leaf indexes assigned by this thread's last successful append."""
    return _appended.get()
_HEADER = struct.Struct(">B16sQ")


def encode_leaf(originator_id: UUID | str, version: int, topic: str, state: bytes) -> bytes:
    """Leaf data v1: ``0x01 || uuid(16) || version(u64) || len(topic)(u32) || topic
    || len(state)(u32) || state`` — fixed widths and length prefixes, so no two
    records share an encoding."""
    uid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
    topic_bytes = topic.encode("utf-8")
    return b"".join((_HEADER.pack(LEAF_FORMAT_V1, uid.bytes, version),
                     struct.pack(">I", len(topic_bytes)), topic_bytes,
                     struct.pack(">I", len(state)), bytes(state)))


def decode_leaf(data: bytes) -> tuple[UUID, int, str, bytes]:
    """Inverse of :func:`encode_leaf`; ValueError on anything malformed."""
    try:
        fmt, uid, version = _HEADER.unpack_from(data, 0)
        pos = _HEADER.size
        (topic_len,) = struct.unpack_from(">I", data, pos)
        topic = data[pos + 4:pos + 4 + topic_len].decode("utf-8")
        pos += 4 + topic_len
        (state_len,) = struct.unpack_from(">I", data, pos)
        state = data[pos + 4:pos + 4 + state_len]
    except (struct.error, UnicodeDecodeError) as error:
        raise ValueError(f"malformed leaf: {error}") from None
    if fmt != LEAF_FORMAT_V1:
        raise ValueError(f"unknown leaf format {fmt}")
    if len(topic.encode()) != topic_len or len(state) != state_len \
            or pos + 4 + state_len != len(data):
        raise ValueError("malformed leaf: lengths do not match the data")
    return UUID(bytes=uid), version, topic, bytes(state)


def stored_event_leaf(event: StoredEvent) -> bytes:
    """The leaf data of one stored event."""
    return encode_leaf(event.originator_id, event.originator_version, event.topic,
                       event.state)


LogState = tuple[int, list[bytes]]  # size and right-edge subtree roots


class LogTables(Protocol):
    """What an append needs from storage, inside the events' transaction."""

    def id_value(self, originator_id: UUID | str) -> Any: ...
    def read_state(self) -> LogState: ...
    def write(self, leaves: list[tuple[int, Any, int]], nodes: list[tuple[int, int, bytes]],
              was: LogState, size: int, frontier: Sequence[bytes]) -> bool: ...


class LogHead:
    """The log state this process's last append left, so that the next append
    needs no read of it.

    Never trusted blindly: every append moves the stored state from the state
    it started at (size *and* right edge) to the new one by a compare-and-set
    (``write`` returns False when the stored state is not the one expected),
    before it inserts any leaf. Another process's append, or a transaction of
    ours that did not commit, makes that fail; the append then reads the
    stored state and runs again in the same transaction. The right edge is
    compared too because the size alone can match by chance: a lost commit of
    ours and another process's append of as many leaves leave the same size
    over different trees. So a stale head costs one retried append and can
    never leave a gap or a fork in the log."""

    def __init__(self) -> None:
        self.known: LogState | None = None


def append_to_log(tables: LogTables, stored_events: Sequence[StoredEvent],
                  head: LogHead | None = None) -> list[int]:
    """Extend the log by one leaf per event; returns their leaf indexes."""
    if not stored_events:
        _appended.set(())
        return []
    state = head.known if head is not None else None
    while True:
        size, frontier = state if state is not None else tables.read_state()
        builder = TreeBuilder.resume(size, frontier)
        leaves, nodes = [], []
        for event in stored_events:
            leaves.append((builder.size, tables.id_value(event.originator_id),
                           event.originator_version))
            nodes.extend(builder.append_with_nodes(leaf_hash(stored_event_leaf(event))))
        if tables.write(leaves, nodes, (size, frontier), builder.size,
                        builder.subtree_roots):
            break
        if state is None:  # read in this very transaction: cannot be stale
            raise IntegrityError(f"the log is no longer at size {size}")
        state = None  # the head was stale: read the stored state
    if head is not None:
        head.known = (builder.size, list(builder.subtree_roots))
    indexes = [index for index, _, _ in leaves]
    _appended.set(tuple(indexes))
    return indexes


def sql_create_statements(prefix: str, blob: str, id_type: str,
                          clustered: str = "") -> list[str]:
    """DDL for the log tables (``blob``: BLOB or bytea; ``id_type``: the events
    table's originator id type, so leaves join to events; ``clustered``: the
    option that stores a table in its primary key's b-tree, ``WITHOUT ROWID``
    on SQLite, so an append writes one b-tree fewer per table)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {prefix}log_leaves (leaf_index BIGINT PRIMARY KEY, "
        f"originator_id {id_type} NOT NULL, originator_version BIGINT NOT NULL, "
        f"UNIQUE (originator_id, originator_version)){clustered}",
        f"CREATE TABLE IF NOT EXISTS {prefix}log_nodes (level INTEGER NOT NULL, "
        f"node_index BIGINT NOT NULL, hash {blob} NOT NULL, "
        f"PRIMARY KEY (level, node_index)){clustered}",
        f"CREATE TABLE IF NOT EXISTS {prefix}log_state (id INTEGER PRIMARY KEY, "
        f"size BIGINT NOT NULL, frontier {blob} NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {prefix}log_checkpoints (size BIGINT PRIMARY KEY, "
        f"root {blob} NOT NULL, note TEXT NOT NULL, signed_at TEXT NOT NULL)",
    ]


class SqlLogTables:
    """:class:`LogTables` over a DB-API cursor (``?`` or ``%s`` placeholders)."""

    def __init__(self, cursor: Any, prefix: str = "", placeholder: str = "?") -> None:
        self._cursor = cursor
        self._prefix = prefix
        self._p = placeholder

    def id_value(self, originator_id: UUID | str) -> Any:
        """SQLite stores ids as hex text; psycopg adapts UUIDs for the uuid column."""
        uid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        return uid.hex if self._p == "?" else uid

    def read_state(self) -> LogState:
        """Size and right-edge subtree roots (0 and [] for a new log)."""
        self._cursor.execute(f"SELECT size, frontier FROM {self._prefix}log_state WHERE id = 1")
        row = self._cursor.fetchone()
        if row is None:
            return 0, []
        blob = bytes(row["frontier"])
        return int(row["size"]), [blob[i:i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]

    def write(self, leaves: list[tuple[int, Any, int]], nodes: list[tuple[int, int, bytes]],
              was: LogState, size: int, frontier: Sequence[bytes]) -> bool:
        """Move the state row from ``was`` to ``size`` and ``frontier`` (False, and
        nothing written, when the stored state is not ``was``), then insert
        leaves and nodes."""
        p, pre = self._p, self._prefix
        # psycopg has no row count in pipeline mode, so PostgreSQL says it with
        # RETURNING; SQLite gives the row count (RETURNING needs SQLite 3.35)
        returning = " RETURNING size" if p == "%s" else ""
        if was[0]:
            self._cursor.execute(f"UPDATE {pre}log_state SET size = {p}, frontier = {p} "
                                 f"WHERE id = 1 AND size = {p} AND frontier = {p}{returning}",
                                 (size, b"".join(frontier), was[0], b"".join(was[1])))
        else:
            self._cursor.execute(f"INSERT INTO {pre}log_state (id, size, frontier) "
                                 f"VALUES (1, {p}, {p}) ON CONFLICT (id) DO NOTHING{returning}",
                                 (size, b"".join(frontier)))
        moved = (self._cursor.fetchone() is not None if returning
                 else getattr(self._cursor, "sqlite_cursor", self._cursor).rowcount == 1)
        if not moved:
            return False
        self._cursor.executemany(
            f"INSERT INTO {pre}log_leaves (leaf_index, originator_id, originator_version) "
            f"VALUES ({p}, {p}, {p})", leaves)
        self._cursor.executemany(
            f"INSERT INTO {pre}log_nodes (level, node_index, hash) VALUES ({p}, {p}, {p})",
            nodes)
        return True


class LoggedSQLiteRecorder(SQLiteApplicationRecorder):
    """SQLite events table plus the log, extended in the same transaction.

    Inserts from concurrent threads of one process are committed together
    (:class:`GroupCommit`): one transaction and one durable commit for all
    the inserts waiting when the writer is free, each in its own savepoint,
    so one that conflicts is rolled back alone and fails alone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pool = self.datastore.pool
        if pool.is_sqlite_memory_mode:  # one database per connection: use the pool's
            self._writer = None
            self._group = GroupCommit(lambda: self.datastore.transaction(commit=True),
                                      self._insert_one)
        else:
            # The pool's write interlock: a private attribute of eventsourcing 9.5
            # (pinned in setup.cfg); every SQLite test builds this recorder.
            self._writer = WriterConnection(pool.db_name, pool.lock_timeout or 5,
                                            pool._writer_lock)
            self._group = GroupCommit(self._writer.transaction, self._insert_one,
                                      WriterLock(pool.db_name))
        self._head = LogHead()
        self._statements: dict[int, str] = {}

    def construct_create_table_statements(self) -> list[str]:
        """Events table and log tables."""
        return super().construct_create_table_statements() + sql_create_statements(
            "", "BLOB", "TEXT", " WITHOUT ROWID")

    def close(self) -> None:
        """Close the event writers' connection (the pool is the datastore's)."""
        if self._writer is not None:
            self._writer.close()

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        ids, leaves = self._group.submit(stored_events, _unchanged.get())
        _appended.set(tuple(leaves))
        return ids

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        return self._insert_one(c, stored_events, _unchanged.get())[0]

    def _insert_one(self, c: Any, stored_events: Sequence[StoredEvent],
                    reads: Sequence[tuple[UUID, int]]) -> tuple[Sequence[int], list[int]]:
        ids = self._insert_rows(c, stored_events)
        _check_unchanged(lambda aggregate_id: _scalar(
            c, f"SELECT MAX(originator_version) FROM {self.events_table_name} "
               "WHERE originator_id = ?", (aggregate_id.hex,)), reads)
        return ids, append_to_log(SqlLogTables(c), stored_events, self._head)

    def _insert_rows(self, c: Any, stored_events: Sequence[StoredEvent]) -> list[int]:
        """The events, by one statement per ``EVENTS_PER_STATEMENT`` (the library
        runs one per event); returns their notification ids. The rows of one
        INSERT get consecutive rowids, the last of which is ``lastrowid``."""
        ids: list[int] = []
        for start in range(0, len(stored_events), EVENTS_PER_STATEMENT):
            chunk = stored_events[start:start + EVENTS_PER_STATEMENT]
            params: list[Any] = []
            for s in chunk:
                params += (s.originator_id.hex if isinstance(s.originator_id, UUID)
                           else s.originator_id, s.originator_version, s.topic, s.state)
            c.execute(self._insert_statement(len(chunk)), params)
            last = c.lastrowid
            ids.extend(range(last - len(chunk) + 1, last + 1))
        return ids

    def _insert_statement(self, rows: int) -> str:
        try:
            return self._statements[rows]
        except KeyError:
            statement = self._statements[rows] = (
                f"INSERT INTO {self.events_table_name} (originator_id, originator_version, "
                f"topic, state) VALUES " + ", ".join(["(?, ?, ?, ?)"] * rows))
            return statement


class LoggedPostgresRecorder(PostgresApplicationRecorder):
    """PostgreSQL events table plus the log, extended in the same transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = LogHead()

    def create_table(self) -> None:
        """Events table, then the log tables in the same schema."""
        super().create_table()
        with self.datastore.transaction(commit=True) as curs:
            serialise_ddl(curs, "postgres")
            for statement in sql_create_statements(self._log_prefix, "bytea", "uuid"):
                curs.execute(statement)

    @property
    def _log_prefix(self) -> str:
        return f'"{self.datastore.schema}".' if self.datastore.schema else ""

    def _create_table(self, curs: Any) -> None:
        # eventsourcing's own DDL includes CREATE OR REPLACE FUNCTION, which two
        # workers starting together would run into each other ("tuple
        # concurrently updated"): take the same lock as all our table creation.
        serialise_ddl(curs, "postgres")
        super()._create_table(curs)

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                              **kwargs: Any) -> None:
        # The base class has locked the events table by now: appends are serial.
        super()._insert_stored_events(curs, stored_events, **kwargs)
        # Flush the pipelined insert first, so that a conflict surfaces here and
        # not inside our statements (which would leave the connection believing
        # in prepared statements that never were).
        with curs.connection.pipeline() as pipeline:
            pipeline.sync()
        with curs.connection.cursor() as log_cursor:
            try:
                _check_unchanged(lambda aggregate_id: _scalar(
                    log_cursor, f'SELECT MAX(originator_version) FROM {self._log_prefix}'
                                f'"{self.events_table_name}" WHERE originator_id = %s',
                    (aggregate_id,)))
                append_to_log(SqlLogTables(log_cursor, self._log_prefix, "%s"),
                              stored_events, self._head)
            except Exception:
                _abort(log_cursor)
                raise


class MemoryLogTables:
    """:class:`LogTables` in Python lists, for the in-memory backend."""

    def __init__(self) -> None:
        self.leaves: list[tuple[int, Any, int]] = []
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.size = 0
        self.frontier: list[bytes] = []
        self.checkpoints: dict[int, tuple[bytes, str, str]] = {}

    def id_value(self, originator_id: UUID | str) -> Any:
        """Ids as UUIDs."""
        return originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))

    def read_state(self) -> LogState:
        """Size and right-edge subtree roots."""
        return self.size, list(self.frontier)

    def write(self, leaves: list[tuple[int, Any, int]], nodes: list[tuple[int, int, bytes]],
              was: LogState, size: int, frontier: Sequence[bytes]) -> bool:
        """Keep leaves, nodes and state (False when the state is no longer ``was``)."""
        if (self.size, self.frontier) != (was[0], list(was[1])):
            return False
        self.leaves.extend(leaves)
        self.nodes.update(((level, index), h) for level, index, h in nodes)
        self.size, self.frontier = size, list(frontier)
        return True


class LoggedPOPORecorder(POPOApplicationRecorder):
    """In-memory events plus the log, under the recorder's lock."""

    def __init__(self) -> None:
        super().__init__()
        self.log_tables = MemoryLogTables()

    def _update_table(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        _check_unchanged(lambda aggregate_id: max(
            self._stored_events_index.get(str(aggregate_id)) or [None]))  # type: ignore[type-var]
        ids = super()._update_table(stored_events, **kwargs)
        append_to_log(self.log_tables, stored_events)
        return ids


def _abort(cursor: Any) -> None:
    """Make the database itself fail the open transaction.

    ``eventsourcing``'s PostgreSQL ``insert_events`` holds back any exception
    raised while the events are inserted and leaves its transaction block
    normally, relying on the database having failed the transaction (a
    unique violation does): an exception of ours alone would be followed by
    a COMMIT of events without their leaves. A statement that always fails
    puts the transaction in the failed state, so that COMMIT rolls back."""
    try:
        cursor.execute("ROLLBACK TO SAVEPOINT civic_ledger_abort_this_transaction")
        with cursor.connection.pipeline() as pipeline:
            pipeline.sync()  # the failure surfaces here, not at the block's exit
    except Exception:  # the expected failure: that savepoint never exists
        pass


def _scalar(cursor: Any, sql: str, params: tuple[Any, ...]) -> Any:
    cursor.execute(sql, params)
    row = cursor.fetchone()
    if row is None:
        return None
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def leaf_hashes(events: Iterable[StoredEvent]) -> list[bytes]:
    """Leaf hashes of stored events, in the given order."""
    return [leaf_hash(stored_event_leaf(e)) for e in events]
