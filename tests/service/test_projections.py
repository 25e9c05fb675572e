"""Read models on every backend: equal to a rebuild, equal to the aggregates,
exactly-once after a crash mid-batch, as-of balances, stable pagination."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.errors import DomainError
from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.storage import Database
from projections.folds import PROJECTIONS
from projections.queries import ReadModels

ROOT = Path(__file__).resolve().parents[2]


def move(bank: TimeBank, kind: str, debit: UUID, credit: UUID, minutes: int,
         pending: bool = False, day: str = "2026-11-20") -> Any:
    """Record one transfer; refusals are part of life here."""
    try:
        return bank.record(TransferRequest(uuid4(), kind, debit, credit, minutes, "care", day,
                                           pending, "staff:t", None, "api"))
    except DomainError:
        return None


def busy_town(bank: TimeBank, rounds: int = 6) -> dict[str, Any]:
    """A community with some of every kind of movement."""
    community = bank.register_community("Elm")
    org = bank.open_organisation(community["id"], "NGO", budget=3000).id
    members = [bank.open_member(community["id"]).id for _ in range(3)]
    for n in range(rounds):
        a, b = members[n % 3], members[(n + 1) % 3]
        credit = move(bank, "service_credit", org, a, 60 + n, day=f"2026-11-{n + 1:02d}")
        pending = move(bank, "service_credit", org, b, 30, pending=True)
        if pending is not None and n % 2:
            bank.confirm(pending.id, actor="staff:t", channel="api")
        elif pending is not None:
            bank.void(pending.id, actor="staff:t", reason="no-show")
        move(bank, "gift", a, b, 10)
        move(bank, "redemption", b, org, 15)
        move(bank, "donation", a, community["pool_account"], 5)
        if credit is not None and n == 2:
            bank.reverse(credit.id, actor="admin:t", channel="api", reason="typo")
    return {"community": community, "org": org, "members": members,
            "accounts": [org, *members, community["pool_account"],
                         community["issuance_account"]]}


def snapshot(models: ReadModels) -> dict[str, list[dict[str, Any]]]:
    """Every read-model row, in a stable order."""
    tables = [t for p in PROJECTIONS for t in p.tables]
    return {t.name: models.views.query(
        f"SELECT * FROM {{p}}{t.name} ORDER BY {', '.join(t.keys)}") for t in tables}


def test_projections_equal_a_rebuild_and_the_aggregates(bank):
    town = busy_town(bank)
    models = ReadModels(bank)
    models.fresh()
    live = snapshot(models)
    replayed = models.projector.rebuild()
    assert replayed == bank.audit_log.size()
    assert snapshot(models) == live
    for account_id in town["accounts"]:
        view, aggregate = models.account(account_id), bank.account(account_id)
        assert (view["balance"], view["pending_in"], view["pending_out"]) == (
            aggregate.balance, aggregate.pending_in, aggregate.pending_out)


def test_as_of_balance_equals_the_balance_recorded_at_that_point(bank):
    community = bank.register_community("Elm")
    org = bank.open_organisation(community["id"], "NGO", budget=3000).id
    ada = bank.open_member(community["id"]).id
    recorded = []
    for minutes in (30, 45, 15, 60):
        view = move(bank, "service_credit", org, ada, minutes)
        recorded.append((max(view.log_indexes), bank.account(ada).balance))
    models = ReadModels(bank)
    for log_index, balance in recorded:
        assert models.balance_as_of(ada, log_index=log_index)["balance"] == balance
    assert models.balance_as_of(ada, log_index=recorded[0][0] - 1)["balance"] == 0


def test_statement_pages_neither_skip_nor_repeat_under_concurrent_writes(bank):
    community = bank.register_community("Elm")
    org = bank.open_organisation(community["id"], "NGO", budget=30000).id
    ada = bank.open_member(community["id"]).id
    for n in range(10):
        move(bank, "service_credit", org, ada, 5, day=f"2026-10-{n + 1:02d}")
    models = ReadModels(bank)
    stop = threading.Event()

    def writer() -> None:
        day = 0
        while not stop.is_set() and day < 25:
            move(bank, "service_credit", org, ada, 5, day=f"2026-09-{day + 1:02d}")
            day += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        page = models.statement(ada, limit=3)
        seen = [e["entry_no"] for e in page["entries"]]
        while page["next"] is not None:
            page = models.statement(ada, before=page["next"], limit=3)
            seen += [e["entry_no"] for e in page["entries"]]
    finally:
        stop.set()
        thread.join()
    assert seen == list(range(seen[0], 0, -1))


def test_a_failing_fold_stops_its_projection_and_names_the_event(bank, monkeypatch):
    busy_town(bank, rounds=1)
    models = ReadModels(bank)
    reports = next(p for p in PROJECTIONS if p.name == "reports")

    def broken(seen: Any, rows: Any) -> None:
        raise RuntimeError("bug in the report fold")

    monkeypatch.setitem(reports.handlers, "Transfer.Recorded", broken)  # type: ignore[index]
    models.projector.catch_up()
    lag = models.lag()
    assert lag["reports"]["failed_at"] > 0 and "bug in the report fold" in lag["reports"][
        "error"]
    assert lag["accounts"]["lag"] == 0 and "failed_at" not in lag["accounts"]
    from domain.errors import ProjectionStopped
    with pytest.raises(ProjectionStopped):
        models.fresh("reports")


CRASHING_WORKER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    from ledger.application import TimeBank
    from ledger.storage import Database
    from projections import folds
    from projections.queries import ReadModels
    bank = TimeBank(Database.parse({url!r}), bytes.fromhex({key!r}))
    models = ReadModels(bank)
    calls = 0
    original = folds.ACCOUNTS_PROJECTION.handlers["Account.Credited"]
    def slow(seen, rows):
        global calls
        calls += 1
        if calls == {stall_after}:
            open({marker!r}, "w").close()
            time.sleep(60)  # killed here, mid-batch, with the batch uncommitted
        original(seen, rows)
    folds.ACCOUNTS_PROJECTION.handlers["Account.Credited"] = slow
    models.projector.catch_up(batch=20)
""")


def test_a_worker_killed_mid_batch_resumes_without_double_counting(
        durable_database_url, master_key, tmp_path):
    bank = TimeBank(Database.parse(durable_database_url), master_key)
    town = busy_town(bank, rounds=8)
    marker = tmp_path / "stalled"
    script = CRASHING_WORKER.format(root=str(ROOT), url=durable_database_url,
                                    key=master_key.hex(), marker=str(marker), stall_after=12)
    worker = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the worker never reached the stall point"
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait(timeout=30)
    models = ReadModels(bank)
    survived = models.projector.positions()["accounts"].position
    assert 0 < survived < bank.recorder.max_notification_id()  # some batches committed
    models.fresh()
    live = snapshot(models)
    models.projector.rebuild()
    assert snapshot(models) == live
    for account_id in town["accounts"]:
        assert models.account(account_id)["balance"] == bank.account(account_id).balance
    bank.close()


def test_a_following_worker_keeps_the_read_models_up_to_date(durable_database_url,
                                                             master_key):
    bank = TimeBank(Database.parse(durable_database_url), master_key)
    models = ReadModels(bank)
    stop = threading.Event()
    worker = threading.Thread(target=models.projector.follow, args=(stop, 0.05))
    worker.start()
    try:
        town = busy_town(bank, rounds=2)
        head = bank.recorder.max_notification_id()
        deadline = time.monotonic() + 20
        while not models.projector.caught_up(head) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert models.projector.caught_up(head)
    finally:
        stop.set()
        worker.join(timeout=20)
    assert not worker.is_alive()
    assert models.lag()["accounts"]["lag"] == 0
    assert models.account(town["org"])["balance"] == bank.account(town["org"]).balance
    bank.close()


def test_lag_counts_the_events_not_yet_folded(bank):
    models = ReadModels(bank)
    bank.register_community("Before")
    models.fresh()
    folded = bank.recorder.max_notification_id()
    community = bank.register_community("Lag")
    bank.open_member(community["id"])
    bank.open_member(community["id"])
    behind = len(bank.recorder.select_notifications(folded + 1, 1000))
    lag = models.lag()
    assert {name: entry["lag"] for name, entry in lag.items()} == \
        {name: behind for name in lag} and behind >= 5
    models.fresh()
    assert all(entry["lag"] == 0 for entry in models.lag().values())
