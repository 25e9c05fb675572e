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
"""

from __future__ import annotations

import cProfile
import datetime as dt
import math
import os
from dataclasses import dataclass
from functools import partial
from typing import Any
from uuid import UUID, uuid4

from bench import Measurement, profile_report, sqlite_synchronous, timed_loop
from domain.rules import CommunityRules
from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.storage import Database

MIN_MEMBERS = 200
MINUTES = (30, 45, 60, 90, 120, 180, 240)
LAST_SERVICE_DATE = dt.date(2026, 11, 25)


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


def credit_requests(town: Town, n: int) -> list[TransferRequest]:
    """``n`` posted service credits, each with a fresh id, none tripping a rule."""
    count = len(town.member_ids)
    return [
        TransferRequest(
            transfer_id=uuid4(), kind="service_credit",
            debit_account_id=town.organisation_id,
            credit_account_id=town.member_ids[k % count],
            minutes=MINUTES[k % len(MINUTES)], category="elderly-companionship",
            service_date=(LAST_SERVICE_DATE - dt.timedelta(days=k // count)).isoformat(),
            pending=False, actor="staff:bench", on_behalf_of=None, channel="api")
        for k in range(n)
    ]


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


class UnloggedTimeBank(TimeBank):
    """The same application on the library's plain recorder: no verifiable log.

    Only for measuring what the log adds to each write; never used to serve."""

    def construct_env(self, name: str, env: Any = None) -> Any:
        environment = super().construct_env(name, env)
        environment.pop("APPLICATION_RECORDER_TOPIC", None)
        return environment
