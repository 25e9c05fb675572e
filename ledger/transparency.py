"""Reading and proving the log: entries, roots, proofs and signed checkpoints.

The writer side lives in ``ledger/log.py`` (inside the events' transaction).
This side answers auditors: the exact leaf data, RFC 9162 inclusion and
consistency proofs from stored perfect-subtree nodes (O(log n) reads), and
C2SP checkpoints signed with the log key. Before signing, the latest stored
checkpoint's root is recomputed from the stored nodes; if it differs, the log
was altered and nothing is signed — so the service never signs two
inconsistent checkpoints. A key rotation ends with :meth:`TransparencyLog.hand_over`:
the latest checkpoint, signed by the old key, gets the new key's signature too.
Where the data comes from is a :class:`LogSource` (``ledger/log_sources.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from domain.errors import LogIntegrityError, LogRangeError
from ledger.checkpoints import Signer, cosign_note, make_vkey, parse_checkpoint, \
    sign_checkpoint
from ledger.log import encode_leaf
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
