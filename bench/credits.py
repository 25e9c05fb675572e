"""Service credits per second through the ledger application.

This is what a volunteer's recorded hour costs end to end: ``TimeBank.record``
checks the transfer id is new, loads the payer, the volunteer and the
community, lets the domain check every rule, and saves three events
(``Transfer.Recorded``, ``Account.Debited``, ``Account.Credited``) in one
durable transaction. The physical floor under that transaction is measured
beside it by :mod:`bench.reference`.

The workload never trips a rule, so every call is a successful posted credit:
one community with the default rules, one organisation whose budget covers
every credit, and at least 200 members (more when N is so large that a member
would reach the storage cap). Credit k goes to member ``k % members`` for the
service date ``k // members`` days before 2026-11-25, so a member earns at most
one record per day: the largest record (240 minutes) stays under both the
per-record maximum (480) and the daily earning cap (720).

Through HTTP (:func:`measure_http`) the same workload is posted as JSON by
client processes against the production server, each client for its own
organisation and members; the clients count 201s and report every other answer.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import math
import os
import random
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from bench import (Measurement, peak_rss_kib, percentile, profile_report, sqlite_synchronous,
                   timed_loop)
from bench.http import measure_load, production_server, request_bytes
from domain.rules import CommunityRules
from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.config import Settings, open_bank
from ledger.keys import KeyDirectory
from ledger.storage import Database
from ledger.tokens import Role

MIN_MEMBERS = 200
MINUTES = (30, 45, 60, 90, 120, 180, 240)
LAST_SERVICE_DATE = dt.date(2026, 11, 25)
CALLERS = 4  # threads calling one application at once, as in a gunicorn worker
HTTP_CEILING = 5000  # credits/s no 2-core machine reaches through HTTP (sizes budgets)


@dataclass(frozen=True)
class Town:
    """The accounts the workload spreads credits over."""

    community_id: UUID
    organisation_id: UUID
    member_ids: tuple[UUID, ...]


def members_for(n: int) -> int:
    """Enough members that none reaches the storage cap after ``n`` credits."""
    cap = CommunityRules().member_max_balance
    largest = max(MINUTES)
    return max(MIN_MEMBERS, math.ceil(n * largest / (cap - largest)))


def settle_town(bank: TimeBank, n: int) -> Town:
    """Register the community, the organisation and the members (not timed)."""
    community = bank.register_community("Bench Town")
    organisation = bank.open_organisation(community["id"], "Bench Care",
                                          budget=n * max(MINUTES))
    members = tuple(bank.open_member(community["id"]).id for _ in range(members_for(n)))
    return Town(community_id=community["id"], organisation_id=organisation.id,
                member_ids=members)


def credit_fields(town: Town, k: int) -> tuple[UUID, int, str]:
    """Credit ``k``'s volunteer, minutes and service date: member ``k % members``,
    ``k // members`` days back, so no member earns twice on one day."""
    count = len(town.member_ids)
    return (town.member_ids[k % count], MINUTES[k % len(MINUTES)],
            (LAST_SERVICE_DATE - dt.timedelta(days=k // count)).isoformat())


def credit_requests(town: Town, n: int) -> list[TransferRequest]:
    """``n`` posted service credits, each with a fresh id, none tripping a rule."""
    requests = []
    for k in range(n):
        volunteer, minutes, service_date = credit_fields(town, k)
        requests.append(TransferRequest(
            transfer_id=uuid4(), kind="service_credit",
            debit_account_id=town.organisation_id, credit_account_id=volunteer,
            minutes=minutes, category="elderly-companionship", service_date=service_date,
            pending=False, actor="staff:bench", on_behalf_of=None, channel="api"))
    return requests


def _scalar(cursor: Any, sql: str) -> str:
    cursor.execute(sql)
    row = cursor.fetchone()
    value = next(iter(row.values())) if isinstance(row, dict) else row[0]
    return str(value)


def storage_settings(bank: TimeBank) -> dict[str, str]:
    """The durability settings actually in effect on the application's connection."""
    datastore = bank.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as cursor:
        if bank.database.backend == "sqlite":
            return {"journal_mode": _scalar(cursor, "PRAGMA journal_mode"),
                    "synchronous": sqlite_synchronous(int(_scalar(cursor,
                                                                  "PRAGMA synchronous")))}
        return {name: _scalar(cursor, f"SHOW {name}")
                for name in ("synchronous_commit", "fsync", "wal_sync_method")}


def check_all_posted(bank: TimeBank, town: Town, requests: list[TransferRequest]) -> None:
    """Refuse to report a figure unless every credit really landed."""
    issued = sum(r.minutes for r in requests)
    balance = bank.account(town.organisation_id).balance
    if balance != -issued:
        raise RuntimeError(f"organisation balance {balance}, expected {-issued}: "
                           "not every credit was posted")


def measure_application(url: str, n: int, logged: bool = True) -> Measurement:
    """Time ``n`` calls of ``TimeBank.record`` on a fresh store at ``url``
    (``logged=False``: the same without the verifiable log, for its cost)."""
    bank_class = TimeBank if logged else UnloggedTimeBank
    label = "application: service credit" if logged else "application without the log"
    bank = bank_class(Database.parse(url), os.urandom(32))
    try:
        town = settle_town(bank, n)
        requests = credit_requests(town, n)
        calls = [partial(bank.record, request) for request in requests]
        result = timed_loop(label, bank.database.backend, calls, storage_settings(bank))
        check_all_posted(bank, town, requests)
    finally:
        bank.close()
    return result


def measure_concurrent(url: str, n: int, callers: int = CALLERS) -> Measurement:
    """``n`` credits through one application from ``callers`` threads at once, each
    for its own organisation and members, as a gunicorn worker's threads call it:
    concurrent inserts share a durable commit (``ledger.commits.GroupCommit``)."""
    bank = TimeBank(Database.parse(url), os.urandom(32))
    try:
        share = n // callers
        towns = [settle_town(bank, share) for _ in range(callers)]
        batches = [credit_requests(town, share) for town in towns]
        latencies: list[list[float]] = [[] for _ in range(callers)]
        ready = threading.Barrier(callers + 1)

        def post(k: int) -> None:
            ready.wait()
            for request in batches[k]:
                before = time.perf_counter()
                bank.record(request)
                latencies[k].append(time.perf_counter() - before)

        threads = [threading.Thread(target=post, args=(k,)) for k in range(callers)]
        for thread in threads:
            thread.start()
        ready.wait()
        cpu_started, started = time.process_time(), time.perf_counter()
        for thread in threads:
            thread.join()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        for town, requests in zip(towns, batches, strict=True):
            check_all_posted(bank, town, requests)
        settings = {**storage_settings(bank), "callers": f"{callers} threads"}
    finally:
        bank.close()
    every = sorted(latency for per_caller in latencies for latency in per_caller)
    return Measurement(label=f"application: service credit, {callers} callers",
                       backend=bank.database.backend, operations=len(every),
                       seconds=seconds, cpu_seconds=cpu, p50_ms=percentile(every, 0.5) * 1000,
                       p99_ms=percentile(every, 0.99) * 1000, peak_rss_kib=peak_rss_kib(),
                       settings=settings)


def profile_application(url: str, n: int, top: int = 25) -> str:
    """cProfile of ``n`` credits (setup not profiled): top costs by own and total time."""
    bank = TimeBank(Database.parse(url), os.urandom(32))
    try:
        town = settle_town(bank, n)
        requests = credit_requests(town, n)
        profiler = cProfile.Profile()
        profiler.enable()
        for request in requests:
            bank.record(request)
        profiler.disable()
        check_all_posted(bank, town, requests)
    finally:
        bank.close()
    return profile_report(profiler, f"cProfile of {n} service credits on {url}", top)


class CreditPoster:
    """One HTTP client's requests: ``POST /v1/credits`` by a staff token, its own
    town's organisation paying, credit ``k`` shaped by :func:`credit_fields` (so
    no rule is tripped), a fresh id each (201 means recorded)."""

    def __init__(self, town: Town, token: str) -> None:
        self.town, self.token, self.k = town, token, 0

    def __call__(self, rnd: random.Random) -> bytes:
        volunteer, minutes, service_date = credit_fields(self.town, self.k)
        self.k += 1
        body = (f'{{"id":"{uuid4()}","payer":"{self.town.organisation_id}",'
                f'"volunteer":"{volunteer}","minutes":{minutes},'
                f'"category":"elderly-companionship","service_date":"{service_date}"}}')
        return request_bytes("POST", "/v1/credits", self.token, body.encode())


def most_credits(seconds: float, clients: int) -> int:
    """More credits than one client can post in ``seconds`` (sizes budgets)."""
    return math.ceil(HTTP_CEILING * seconds / clients)


def measure_http(url: str, keys: str, seconds: float, clients: int = 4) -> Measurement:
    """Single credits per second through ``civic-ledger serve`` (gunicorn, 2 sync
    workers): ``clients`` processes, each posting for its own organisation (one
    organisation's credits would all contend for its version) to its own members."""
    KeyDirectory(Path(keys)).ensure()
    bank = open_bank(Settings(database_url=url, keys_dir=Path(keys)))
    try:
        n = most_credits(seconds, clients)
        posters = [CreditPoster(settle_town(bank, n), bank.tokens.issue(Role.STAFF)[0])
                   for _ in range(clients)]
        settings = storage_settings(bank)
    finally:
        bank.close()
    with production_server(url, Path(keys), workers=2) as server:
        return measure_load("HTTP: service credit", Database.parse(url).backend, server,
                            posters, seconds, frozenset({201}),
                            {**settings, "server": "gunicorn, 2 workers x 4 threads, keep-alive"})


class UnloggedTimeBank(TimeBank):
    """The same application on the library's plain recorder: no verifiable log.

    Only for measuring what the log adds to each write; never used to serve."""

    def construct_env(self, name: str, env: Any = None) -> Any:
        environment = super().construct_env(name, env)
        environment.pop("APPLICATION_RECORDER_TOPIC", None)
        return environment
