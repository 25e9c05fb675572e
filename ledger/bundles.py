"""Offline audit bundles: everything an auditor needs, checkable without our server.

Format v1 (binary, streamed both ways in bounded memory)::

    b"civic-ledger-bundle v1\\n"
    u32 big-endian length, then a UTF-8 JSON header:
        {"origin", "size", "checkpoint": <signed note>, "vkey": <verifier key>}
    then ``size`` entries, each a u32 big-endian length and the exact leaf data
    (``ledger.log.encode_leaf``).

:func:`verify_bundle` refolds the RFC 9162 tree, checks the checkpoint's
signature against the key the *auditor* supplies (never the one in the
bundle), checks a checkpoint the auditor kept is consistent with the new one,
decodes the ledger events and re-derives every balance.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from hashlib import sha256
from dataclasses import dataclass, field
from typing import IO, Any
from uuid import UUID

from ledger.checkpoints import verify_checkpoint
from ledger.merkle import TreeBuilder
from ledger.transparency import TransparencyLog

MAGIC = b"civic-ledger-bundle v1\n"
_LEN = struct.Struct(">I")
PAGE = 2000
TRANSFER_TOPIC = "domain.transfers:Transfer."
TRANSFER_PREFIX = TRANSFER_TOPIC.encode()
# Leaf data v1 (ledger.log.encode_leaf): format(1) id(16) version(8) topic length(4) topic
_TOPIC_AT = 1 + 16 + 8 + 4

try:  # orjson parses the transfer events about four times faster; json is the fallback
    from orjson import loads as _json_loads
except ImportError:  # pragma: no cover - orjson is a dependency
    _json_loads: Callable[[bytes], Any] = json.loads  # type: ignore[no-redef]


def export_bundle(log: TransparencyLog, out: IO[bytes]) -> int:
    """Write a bundle of the log up to a freshly signed checkpoint; returns its size."""
    note = log.checkpoint()
    size = int(note.split("\n")[1])
    header = json.dumps({"origin": log.origin, "size": size, "checkpoint": note,
                         "vkey": log.vkey()}).encode()
    out.write(MAGIC + _LEN.pack(len(header)) + header)
    written = 0
    while written < size:
        for entry in log.entries(written, min(PAGE, size - written)):
            if entry.data is None:
                raise ValueError(f"leaf {entry.index} has no event row; run verify --database")
            out.write(_LEN.pack(len(entry.data)) + entry.data)
            written += 1
    return size


@dataclass
class Balances:
    """Balances re-derived from transfer events alone (keys: account UUIDs)."""

    posted: dict[UUID, int] = field(default_factory=dict)
    pending_in: dict[UUID, int] = field(default_factory=dict)
    pending_out: dict[UUID, int] = field(default_factory=dict)


class _BalanceFold:
    """The hot loop's fold: account ids stay hex text until the end."""

    def __init__(self) -> None:
        self.posted: dict[str, int] = {}
        self.pending_in: dict[str, int] = {}
        self.pending_out: dict[str, int] = {}
        self.open: dict[bytes, tuple[str, str, int]] = {}

    def apply(self, name: str, transfer: bytes, state: dict[str, Any]) -> None:
        """Fold one Transfer event (``name``: Recorded, Posted, Voided, Reversed)."""
        if name == "Recorded":
            debit, credit = _hex(state["debit_account_id"]), _hex(state["credit_account_id"])
            minutes = int(state["minutes"])
            if state["pending"]:
                self.open[transfer] = (debit, credit, minutes)
                _add(self.pending_out, debit, minutes)
                _add(self.pending_in, credit, minutes)
            else:
                _add(self.posted, debit, -minutes)
                _add(self.posted, credit, minutes)
        elif name in ("Posted", "Voided") and transfer in self.open:
            debit, credit, minutes = self.open.pop(transfer)
            _add(self.pending_out, debit, -minutes)
            _add(self.pending_in, credit, -minutes)
            if name == "Posted":
                _add(self.posted, debit, -minutes)
                _add(self.posted, credit, minutes)

    def result(self) -> Balances:
        """The balances with UUID keys."""
        def keyed(table: dict[str, int]) -> dict[UUID, int]:
            return {UUID(k): v for k, v in table.items()}
        return Balances(keyed(self.posted), keyed(self.pending_in), keyed(self.pending_out))


@dataclass
class BundleReport:
    """What verification found; ``ok`` only when there are no findings."""

    size: int = 0
    origin: str = ""
    root: bytes = b""
    findings: list[str] = field(default_factory=list)
    balances: Balances = field(default_factory=Balances)

    @property
    def ok(self) -> bool:
        """True when every check held."""
        return not self.findings


def verify_bundle(stream: IO[bytes], vkey: str | Sequence[str],
                  kept_checkpoint: str | None = None) -> BundleReport:
    """Verify a bundle read from ``stream``; never raises on malformed input."""
    report = BundleReport()
    try:
        header = _read_header(stream)
        checkpoint, problems = verify_checkpoint(str(header["checkpoint"]), vkey)
        if checkpoint is None:
            report.findings += [f"checkpoint: {p}" for p in problems]
            return report
        report.size, report.origin = checkpoint.size, checkpoint.origin
        kept = _kept(kept_checkpoint, vkey, checkpoint.size, report)
        builder, kept_root = _fold(stream, checkpoint.size, kept, report)
    except (ValueError, KeyError, TypeError, struct.error, RecursionError,
            OverflowError) as error:
        report.findings.append(f"malformed bundle: {type(error).__name__}: {error}"[:300])
        return report
    report.root = builder.root()
    if builder.size != checkpoint.size or report.root != checkpoint.root:
        report.findings.append("the entries do not hash to the checkpoint's root")
    if kept is not None and kept_root is not None and kept_root != kept[1]:
        report.findings.append(f"inconsistent: the kept checkpoint at size {kept[0]} is "
                               "not a prefix of this log")
    if sum(report.balances.posted.values()) != 0:
        report.findings.append("the re-derived balances do not sum to zero")
    return report


def _read_header(stream: IO[bytes]) -> dict[str, Any]:
    if stream.read(len(MAGIC)) != MAGIC:
        raise ValueError("not a civic-ledger bundle v1")
    (length,) = _LEN.unpack(_read_exact(stream, 4))
    if length > 1 << 20:
        raise ValueError("header too large")
    header = json.loads(_read_exact(stream, length))
    if not isinstance(header, dict):
        raise ValueError("header is not an object")
    return header


def _kept(note: str | None, vkey: str | Sequence[str], size: int, report: BundleReport
          ) -> tuple[int, bytes] | None:
    if note is None:
        return None
    kept, problems = verify_checkpoint(note, vkey)
    if kept is None:
        report.findings += [f"kept checkpoint: {p}" for p in problems]
        return None
    if kept.size > size:
        report.findings.append(f"truncated: the kept checkpoint has {kept.size} leaves, "
                               f"this log only {size}")
        return None
    return kept.size, kept.root


def _fold(stream: IO[bytes], size: int, kept: tuple[int, bytes] | None,
          report: BundleReport) -> tuple[TreeBuilder, bytes | None]:
    """The hot loop: read, hash and fold every entry; decode only transfer events.

    Entries are cut from 1 MiB reads in place (no generator, no per-entry read
    call) and leaf hashes are folded 4,096 at a time, stopping exactly at the
    kept checkpoint's size to take its root."""
    builder, fold = TreeBuilder(), _BalanceFold()
    kept_size = kept[0] if kept is not None else -1
    kept_root = builder.root() if kept_size == 0 else None
    unpack, loads, prefix = _LEN.unpack_from, _json_loads, TRANSFER_PREFIX
    name_at = _TOPIC_AT + len(prefix)
    hashes: list[bytes] = []
    append = hashes.append
    buffer, pos, remaining = b"", 0, size
    flush_at = _flush_point(0, kept_size)
    while remaining:
        if len(buffer) - pos < 4:
            buffer, pos = _refill(stream, buffer, pos, 4)
        (length,) = unpack(buffer, pos)
        pos += 4
        if len(buffer) - pos < length:
            buffer, pos = _refill(stream, buffer, pos, length)
        data = buffer[pos:pos + length]
        pos += length
        remaining -= 1
        append(sha256(b"\x00" + data).digest())
        if data.startswith(prefix, _TOPIC_AT):
            (topic_len,) = unpack(data, _TOPIC_AT - 4)
            name = data[name_at:_TOPIC_AT + topic_len].decode()
            fold.apply(name, data[1:17], loads(data[_TOPIC_AT + topic_len + 4:]))
        if len(hashes) == flush_at:
            builder.extend(hashes)
            hashes.clear()
            if builder.size == kept_size:
                kept_root = builder.root()
            flush_at = _flush_point(builder.size, kept_size)
    if pos < len(buffer) or stream.read(1):
        raise ValueError("trailing data after the last entry")
    builder.extend(hashes)
    report.balances = fold.result()
    return builder, kept_root


def _flush_point(folded: int, kept_size: int) -> int:
    """How many hashes to gather before the next fold (never past the kept size)."""
    if folded < kept_size:
        return min(4096, kept_size - folded)
    return 4096


def _refill(stream: IO[bytes], buffer: bytes, pos: int, need: int) -> tuple[bytes, int]:
    rest = buffer[pos:]
    more = stream.read(max(1 << 20, need - len(rest)))
    if len(rest) + len(more) < need:
        raise ValueError("the bundle ends early")
    return rest + more, 0


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise ValueError("the bundle ends early")
    return data


def _hex(value: Any) -> str:
    if isinstance(value, dict):  # eventsourcing's {"_type_": "uuid_hex", "_data_": ...}
        value = value["_data_"]
    return str(value).replace("-", "").lower()


def _add(table: dict[str, int], key: str, minutes: int) -> None:
    table[key] = table.get(key, 0) + minutes
