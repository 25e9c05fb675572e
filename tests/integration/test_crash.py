"""Crash: ``kill -9`` the whole production server under a posting load, again and again.

The server is ``civic-ledger serve`` (gunicorn, several threaded workers) in its
own process group; ``os.killpg(SIGKILL)`` takes the master and every worker
down at a random moment, in the middle of whatever they were doing, and the
server is started again on the same port. The town is seeded with over a
hundred entries per account first, so every start loads accounts from their
snapshots, as a production restart would. Client threads keep posting
service credits (some pending, then confirmed or voided), redemptions and
gifts with ids they chose, reading balances (which folds the read models
inline) and fetching signed checkpoints; a request that got no answer, or a
503, is sent again with the same id and body until it gets one, so every
write ends with a definite answer.

Afterwards, on SQLite and on PostgreSQL: every acknowledged write is in the
log exactly once and as asked; every refused one is absent; nothing else is
there; no retry created a second transfer; no limit was crossed at any point
of any account's history; balances sum to zero and the aggregates, read
models and API agree with the clients; the log verifies, also against the
checkpoints the clients kept; the read models equal a rebuild.

``CIVIC_LEDGER_LONG=1`` kills 20 times per backend instead of twice.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from tests.integration.harness import (
    LONG,
    START_TIMEOUT,
    Client,
    ClientPlan,
    Record,
    Server,
    account_views,
    judge,
    seed_town,
    summary,
)

KILLS = 20 if LONG else 2
WORKERS = 3
CLIENT_THREADS = 6
JOIN_TIMEOUT = 2 * START_TIMEOUT
HISTORY = 110  # moves per account before the run: restarts load accounts from snapshots


def test_a_server_killed_at_random_loses_no_acknowledged_write_and_stays_consistent(
        tmp_path: Path, durable_database_url: str) -> None:
    url, keys = durable_database_url, tmp_path / "keys"
    town = seed_town(url, keys, history=HISTORY)
    seed = random.randrange(1 << 32)
    rng, stop = random.Random(seed), threading.Event()
    server = Server(tmp_path, url, keys, WORKERS)
    clients = [Client(ClientPlan(server.base, town, seed=seed + n, retry_share=0.1,
                                 twin_share=0.05, resolve_seconds=START_TIMEOUT))
               for n in range(CLIENT_THREADS)]
    threads = [threading.Thread(target=c.run, args=(stop.is_set,), daemon=True)
               for c in clients]
    began = time.monotonic()
    try:
        server.start()
        server.wait_healthy()
        for thread in threads:
            thread.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 2.5))  # under load, at a random moment
            server.assert_alive()
            server.kill()
            time.sleep(rng.uniform(0.0, 0.5))  # clients meet a closed port meanwhile
            server.start()
            server.wait_healthy()  # a server that fails to restart fails the test here
        time.sleep(1.0)
        server.assert_alive()
        stop.set()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
        assert not any(t.is_alive() for t in threads), "a client did not finish in time"
        views, problems = account_views(server.base, town)
        assert server.stop() == 0, server.output()[-4000:]
    finally:
        stop.set()
        for client in clients:
            client.abandon.set()  # no-op after a clean run: every client has finished
        server.stop()
    record = Record()
    for client in clients:
        record.merge(client.record)
    findings = problems + judge(url, keys, town, record, views)
    cut, committed = record.cut_writes()
    print(f"\ncrash on {url.split(':', 1)[0]} (seed {seed}): {KILLS} kills in "
          f"{time.monotonic() - began:.1f} s, restarts healthy after "
          f"{', '.join(f'{s:.1f}' for s in server.start_seconds)} s; "
          f"{len(record.ops)} writes, {record.requests} requests; {cut} writes cut "
          f"mid-request by a kill, {committed} of them recorded all the same")
    print(f"statuses: {dict(sorted(record.statuses.items()))}")
    assert findings == [], summary(findings)
