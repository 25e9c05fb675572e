"""Reading and proving the log: entries, roots, proofs and signed checkpoints.

The writer side lives in ``ledger/log.py`` (inside the events' transaction).
This side answers auditors: the exact leaf data, RFC 9162 inclusion and
consistency proofs from stored perfect-subtree nodes (O(log n) reads), and
C2SP checkpoints signed with the log key. Before signing, the latest stored
checkpoint's root is recomputed from the stored nodes; if it differs, the log
was altered and nothing is signed — so the service never signs two
inconsistent checkpoints. A key rotation ends with :meth:`TransparencyLog.hand_over`:
the latest checkpoint, signed by the old key, gets the new key's signature too.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.errors import LogIntegrityError, LogRangeError
from ledger.checkpoints import Signer, cosign_note, make_vkey, parse_checkpoint, \
    sign_checkpoint
from ledger.log import MemoryLogTables, SqlLogTables, encode_leaf
from ledger.merkle import (
    EMPTY_ROOT,
    TreeBuilder,
    consistency_proof,
    hash_range_from_nodes,
    inclusion_proof,
)


__all__ = ["LogIntegrityError", "LogRangeError", "TransparencyLog"]


@dataclass(frozen=True)
class Entry:
    """One leaf: its index and exact leaf data (None when its event row is gone)."""

    index: int
    data: bytes | None


class LogSource(Protocol):
    """Storage reads the log needs."""

    def state(self) -> tuple[int, list[bytes]]: ...
    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]: ...
    def entries(self, start: int, limit: int) -> list[Entry]: ...
    def latest_checkpoint(self) -> tuple[int, bytes, str] | None: ...
    def store_checkpoint(self, size: int, root: bytes, note: str) -> str: ...
    def replace_note(self, size: int, note: str) -> None: ...
    def leaf_records(self, start: int, limit: int) -> list[LeafRecord]: ...
    def event_records(self, after: int, limit: int) -> list[EventRecord]: ...
    def snapshot(self) -> AbstractContextManager[None]: ...


@dataclass(frozen=True)
class LeafRecord:
    """What the log says leaf ``index`` is: the event it covers and its stored hash."""

    index: int
    key: tuple[UUID, int]
    stored_hash: bytes | None


@dataclass(frozen=True)
class EventRecord:
    """A stored event row in notification (commit) order."""

    position: int
    key: tuple[UUID, int]
    topic: str
    state: bytes

    def leaf_data(self) -> bytes:
        """The leaf data this row encodes to."""
        return encode_leaf(self.key[0], self.key[1], self.topic, self.state)


class TransparencyLog:
    """Roots, proofs, entries and checkpoints of one application's log."""

    def __init__(self, source: LogSource, signer: Signer | None) -> None:
        self._source = source
        self._signer = signer

    @property
    def source(self) -> LogSource:
        """The storage behind the log (for the auditor's raw comparisons)."""
        return self._source

    @property
    def origin(self) -> str:
        """The checkpoint origin (the log key's name)."""
        return self._signer.name if self._signer else ""

    def vkey(self) -> str:
        """The C2SP verifier key line for the log key."""
        if self._signer is None:
            raise LogIntegrityError("this ledger has no log key configured")
        return make_vkey(self._signer.name, self._signer.private_key.public_key())

    def retired_vkeys(self) -> tuple[str, ...]:
        """Verifier keys the log signed with before its key was rotated, oldest first."""
        return self._signer.retired if self._signer else ()

    def size(self) -> int:
        """Number of leaves."""
        return self._source.state()[0]

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all)."""
        current, frontier = self._source.state()
        if size is None or size == current:
            return TreeBuilder.resume(current, frontier).root()
        self._check_size(size, current)
        return self._with_nodes(lambda hash_range: hash_range(0, size)) if size else EMPTY_ROOT

    def entries(self, start: int, limit: int) -> list[Entry]:
        """Leaves from ``start``, in index order."""
        if start < 0 or limit < 1:
            raise LogRangeError("start must be >= 0 and limit >= 1", field="start")
        return self._source.entries(start, limit)

    def leaf_hash(self, index: int) -> bytes:
        """The stored leaf hash at ``index``."""
        self._check_index(index, self.size())
        found = self._source.nodes([(0, index)]).get((0, index))
        if found is None:
            raise LogIntegrityError(f"log leaf {index} is missing")
        return found

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size``."""
        self._check_size(size, self.size())
        self._check_index(index, size)
        return self._with_nodes(lambda hash_range: inclusion_proof(index, size, hash_range))

    def consistency(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 consistency proof between two tree sizes."""
        self._check_size(size2, self.size())
        if not 0 < size1 <= size2:
            raise LogRangeError("need 0 < from <= to", field="from")
        return self._with_nodes(
            lambda hash_range: consistency_proof(size1, size2, hash_range))

    def checkpoint(self, now: dt.datetime | None = None) -> str:
        """A signed checkpoint of the current tree (reused when the size is unchanged)."""
        if self._signer is None:
            raise LogIntegrityError("this ledger has no log key configured")
        # The latest checkpoint first, then the log: a checkpoint is stored only
        # for a size already committed, so the log read after it is at least
        # that large unless it really shrank. Read the other way round, a
        # checkpoint another worker signed in between looked like a shrunk log.
        latest = self._source.latest_checkpoint()
        size, frontier = self._source.state()
        if latest is not None:
            old_size, old_root, note = latest
            if old_size > size or self.root(old_size) != old_root:
                raise LogIntegrityError(
                    f"the log no longer matches the checkpoint signed at size {old_size}; "
                    "refusing to sign")
            if old_size == size:
                return note
        root = TreeBuilder.resume(size, frontier).root()
        note = sign_checkpoint(self._signer.name, size, root, self._signer.private_key,
                               self._signer.name)
        return self._source.store_checkpoint(size, root, note)

    def hand_over(self, successor: Signer) -> str:
        """The latest checkpoint signed by this log's key and by ``successor`` too.

        The first step of a key rotation, while both keys exist: the stored note
        gains the new key's signature (its text, hence its root, is unchanged),
        so an auditor who trusts the old key can check that the new one signed
        the same tree, and everything after it verifies with the new key alone.
        Refuses, like :meth:`checkpoint`, when the log no longer matches."""
        if self._signer is None or successor.name != self._signer.name:
            raise LogIntegrityError("the new log key must carry the log's name "
                                    f"{self.origin!r} (the checkpoints' origin)")
        note = cosign_note(self.checkpoint(), successor.private_key, successor.name)
        self._source.replace_note(parse_checkpoint(note).size, note)
        return note

    def _with_nodes(self, compute: Callable[[Any], Any]) -> Any:
        """Run ``compute`` over stored nodes, fetched in one query.

        Which nodes a proof reads depends only on the sizes and indexes, never
        on hash values, so a dry run with placeholder hashes names them all."""
        wanted: list[tuple[int, int]] = []

        def record(level: int, index: int) -> bytes:
            wanted.append((level, index))
            return bytes(32)

        compute(hash_range_from_nodes(record))
        found = self._source.nodes(wanted)
        missing = [key for key in wanted if key not in found]
        if missing:
            raise LogIntegrityError(f"log node {missing[0]} is missing")
        return compute(hash_range_from_nodes(lambda level, index: found[(level, index)]))

    @staticmethod
    def _check_size(size: int, current: int) -> None:
        if not 0 <= size <= current:
            raise LogRangeError(f"size must be between 0 and {current}", field="size")

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if not 0 <= index < size:
            raise LogRangeError(f"index must be below the size {size}", field="index")


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
