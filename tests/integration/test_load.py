"""Load: client processes posting on overlapping accounts against the production server.

Several spawned client processes post service credits (some pending, then
confirmed or voided), redemptions and gifts among two organisations and six
members for a bounded time, each with an id it chose; some writes are posted
again after their answer (same id, same body) and some twice at the same
moment from two threads. The server is ``civic-ledger serve`` (gunicorn, sync
workers) on 127.0.0.1. Limits are tight (a small storage cap, daily earning
cap and per-record maximum, budgets that run out) so that refusals happen all
the time and concurrent writers race for the last minutes.

Afterwards: no 5xx was answered, every account read during and after the run
was within its limits, the log holds exactly the acknowledged transfers, each
once, no retry was applied twice, every limit held at every point of every
account's history, balances sum to zero, the aggregates, read models and API
agree with the clients, the log verifies and the read models equal a rebuild.
Throughput is printed, never asserted.

A second test sends identical twins where only they touch the limit they
race for, so a refused twin can only mean an idempotency bug.
``CIVIC_LEDGER_LONG=1`` runs a minute (and 400 twin pairs) instead of seconds.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import site
import time
from pathlib import Path
from uuid import uuid4

from tests.integration.harness import (
    LONG,
    REPO,
    Client,
    ClientPlan,
    Op,
    Record,
    account_views,
    judge,
    run_client,
    seed_town,
    serving,
    summary,
)

CLIENTS = 4
WORKERS = 3
SECONDS = 60.0 if LONG else 8.0
TWIN_PAIRS = 400 if LONG else 80


def run_clients(plans: list[ClientPlan]) -> Record:
    """The plans in spawned processes; their records merged.

    A spawned child starts from the parent's ``sys.path``, which under pytest's
    importlib mode need not hold the repository; ``site.addsitedir`` adds it in
    each child before the first task (``run_client``) is unpickled."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(plans), initializer=site.addsitedir,
                      initargs=(str(REPO),)) as pool:
        records = pool.map_async(run_client, plans).get(SECONDS + 300)
    merged = Record()
    for record in records:
        merged.merge(record)
    return merged


def test_concurrent_clients_cross_no_limit_and_apply_every_retry_once(
        tmp_path: Path, durable_database_url: str) -> None:
    url, keys = durable_database_url, tmp_path / "keys"
    town = seed_town(url, keys)
    with serving(tmp_path, url, keys, WORKERS) as server:
        plans = [ClientPlan(server.base, town, seed=n, seconds=SECONDS, retry_share=0.1,
                            twin_share=0.1, resolve_seconds=30.0) for n in range(CLIENTS)]
        began = time.monotonic()
        record = run_clients(plans)
        wall = time.monotonic() - began
        views, problems = account_views(server.base, town)
        assert server.stop() == 0, server.output()[-4000:]
    # 503 counts too: four clients must never exhaust the ledger's twelve write attempts.
    failed = [f"{n} answers {status}" for status, n in record.statuses.items()
              if status.startswith(("5", "no answer"))]
    findings = failed + problems + judge(url, keys, town, record, views)
    print(f"\nload on {url.split(':', 1)[0]}: {CLIENTS} client processes, {WORKERS} "
          f"workers, {record.requests} requests in {record.seconds:.1f} s "
          f"({record.requests / record.seconds:.0f} requests/s; {wall:.1f} s with "
          f"process start-up), {len(record.ops)} writes, "
          f"{len(record.twins_disagreeing())} twin pairs answered differently")
    print(f"statuses: {dict(sorted(record.statuses.items()))}")
    assert findings == [], summary(findings)


def test_twins_racing_for_a_daily_cap_both_answer_the_one_transfer(
        tmp_path: Path, durable_database_url: str) -> None:
    """The same credit twice at the same moment, from two connections to two workers.
    Each would take 90 of the volunteer's 150-minute daily earning cap on a date nobody
    else touches, so the twin that comes second can only be refused if it saw the
    first one's credit, and then it must answer that transfer (201, created false)."""
    url, keys = durable_database_url, tmp_path / "keys"
    members = TWIN_PAIRS // 6 + 2  # six 90-minute credits fit under a 600-minute cap
    town = seed_town(url, keys, members=members, budget=TWIN_PAIRS * 50)
    with serving(tmp_path, url, keys, 2) as server:
        client = Client(ClientPlan(server.base, town, seed=0, resolve_seconds=30.0))
        for n in range(TWIN_PAIRS):
            org = town.organisations[n % 2]
            tid, day = str(uuid4()), dt.date(2027, 1, 1) + dt.timedelta(days=n)
            body = {"id": tid, "payer": org, "volunteer": town.members[n % members],
                    "minutes": 90, "category": "errands", "service_date": day.isoformat()}
            client.twice_at_once(Op(tid, tid, "service_credit", "/v1/credits", body, "staff"))
        assert server.stop() == 0, server.output()[-4000:]
    record = client.record
    findings = judge(url, keys, town, record)
    disagreeing = record.twins_disagreeing()
    print(f"\ntwins on {url.split(':', 1)[0]}: {TWIN_PAIRS} pairs, {len(disagreeing)} "
          f"where one twin was refused; statuses {dict(sorted(record.statuses.items()))}")
    assert disagreeing == [], summary(disagreeing)
    assert findings == [], summary(findings)
