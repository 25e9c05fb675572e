"""Verifiable-history benchmarks: proof time at 1,000,000 leaves and the offline
verification rate of a 1,000,000-event bundle, with peak memory.

Run: ``python -m bench.audit [--leaves N]``. The log is built with the same
append code the recorders use (``ledger.log.append_to_log``) over synthetic
stored events shaped like the application's (a third ``Transfer.Recorded``,
two thirds ``Account.Debited``/``Credited``, ~300-byte JSON states), written to
a SQLite file in batches; proofs are then served by ``TransparencyLog`` from
the stored nodes exactly as the API serves them. The bundle is written in the
export format and verified by ``ledger.bundles.verify_bundle`` in a fresh child
process, whose peak RSS is reported.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteDatastore

from ledger.bundles import MAGIC, verify_bundle
from ledger.checkpoints import generate_signer_key, parse_signer_key, sign_checkpoint
from ledger.log import SqlLogTables, append_to_log, encode_leaf, sql_create_statements
from ledger.merkle import TreeBuilder, leaf_hash, verify_consistency, verify_inclusion
from ledger.transparency import SqlLogSource, TransparencyLog

ORIGIN = "bench.local/log"
ACCOUNTS = [uuid4() for _ in range(500)]


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


def build_log(path: Path, leaves: int, batch: int = 20000) -> SQLiteDatastore:
    """A SQLite log of ``leaves`` synthetic events (log tables only)."""
    datastore = SQLiteDatastore(str(path))
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
    return datastore


def measure_proofs(leaves: int, samples: int = 200) -> dict[str, float]:
    """Median and p99 milliseconds per inclusion and consistency proof at ``leaves``."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        datastore = build_log(Path(folder) / "log.sqlite", leaves)
        built = time.perf_counter() - started
        log = TransparencyLog(SqlLogSource(datastore, "sqlite", "stored_events"), None)
        root = log.root()
        rnd = random.Random(1)
        inclusion, consistency = [], []
        for _ in range(samples):
            index = rnd.randrange(leaves)
            t0 = time.perf_counter()
            proof = log.inclusion(index, leaves)
            inclusion.append(time.perf_counter() - t0)
            assert not verify_inclusion(log.leaf_hash(index), index, leaves, proof, root)
            old = rnd.randrange(1, leaves)
            t0 = time.perf_counter()
            proof = log.consistency(old, leaves)
            consistency.append(time.perf_counter() - t0)
            assert not verify_consistency(old, leaves, proof, log.root(old), root)
        datastore.close()
    inclusion.sort()
    consistency.sort()
    return {"build_s": built, "inclusion_p50_ms": inclusion[len(inclusion) // 2] * 1e3,
            "inclusion_p99_ms": inclusion[int(len(inclusion) * 0.99)] * 1e3,
            "consistency_p50_ms": consistency[len(consistency) // 2] * 1e3,
            "consistency_p99_ms": consistency[int(len(consistency) * 0.99)] * 1e3}


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


def _verify_child(path: str, vkey: str, queue: multiprocessing.Queue) -> None:
    started = time.perf_counter()
    with open(path, "rb") as stream:
        report = verify_bundle(stream, vkey)
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put({"ok": report.ok, "findings": report.findings[:3], "size": report.size,
               "seconds": elapsed, "peak_rss_mb": peak_kib / 1024})


def measure_verify(entries: int) -> dict[str, float]:
    """Entries per second and peak RSS of verifying a bundle, in a fresh process."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.bundle"
        vkey = write_bundle(path, entries)
        size_mb = path.stat().st_size / 1e6
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(target=_verify_child, args=(str(path), vkey, queue))
        child.start()
        result = queue.get()
        child.join()
    assert result["ok"], result["findings"]
    return {"entries": entries, "bundle_mb": size_mb, "seconds": result["seconds"],
            "entries_per_s": entries / result["seconds"], "peak_rss_mb": result["peak_rss_mb"]}


def main(argv: list[str] | None = None) -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    print(f"verifiable history at {args.leaves:,} leaves (SQLite, {os.cpu_count()} cores)")
    proofs = measure_proofs(args.leaves)
    print(f"  log built in {proofs['build_s']:.1f} s")
    print(f"  inclusion proof   p50 {proofs['inclusion_p50_ms']:.3f} ms   "
          f"p99 {proofs['inclusion_p99_ms']:.3f} ms   (target < 1 ms)")
    print(f"  consistency proof p50 {proofs['consistency_p50_ms']:.3f} ms   "
          f"p99 {proofs['consistency_p99_ms']:.3f} ms")
    verify = measure_verify(args.leaves)
    print(f"  verify bundle ({verify['bundle_mb']:.0f} MB): {verify['entries_per_s']:,.0f} "
          f"entries/s, peak RSS {verify['peak_rss_mb']:.0f} MB   "
          f"(targets >= 200,000 entries/s, < 200 MB)")


if __name__ == "__main__":
    main()
