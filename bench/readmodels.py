"""Read-model benchmarks: rebuild rate beside the raw read-and-deserialise rate of
the event store, and balance reads per second through HTTP with gunicorn beside
raw SQLite point reads of the same row.

``python -m bench.readmodels [--n N] [--seconds S] [--database URL]`` prints
these alone; ``python -m bench`` runs the same measurements in its table. The
store is filled with ``N`` posted service credits (about 3 events each) first
(:func:`fill`); then each measurement, in a fresh process:

- *raw*: every stored event read in pages of 1,000 and turned back into a
  domain event by the application's mapper — the floor any fold sits on;
- *rebuild*: ``Projector.rebuild()`` — the same reads, every fold, every row
  written, positions tracked — the target is at least 50% of raw;
- *HTTP reads*: ``GET /v1/accounts/<id>`` (member tokens, random members) from
  client processes against ``civic-ledger serve`` (gunicorn, 2 workers) on
  127.0.0.1, for a bounded time;
- *point reads* (SQLite): one ``SELECT`` of a member's ``rm_accounts`` row on
  one connection, the floor under a balance read.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench import Measurement, timed_pass
from bench.credits import credit_requests, settle_town
from bench.http import measure_load, production_server, request_bytes
from bench.reference import measure_sqlite_point_reads
from ledger.application import TimeBank
from ledger.config import Settings, open_bank
from ledger.keys import KeyDirectory
from ledger.storage import Database
from ledger.tokens import Role
from projections.queries import ReadModels

READERS = 50
POINT_READ = "SELECT * FROM rm_accounts WHERE account_id = ?"


def fill(url: str, keys: Path, n: int) -> list[tuple[str, str]]:
    """Record ``n`` credits and build the read models once; returns (member id,
    member token) for ``READERS`` members."""
    KeyDirectory(keys).ensure()
    bank = open_bank(Settings(database_url=url, keys_dir=keys))
    try:
        town = settle_town(bank, n)
        for request in credit_requests(town, n):
            bank.record(request)
        ReadModels(bank).projector.rebuild()
        return [(str(m), bank.tokens.issue(Role.MEMBER, m)[0])
                for m in town.member_ids[:READERS]]
    finally:
        bank.close()


def raw_rate(bank: TimeBank) -> int:
    """Read and deserialise every stored event; how many there were."""
    count, start = 0, 1
    while batch := bank.recorder.select_notifications(start, 1000):
        for note in batch:
            bank.mapper.to_domain_event(note)
        count += len(batch)
        start = batch[-1].id + 1
    return count


def rebuild_rate(bank: TimeBank) -> int:
    """Rebuild every read model from zero; how many events were folded."""
    return int(ReadModels(bank).projector.rebuild())


def measure_raw_reads(url: str, keys: str) -> Measurement:
    """Events read and deserialised per second (the floor under a rebuild)."""
    return _over_bank(url, keys, "raw: read + deserialise", raw_rate)


def measure_rebuild(url: str, keys: str) -> Measurement:
    """Events folded per second by a rebuild of every read model from zero."""
    return _over_bank(url, keys, "projection rebuild", rebuild_rate)


def _over_bank(url: str, keys: str, label: str,
               work: Callable[[TimeBank], int]) -> Measurement:
    bank = open_bank(Settings(database_url=url, keys_dir=Path(keys)))
    try:
        return timed_pass(label, bank.database.backend, partial(work, bank))
    finally:
        bank.close()


def _pick(requests: tuple[bytes, ...], rnd: random.Random) -> bytes:
    return rnd.choice(requests)


def measure_http_reads(url: str, keys: str, pairs: list[tuple[str, str]], seconds: float,
                       clients: int = 2) -> Measurement:
    """Balance reads per second through gunicorn (2 workers) from client processes."""
    requests = tuple(request_bytes("GET", f"/v1/accounts/{member}", token)
                     for member, token in pairs)
    with production_server(url, Path(keys), workers=2) as server:
        return measure_load("HTTP: balance read", Database.parse(url).backend, server,
                            [partial(_pick, requests)] * clients, seconds,
                            frozenset({200}), {"server": "gunicorn, 2 workers x 4 threads, keep-alive"})


def measure_point_reads(path: str, pairs: list[tuple[str, str]], n: int) -> Measurement:
    """Raw point reads of the same members' read-model rows (SQLite)."""
    return measure_sqlite_point_reads(path, POINT_READ, [(m,) for m, _ in pairs], n,
                                      "raw: point read, 1 statement")


def main(argv: list[str] | None = None) -> None:
    """Fill a store, then print the figures (each measured in this process)."""
    parser = argparse.ArgumentParser(prog="python -m bench.readmodels", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10000, help="credits recorded first")
    parser.add_argument("--seconds", type=float, default=10.0, help="HTTP read time")
    parser.add_argument("--database", help="a PostgreSQL URL instead of a SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.sqlite"
        url = args.database or f"sqlite:///{path}"
        keys = str(Path(folder) / "keys")
        pairs = fill(url, Path(keys), args.n)
        raw, rebuild = measure_raw_reads(url, keys), measure_rebuild(url, keys)
        print(f"read models over {raw.operations:,} events ({raw.backend})")
        print(f"  raw read + deserialise  {raw.per_second:>10,.0f} events/s")
        print(f"  rebuild from zero       {rebuild.per_second:>10,.0f} events/s   "
              f"({rebuild.per_second / raw.per_second:.0%} of raw; target >= 50%)")
        reads = measure_http_reads(url, keys, pairs, args.seconds)
        print(f"  HTTP balance reads      {reads.per_second:>10,.0f} reads/s   "
              f"({reads.operations:,} reads, failed: {reads.settings['failed']}; "
              "gunicorn 2 workers, 4 client processes; target >= 3,000)")
        if not args.database:
            point = measure_point_reads(str(path), pairs, 20000)
            print(f"  raw SQLite point reads  {point.per_second:>10,.0f} reads/s")


if __name__ == "__main__":
    main()
