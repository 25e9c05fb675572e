"""Checking a live database against its own log and its signed checkpoints.

Each finding names the leaf index and the kind of damage:

- ``modified``: the event row at this leaf no longer hashes to the stored leaf;
- ``missing``: the log has a leaf whose event row is gone;
- ``inserted``: an event row that no leaf covers (index: its commit position);
- ``reordered``: the events' commit order differs from the log's order here;
- ``truncated``: a checkpoint kept from before is larger than the log now;
- ``inconsistent``: the stored tree no longer matches a signed checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID

from ledger.checkpoints import verify_checkpoint
from ledger.merkle import TreeBuilder, leaf_hash
from ledger.transparency import EventRecord, LeafRecord, LogIntegrityError, TransparencyLog

PAGE = 5000


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the history."""

    kind: str
    index: int | None
    detail: str

    def __str__(self) -> str:
        where = f"leaf {self.index}" if self.index is not None else "log"
        return f"{self.kind} at {where}: {self.detail}"


def _leaves(log: TransparencyLog) -> Iterator[LeafRecord]:
    start = 0
    while batch := log.source.leaf_records(start, PAGE):
        yield from batch
        start = batch[-1].index + 1


def _events(log: TransparencyLog) -> Iterator[EventRecord]:
    after = 0
    while batch := log.source.event_records(after, PAGE):
        yield from batch
        after = batch[-1].position


def verify_live(log: TransparencyLog, *, vkey: str | Sequence[str] | None = None,
                kept_checkpoint: str | None = None) -> list[Finding]:
    """Compare every event row with its leaf, the order with the log's, and the
    tree with the latest stored checkpoint and an optional one the auditor kept.

    ``vkey``: the key(s) to trust; by default the log's own, current and retired
    (a checkpoint signed before a key rotation verifies with a retired one).

    Every read is of one snapshot of the database, so a server may keep
    writing meanwhile: what it commits after the snapshot is simply not seen
    (read separately, its events showed as "inserted" without their leaves)."""
    with log.source.snapshot():
        leaves = list(_leaves(log))
        events = {record.key: record for record in _events(log)}
        findings = _row_findings(leaves, events)
        builder = TreeBuilder()
        builder.extend(leaf.stored_hash or b"\0" * 32 for leaf in leaves)
        findings += _checkpoint_findings(log, builder, vkey, kept_checkpoint)
    return sorted(findings, key=lambda f: (f.index is None, f.index or 0, f.kind))


def _row_findings(leaves: list[LeafRecord],
                  events: dict[tuple[UUID, int], EventRecord]) -> list[Finding]:
    findings = []
    covered = {leaf.key for leaf in leaves}
    for leaf in leaves:
        record = events.get(leaf.key)
        if record is None:
            findings.append(Finding("missing", leaf.index,
                                    f"event {leaf.key[0]} v{leaf.key[1]} is gone"))
        elif leaf.stored_hash != leaf_hash(record.leaf_data()):
            findings.append(Finding("modified", leaf.index,
                                    f"event {leaf.key[0]} v{leaf.key[1]} was changed"))
    order = [key for key in events if key in covered]  # commit order of covered rows
    expected = [leaf.key for leaf in leaves if leaf.key in events]
    position_of = {leaf.key: leaf.index for leaf in leaves}
    for seen, wanted in zip(order, expected, strict=True):
        if seen != wanted:
            findings.append(Finding("reordered", position_of[wanted],
                                    f"commit order has {seen[0]} v{seen[1]} here"))
    for position, key in enumerate(events):
        if key not in covered:
            findings.append(Finding("inserted", position,
                                    f"event {key[0]} v{key[1]} is in no leaf"))
    return findings


def _checkpoint_findings(log: TransparencyLog, builder: TreeBuilder,
                         vkey: str | Sequence[str] | None,
                         kept: str | None) -> list[Finding]:
    findings = []
    try:
        stored_root = log.root()
    except LogIntegrityError as error:
        return [Finding("inconsistent", None, str(error))]
    if stored_root != builder.root():
        findings.append(Finding("inconsistent", None,
                                "the stored right edge does not match the stored leaves"))
    notes = [("stored", n) for n in [_latest_note(log)] if n] + (
        [("kept", kept)] if kept else [])
    for label, note in notes:
        findings += _against(label, note, log, vkey)
    return findings


def _latest_note(log: TransparencyLog) -> str | None:
    latest = log.source.latest_checkpoint()
    return latest[2] if latest else None


def _against(label: str, note: str, log: TransparencyLog,
             vkey: str | Sequence[str] | None) -> list[Finding]:
    trusted = vkey or [log.vkey(), *log.retired_vkeys()]
    checkpoint, problems = verify_checkpoint(note, trusted)
    if checkpoint is None:
        return [Finding("inconsistent", None, f"{label} checkpoint: {'; '.join(problems)}")]
    size = log.size()
    if checkpoint.size > size:
        return [Finding("truncated", size, f"{label} checkpoint has {checkpoint.size} "
                                           f"leaves; the log has {size}")]
    if log.root(checkpoint.size) != checkpoint.root:
        return [Finding("inconsistent", None, f"the log's first {checkpoint.size} leaves no "
                                              f"longer hash to the {label} checkpoint's root")]
    return []
