"""Metrics and access lines through the production server: gunicorn with two workers.

Four client threads post service credits at once, so both workers answer
some (the access lines name the worker's pid); every scrape then reports all of
them, whichever worker answers it, and still does after a worker has been
replaced: the counts are summed over the workers' files (prometheus_client's
multiprocess mode), not kept in the process that happens to answer. The access
lines on stderr are JSON, one per request, with no token in them. Run on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import uuid4

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import open_ledger, seed_town, send, serving

CLIENTS, CREDITS, SCRAPES = 4, 12, 6
ROUTE = {"method": "POST", "route": "/v1/credits", "status": "201"}


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One scrape's samples: (name, sorted labels) -> value."""
    answer = send(base, "GET", "/metrics", None)
    assert answer.status == 200, answer.body
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.body)
            for s in family.samples}


def counted(samples: dict[Any, float]) -> tuple[float, float]:
    """(credits in the latency histogram, credits among the successful writes)."""
    return (samples.get(("civic_ledger_http_request_duration_seconds_count",
                         tuple(sorted(ROUTE.items()))), 0.0),
            samples.get(("civic_ledger_writes_total",
                         (("kind", "credits.record_credit"),)), 0.0))


def access_lines(output: str) -> list[dict[str, Any]]:
    """The JSON access lines among everything the server printed."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def post_credits(base: str, town: Any, client: int) -> list[int | None]:
    """``CREDITS`` one-minute credits from one client; their statuses."""
    statuses = []
    for n in range(CREDITS):
        body = {"id": str(uuid4()), "payer": town.organisations[n % 2],
                "volunteer": town.members[(client + n) % len(town.members)], "minutes": 1,
                "category": "errands", "service_date": f"2026-05-{1 + n:02d}"}
        statuses.append(send(base, "POST", "/v1/credits", town.tokens["staff"], body).status)
    return statuses


def test_two_workers_count_into_one_scrape_and_log_one_json_line_per_request(
        tmp_path: Path, durable_database_url: str) -> None:
    keys = tmp_path / "keys"
    town = seed_town(durable_database_url, keys)
    with serving(tmp_path, durable_database_url, keys, workers=2) as server:
        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = [s for batch in pool.map(lambda c: post_credits(server.base, town, c),
                                                range(CLIENTS)) for s in batch]
        assert statuses == [201] * CLIENTS * CREDITS
        scrapes = [counted(scrape(server.base)) for _ in range(SCRAPES)]
        time.sleep(0.5)  # the last access lines reach the log file
        lines = access_lines(server.output())
        credit_pids = {x["pid"] for x in lines if x["route"] == "/v1/credits"}
        scrape_pids = {x["pid"] for x in lines if x["route"] == "/metrics"}
        os.kill(min(credit_pids), signal.SIGTERM)  # the master starts another worker
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_workers(server.output())) < 3:
            time.sleep(0.2)
        restarted = len(_workers(server.output())) == 3
        after_restart = counted(scrape(server.base))
        bank = open_ledger(durable_database_url, keys)
        try:
            leaves = bank.audit_log.size()
        finally:
            bank.close()
        last = scrape(server.base)
    total = float(CLIENTS * CREDITS)
    assert len(credit_pids) == 2, f"one worker answered every credit: {credit_pids}"
    assert scrapes == [(total, total)] * SCRAPES, (scrapes, scrape_pids)
    assert restarted and after_restart == (total, total)
    assert last[("civic_ledger_log_leaves", ())] == leaves
    for line in lines:
        assert set(line) >= {"time", "request_id", "method", "route", "path", "status",
                              "duration_ms", "remote_addr", "pid", "role", "token_id"}
    posted = [x for x in lines if x["route"] == "/v1/credits"]
    assert len(posted) == CLIENTS * CREDITS
    assert {x["role"] for x in posted} == {"staff"}
    assert all(token not in server.output() for token in town.tokens.values())


def _workers(output: str) -> set[str]:
    """Pids of every worker gunicorn booted so far."""
    return {line.rsplit(" ", 1)[-1] for line in output.splitlines()
            if "Booting worker with pid:" in line}
