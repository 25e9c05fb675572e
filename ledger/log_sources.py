"""Where the log's reader finds its data: the SQL tables beside the events, or
the in-memory recorder (tests). Both answer :class:`ledger.transparency.LogSource`.

Each read is its own short transaction, except inside :meth:`snapshot`, where
every read of the calling thread sees one moment of the database: what an
audit of a live database needs (``ledger.audit.verify_live``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.log import MemoryLogTables, SqlLogTables, encode_leaf
from ledger.transparency import Entry, EventRecord, LeafRecord


class SqlLogSource:
    """:class:`LogSource` over the events' datastore (SQLite or PostgreSQL)."""

    def __init__(self, datastore: Any, backend: str, events_table: str,
                 schema: str = "") -> None:
        self._datastore = datastore
        self._pg = backend == "postgres"
        self._p = "%s" if self._pg else "?"
        self._pre = f'"{schema}".' if schema else ""
        self._events = f'{self._pre}"{events_table}"' if self._pg else events_table
        self._pinned = threading.local()  # the snapshot's cursor, in its own thread only

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read of this thread inside sees the database as of one moment:
        one read transaction (``REPEATABLE READ`` on PostgreSQL; on SQLite a read
        transaction is a snapshot already). Writers are not held up."""
        with self._datastore.transaction(commit=False) as cursor:
            if self._pg:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            self._pinned.cursor = cursor
            try:
                yield
            finally:
                self._pinned.cursor = None

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        pinned = getattr(self._pinned, "cursor", None)
        if pinned is not None:
            yield pinned
            return
        with self._datastore.transaction(commit=False) as cursor:
            yield cursor

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._reading() as cursor:
            cursor.execute(sql.replace("?", self._p), params)
            return list(cursor.fetchall())

    def state(self) -> tuple[int, list[bytes]]:
        """Size and right edge."""
        with self._reading() as cursor:
            return SqlLogTables(cursor, self._pre, self._p).read_state()


    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Many stored nodes in one query."""
        if not keys:
            return {}
        unique = sorted(set(keys))
        where = " OR ".join("(level = ? AND node_index = ?)" for _ in unique)
        rows = self._read(f"SELECT level, node_index, hash FROM {self._pre}log_nodes "
                          f"WHERE {where}", tuple(v for key in unique for v in key))
        return {(r["level"], r["node_index"]): bytes(r["hash"]) for r in rows}

    def entries(self, start: int, limit: int) -> list[Entry]:
        """Leaves joined to their stored events."""
        rows = self._read(
            f"SELECT l.leaf_index, l.originator_id AS lid, l.originator_version AS lver, "
            f"e.topic, e.state FROM {self._pre}log_leaves l LEFT JOIN {self._events} e "
            "ON e.originator_id = l.originator_id "
            "AND e.originator_version = l.originator_version "
            "WHERE l.leaf_index >= ? ORDER BY l.leaf_index LIMIT ?", (start, limit))
        return [Entry(r["leaf_index"], None if r["topic"] is None else encode_leaf(
            str(r["lid"]), r["lver"], r["topic"], bytes(r["state"]))) for r in rows]

    def latest_checkpoint(self) -> tuple[int, bytes, str] | None:
        """The checkpoint with the largest size."""
        rows = self._read(f"SELECT size, root, note FROM {self._pre}log_checkpoints "
                          "ORDER BY size DESC LIMIT 1")
        return (int(rows[0]["size"]), bytes(rows[0]["root"]), rows[0]["note"]) if rows else None

    def store_checkpoint(self, size: int, root: bytes, note: str) -> str:
        """Keep a signed checkpoint; a concurrent signer's note for the same size wins."""
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"INSERT INTO {self._pre}log_checkpoints (size, root, note, signed_at) "
                f"VALUES ({self._p}, {self._p}, {self._p}, {self._p}) "
                "ON CONFLICT (size) DO NOTHING",
                (size, root, note, dt.datetime.now(dt.UTC).isoformat()))
            cursor.execute(f"SELECT note FROM {self._pre}log_checkpoints "
                           f"WHERE size = {self._p}", (size,))
            row = cursor.fetchone()
        return str(row["note"])

    def replace_note(self, size: int, note: str) -> None:
        """Store a note with more signatures over the same checkpoint text."""
        with self._datastore.transaction(commit=True) as cursor:
            cursor.execute(f"UPDATE {self._pre}log_checkpoints SET note = {self._p} "
                           f"WHERE size = {self._p}", (note, size))


    def leaf_records(self, start: int, limit: int) -> list[LeafRecord]:
        """Leaves with their event keys and stored leaf hashes."""
        rows = self._read(
            f"SELECT l.leaf_index, l.originator_id, l.originator_version, n.hash "
            f"FROM {self._pre}log_leaves l LEFT JOIN {self._pre}log_nodes n "
            "ON n.level = 0 AND n.node_index = l.leaf_index "
            "WHERE l.leaf_index >= ? ORDER BY l.leaf_index LIMIT ?", (start, limit))
        return [LeafRecord(r["leaf_index"], (_uuid(r["originator_id"]), r["originator_version"]),
                           None if r["hash"] is None else bytes(r["hash"])) for r in rows]

    def event_records(self, after: int, limit: int) -> list[EventRecord]:
        """Event rows after notification position ``after``, in commit order."""
        nid = "notification_id" if self._pg else "rowid"
        rows = self._read(
            f"SELECT {nid} AS nid, originator_id, originator_version, topic, state "
            f"FROM {self._events} WHERE {nid} > ? ORDER BY {nid} LIMIT ?", (after, limit))
        return [EventRecord(r["nid"], (_uuid(r["originator_id"]), r["originator_version"]),
                            r["topic"], bytes(r["state"])) for r in rows]


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


class MemoryLogSource:
    """:class:`LogSource` over the in-memory recorder."""

    def __init__(self, tables: MemoryLogTables, events: list[StoredEvent],
                 index: dict[str, dict[int, int]], lock: Any) -> None:
        self._tables = tables
        self._events = events
        self._index = index
        self._lock = lock  # the recorder's (reentrant) lock, under which it writes

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one moment: the recorder's writers wait meanwhile."""
        with self._lock:
            yield

    def state(self) -> tuple[int, list[bytes]]:
        """Size and right edge."""
        return self._tables.read_state()


    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Many stored nodes."""
        return {key: self._tables.nodes[key] for key in keys if key in self._tables.nodes}

    def entries(self, start: int, limit: int) -> list[Entry]:
        """Leaves with their stored events."""
        found = []
        for index, uid, version in self._tables.leaves[start:start + limit]:
            position = self._index[str(uid)].get(version)
            event = self._events[position] if position is not None else None
            found.append(Entry(index, None if event is None else encode_leaf(
                uid, version, event.topic, event.state)))
        return found

    def latest_checkpoint(self) -> tuple[int, bytes, str] | None:
        """The checkpoint with the largest size."""
        if not self._tables.checkpoints:
            return None
        size = max(self._tables.checkpoints)
        root, note, _ = self._tables.checkpoints[size]
        return size, root, note

    def store_checkpoint(self, size: int, root: bytes, note: str) -> str:
        """Keep a signed checkpoint."""
        stamp = dt.datetime.now(dt.UTC).isoformat()
        return self._tables.checkpoints.setdefault(size, (root, note, stamp))[1]

    def replace_note(self, size: int, note: str) -> None:
        """Store a note with more signatures over the same checkpoint text."""
        root, _, stamp = self._tables.checkpoints[size]
        self._tables.checkpoints[size] = (root, note, stamp)

    def leaf_records(self, start: int, limit: int) -> list[LeafRecord]:
        """Leaves with their event keys and stored leaf hashes."""
        return [LeafRecord(i, (_uuid(uid), version), self._tables.nodes.get((0, i)))
                for i, uid, version in self._tables.leaves[start:start + limit]]

    def event_records(self, after: int, limit: int) -> list[EventRecord]:
        """Stored events after position ``after`` (1-based, like notification ids)."""
        return [EventRecord(after + n + 1, (_uuid(e.originator_id), e.originator_version),
                            e.topic, e.state)
                for n, e in enumerate(self._events[after:after + limit])]
