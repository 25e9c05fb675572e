"""Verifiable-history benchmarks: proof time at 1,000,000 leaves and the offline
verification rate of a 1,000,000-event bundle, with peak memory.

Run: ``python -m bench.audit [--leaves N]`` (or ``python -m bench``, which
measures the same beside the other figures). The log is built with the same
append code the recorders use (``ledger.log.append_to_log``) over synthetic
stored events shaped like the application's (a third ``Transfer.Recorded``,
two thirds ``Account.Debited``/``Credited``, ~300-byte JSON states), written to
a SQLite file in batches; proofs are then served by ``TransparencyLog`` from
the stored nodes exactly as the API serves them. The bundle is written in the
export format and verified by ``ledger.bundles.verify_bundle`` in a fresh child
process, whose peak RSS is reported. References: a raw point read of one
stored leaf hash (under a proof), and reading the bundle and hashing every
entry as a leaf, nothing else (under a verification).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import BinaryIO
from uuid import uuid4

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteDatastore

from bench import Measurement, in_child, timed_loop, timed_pass
from bench.reference import measure_sqlite_point_reads
from ledger.bundles import MAGIC, verify_bundle
from ledger.checkpoints import generate_signer_key, parse_signer_key, sign_checkpoint
from ledger.log import SqlLogTables, append_to_log, encode_leaf, sql_create_statements
from ledger.log_sources import SqlLogSource
from ledger.merkle import TreeBuilder, leaf_hash, verify_consistency, verify_inclusion
from ledger.transparency import TransparencyLog

ORIGIN = "bench.local/log"
ACCOUNTS = [uuid4() for _ in range(500)]
NODE_READ = "SELECT hash FROM log_nodes WHERE level = 0 AND node_index = ?"


def synthetic_events(n: int, seed: int = 7) -> Iterator[StoredEvent]:
    """Stored events shaped like a stream of posted service credits."""
    rnd = random.Random(seed)
    versions = dict.fromkeys(ACCOUNTS, 1)
    for _ in range(n // 3 + 1):
        transfer = uuid4()
        debit, credit = rnd.sample(ACCOUNTS, 2)
        versions[debit] += 1
        versions[credit] += 1
        minutes = rnd.choice((30, 60, 90, 120))
        recorded = {"timestamp": {"_type_": "datetime_iso", "_data_": "2026-11-26T01:00:00"},
                    "community_id": {"_type_": "uuid_hex", "_data_": ACCOUNTS[0].hex},
                    "kind": "service_credit",
                    "debit_account_id": {"_type_": "uuid_hex", "_data_": debit.hex},
                    "credit_account_id": {"_type_": "uuid_hex", "_data_": credit.hex},
                    "minutes": minutes, "category": "elderly-companionship",
                    "service_date": "2026-11-20", "pending": False, "expires_at": None,
                    "actor": "partner:x", "on_behalf_of": None, "channel": "api",
                    "rules_version": 1, "reverses": None, "earning": minutes}
        entry = {"transfer_id": {"_type_": "uuid_hex", "_data_": transfer.hex},
                 "minutes": minutes, "kind": "service_credit", "pending": False,
                 "service_date": "2026-11-20", "category": "elderly-companionship"}
        yield StoredEvent(transfer, 1, "domain.transfers:Transfer.Recorded",
                          json.dumps(recorded).encode())
        yield StoredEvent(debit, versions[debit], "domain.accounts:Account.Debited",
                          json.dumps(entry).encode())
        yield StoredEvent(credit, versions[credit], "domain.accounts:Account.Credited",
                          json.dumps(entry).encode())


def build_log(path: str, leaves: int, batch: int = 20000) -> None:
    """A SQLite log of ``leaves`` synthetic events (log tables only)."""
    datastore = SQLiteDatastore(path)
    with datastore.transaction(commit=True) as cursor:
        for statement in sql_create_statements("", "BLOB", "TEXT"):
            cursor.execute(statement)
    events = synthetic_events(leaves)
    done = 0
    while done < leaves:
        chunk = [next(events) for _ in range(min(batch, leaves - done))]
        with datastore.transaction(commit=True) as cursor:
            append_to_log(SqlLogTables(cursor), chunk)
        done += len(chunk)
    datastore.close()


def _proof_calls(path: str, leaves: int, samples: int, kind: str) -> Measurement:
    datastore = SQLiteDatastore(path)
    try:
        log = TransparencyLog(SqlLogSource(datastore, "sqlite", "stored_events"), None)
        root, rnd = log.root(), random.Random(1)
        if kind == "inclusion":
            args = [(rnd.randrange(leaves), leaves) for _ in range(samples)]
            prove: Callable[[int, int], list[bytes]] = log.inclusion
        else:
            args = [(rnd.randrange(1, leaves), leaves) for _ in range(samples)]
            prove = log.consistency
        measured = timed_loop(f"{kind} proof at {leaves:,} leaves", "sqlite",
                              [partial(prove, *a) for a in args])
        for a, b in args[:50]:  # the proofs timed are proofs that verify
            findings = (verify_inclusion(log.leaf_hash(a), a, b, log.inclusion(a, b), root)
                        if kind == "inclusion" else
                        verify_consistency(a, b, log.consistency(a, b), log.root(a), root))
            if findings:
                raise RuntimeError(f"{kind} proof for {a} does not verify: {findings}")
        return measured
    finally:
        datastore.close()


def measure_inclusion(path: str, leaves: int, samples: int = 1000) -> Measurement:
    """Milliseconds per inclusion proof served from the stored nodes at ``leaves``."""
    return _proof_calls(path, leaves, samples, "inclusion")


def measure_consistency(path: str, leaves: int, samples: int = 1000) -> Measurement:
    """Milliseconds per consistency proof (random older size) at ``leaves``."""
    return _proof_calls(path, leaves, samples, "consistency")


def measure_node_reads(path: str, leaves: int, samples: int = 1000) -> Measurement:
    """Raw point reads of one stored leaf hash: the floor under a proof's read."""
    rnd = random.Random(2)
    keys: list[tuple[object, ...]] = [(rnd.randrange(leaves),) for _ in range(samples)]
    return measure_sqlite_point_reads(path, NODE_READ, keys, samples,
                                      "raw: point read, 1 node row")


def write_bundle(path: Path, entries: int) -> str:
    """A bundle of ``entries`` synthetic events with a signed checkpoint; returns the vkey."""
    skey, vkey = generate_signer_key(ORIGIN)
    signer = parse_signer_key(skey)
    builder = TreeBuilder()
    datas = path.with_suffix(".entries")
    with datas.open("wb") as out:
        for event in synthetic_events(entries):
            if builder.size == entries:
                break
            data = encode_leaf(event.originator_id, event.originator_version, event.topic,
                               event.state)
            builder.append(leaf_hash(data))
            out.write(struct.pack(">I", len(data)) + data)
    note = sign_checkpoint(ORIGIN, entries, builder.root(), signer.private_key, ORIGIN)
    header = json.dumps({"origin": ORIGIN, "size": entries, "checkpoint": note,
                         "vkey": vkey}).encode()
    with path.open("wb") as out, datas.open("rb") as body:
        out.write(MAGIC + struct.pack(">I", len(header)) + header)
        while chunk := body.read(1 << 20):
            out.write(chunk)
    datas.unlink()
    return vkey


def entries_of(stream: BinaryIO) -> Iterator[bytes]:
    """The entries of a bundle (after its header), in order."""
    if stream.read(len(MAGIC)) != MAGIC:
        raise ValueError("not a bundle")
    (length,) = struct.unpack(">I", stream.read(4))
    stream.read(length)
    while prefix := stream.read(4):
        (length,) = struct.unpack(">I", prefix)
        yield stream.read(length)


def measure_verify(path: str, vkey: str) -> Measurement:
    """Entries per second of ``verify_bundle`` (run it in a fresh process: the
    peak RSS is then the verification's)."""
    def work() -> int:
        with open(path, "rb") as stream:
            report = verify_bundle(stream, vkey)
        if not report.ok:
            raise RuntimeError(f"the bundle does not verify: {report.findings[:3]}")
        return int(report.size)
    return timed_pass("verify bundle", "file", work)


def measure_leaf_hashing(path: str) -> Measurement:
    """Entries per second of reading the same bundle and hashing each entry as a
    leaf (SHA-256 of 0x00 and the entry), nothing else: the floor under verifying."""
    def work() -> int:
        count = 0
        with open(path, "rb", buffering=1 << 20) as stream:
            for data in entries_of(stream):
                hashlib.sha256(b"\x00" + data).digest()
                count += 1
        return count
    return timed_pass("raw: read + leaf SHA-256", "file", work)


def main(argv: list[str] | None = None) -> None:
    """Build the log and the bundle, then print the figures (each measured in a
    fresh process, as ``python -m bench`` measures them)."""
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    print(f"verifiable history at {args.leaves:,} leaves (SQLite, {os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as folder:
        log, bundle = str(Path(folder) / "log.sqlite"), str(Path(folder) / "bench.bundle")
        started = time.perf_counter()
        build_log(log, args.leaves)
        print(f"  log built in {time.perf_counter() - started:.1f} s")
        for job in (measure_inclusion, measure_consistency, measure_node_reads):
            m = in_child((job, (log, args.leaves)))
            print(f"  {m.label:<36} p50 {m.p50_ms:.3f} ms   p99 {m.p99_ms:.3f} ms")
        vkey = write_bundle(Path(bundle), args.leaves)
        size_mb = Path(bundle).stat().st_size / 1e6
        for m in (in_child((measure_verify, (bundle, vkey))),
                  in_child((measure_leaf_hashing, (bundle,)))):
            print(f"  {m.label:<36} {m.per_second:>10,.0f} entries/s   peak RSS "
                  f"{m.peak_rss_kib / 1024:.0f} MiB   ({size_mb:.0f} MB bundle)")
    print("  targets: inclusion proof < 1 ms; verify >= 200,000 entries/s in < 200 MB")


if __name__ == "__main__":
    main()
