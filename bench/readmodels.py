"""Read-model benchmarks: rebuild rate beside the raw read-and-deserialise rate of
the event store, and balance reads per second through HTTP with gunicorn.

``python -m bench.readmodels [--n N] [--seconds S]``. The store is filled with
``N`` posted service credits (about 3 events each) first; then, in one run:

- *raw*: every stored event read in pages of 1,000 and turned back into a
  domain event by the application's mapper — the floor any fold sits on;
- *rebuild*: ``Projector.rebuild()`` — the same reads, every fold, every row
  written, positions tracked — the target is at least 50% of raw (both are
  run three times, interleaved, and the best of each is reported);
- *HTTP reads*: ``GET /v1/accounts/<id>`` (member tokens, random members) from
  client processes against ``civic-ledger serve`` (gunicorn, 2 workers) on
  127.0.0.1, for a bounded time.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from functools import partial
from pathlib import Path

from bench.credits import credit_requests, settle_town
from bench.http import load, production_server, request_bytes
from ledger.application import TimeBank
from ledger.config import Settings, open_bank
from ledger.keys import KeyDirectory
from ledger.tokens import Role
from projections.queries import ReadModels


def fill(url: str, keys: Path, n: int) -> tuple[list[str], list[str]]:
    """Record ``n`` credits; returns member ids and a member token for each."""
    KeyDirectory(keys).ensure()
    bank = open_bank(Settings(database_url=url, keys_dir=keys))
    try:
        town = settle_town(bank, n)
        for request in credit_requests(town, n):
            bank.record(request)
        members = [str(m) for m in town.member_ids[:50]]
        tokens = [bank.tokens.issue(Role.MEMBER, m)[0] for m in town.member_ids[:50]]
    finally:
        bank.close()
    return members, tokens


def raw_rate(bank: TimeBank) -> tuple[int, float]:
    """Events read and deserialised per second."""
    started, count, start = time.perf_counter(), 0, 1
    while batch := bank.recorder.select_notifications(start, 1000):
        for note in batch:
            bank.mapper.to_domain_event(note)
        count += len(batch)
        start = batch[-1].id + 1
    return count, count / (time.perf_counter() - started)


def rebuild_rate(bank: TimeBank) -> tuple[int, float]:
    """Events folded per second by a rebuild from zero."""
    models = ReadModels(bank)
    started = time.perf_counter()
    count = models.projector.rebuild()
    return count, count / (time.perf_counter() - started)


def _pick(requests: tuple[bytes, ...], rnd: random.Random) -> bytes:
    return rnd.choice(requests)


def http_read_rate(url: str, keys: Path, pairs: list[tuple[str, str]], seconds: float,
                   clients: int = 4) -> tuple[int, int, float]:
    """Balance reads per second through gunicorn (2 workers) from client processes."""
    requests = tuple(request_bytes("GET", f"/v1/accounts/{member}", token)
                     for member, token in pairs)
    with production_server(url, keys, workers=2) as port:
        return load(port, [partial(_pick, requests)] * clients, seconds)


def main(argv: list[str] | None = None) -> None:
    """Fill a SQLite store, then print the three figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.readmodels", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10000, help="credits recorded first")
    parser.add_argument("--seconds", type=float, default=10.0, help="HTTP read time")
    parser.add_argument("--database", help="a PostgreSQL URL instead of a SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{Path(folder) / 'bench.sqlite'}"
        keys = Path(folder) / "keys"
        members, tokens = fill(url, keys, args.n)
        bank = open_bank(Settings(database_url=url, keys_dir=keys))
        try:  # interleaved, best of three each: the machine is shared
            raws, rebuilds = [], []
            for _ in range(3):
                events, rate = raw_rate(bank)
                raws.append(rate)
                rebuilds.append(rebuild_rate(bank)[1])
            raw, rebuild = max(raws), max(rebuilds)
        finally:
            bank.close()
        print(f"read models over {events:,} events ({url.split(':')[0]}, "
              f"{os.cpu_count()} cores)")
        print(f"  raw read + deserialise  {raw:>10,.0f} events/s")
        print(f"  rebuild from zero       {rebuild:>10,.0f} events/s   "
              f"({rebuild / raw:.0%} of raw; target >= 50%)")
        done, failed, rate = http_read_rate(url, keys, list(zip(members, tokens)),
                                            args.seconds)
        print(f"  HTTP balance reads      {rate:>10,.0f} reads/s   ({done:,} reads, "
              f"{failed} failed; gunicorn 2 workers, 4 client processes; target >= 3,000)")


if __name__ == "__main__":
    main()
