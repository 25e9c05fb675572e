"""Many writers at once: threads in this process and separate processes.

Four threads (sharing one ``TimeBank``) and three spawned processes (each with
its own ``TimeBank`` on the same database and master key) hammer the same
seven accounts with credits, redemptions, gifts, donations and pool grants.
Every operation carries a client-chosen id and is sent twice: back to back by
one worker, or at the same moment by two workers. Afterwards the log must hold
each successful transfer exactly once, the balances must equal the sum of the
successful transfers, and no limit may have been crossed at any point of the
committed history (checked by folding the log in order). ``Unavailable`` is
tolerated only when it wrote nothing, and must be rare.
"""

from __future__ import annotations

import multiprocessing
import random
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID, uuid4


from domain.errors import LedgerError, Unavailable
from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.storage import Database

THREADS, PROCESSES, STEPS = 4, 3, 45
WORKERS = THREADS + PROCESSES
BUDGETS = (600, 900)
RULES = {"member_min_balance": 0, "member_max_balance": 600, "daily_earning_cap": 300,
         "max_minutes_per_record": 120}
DAYS = ("2026-11-19", "2026-11-20")
RECORDED = "domain.transfers:Transfer.Recorded"
# An operation: (transfer id, kind, debit account, credit account, minutes, service date).
Op = tuple[str, str, str, str, int, str]
# An outcome: (transfer id, worker, "ok"|"refused"|"unavailable", created, error rule, send).
Outcome = tuple[str, int, str, bool, str, int]


def set_up(bank: TimeBank) -> dict[str, Any]:
    """A community with two organisations and five members."""
    community = bank.register_community("Busy Street", rules=RULES)
    orgs = [bank.open_organisation(community["id"], f"Org {n}", budget=budget).id
            for n, budget in enumerate(BUDGETS)]
    members = [bank.open_member(community["id"]).id for _ in range(5)]
    return {"orgs": orgs, "members": members, "pool": community["pool_account"],
            "budgets": dict(zip(orgs, BUDGETS))}


def random_op(rng: random.Random, town: dict[str, Any]) -> Op:
    """One operation between the busy accounts."""
    members, orgs = town["members"], town["orgs"]
    a, b = rng.sample(members, 2)
    kind, debit, credit = rng.choices([
        ("service_credit", rng.choice(orgs), a), ("redemption", a, rng.choice(orgs)),
        ("gift", a, b), ("donation", a, town["pool"]), ("gift", town["pool"], a)],
        weights=[45, 20, 20, 10, 5])[0]
    return (str(uuid4()), kind, str(debit), str(credit), rng.randint(15, 120),
            rng.choice(DAYS))


def plan(town: dict[str, Any], seed: int) -> tuple[dict[str, Op], list[list[tuple[Op, int]]]]:
    """Every worker's schedule of sends. Each operation is sent exactly twice: at
    every third step it goes once to its owner and once, at the same step, to the
    next worker; otherwise its owner sends it twice back to back."""
    rng = random.Random(seed)
    ops = [[random_op(rng, town) for _ in range(STEPS)] for _ in range(WORKERS)]
    schedules: list[list[tuple[Op, int]]] = [[] for _ in range(WORKERS)]
    for step in range(STEPS):
        for worker in range(WORKERS):
            own = ops[worker][step]
            if step % 3 == 0:
                schedules[worker].append((own, 1))
                schedules[(worker + 1) % WORKERS].append((own, 2))
            else:
                schedules[worker].extend([(own, 1), (own, 2)])
    return {op[0]: op for row in ops for op in row}, schedules


def send(bank: TimeBank, op: Op, worker: int, attempt: int) -> Outcome:
    """One send of one operation, and what came of it."""
    transfer_id, kind, debit, credit, minutes, day = op
    request = TransferRequest(
        transfer_id=UUID(transfer_id), kind=kind, debit_account_id=UUID(debit),
        credit_account_id=UUID(credit), minutes=minutes, category="care", service_date=day,
        pending=False, actor=f"worker:{worker}", on_behalf_of=None, channel="api")
    try:
        view = bank.record(request)
    except Unavailable:
        return (transfer_id, worker, "unavailable", False, "unavailable", attempt)
    except LedgerError as error:
        return (transfer_id, worker, "refused", False, error.rule, attempt)
    return (transfer_id, worker, "ok", view.created, "", attempt)


def run_schedule(bank: TimeBank, worker: int, schedule: list[tuple[Op, int]]) -> list[Outcome]:
    """A worker's sends, in order."""
    return [send(bank, op, worker, attempt) for op, attempt in schedule]


def process_worker(url: str, key: bytes, worker: int, schedule: list[tuple[Op, int]],
                   ready: Any, go: Any, results: Any) -> None:
    """A separate process with its own application on the same database."""
    try:
        bank = TimeBank(Database.parse(url), key)
        ready.put(worker)
        go.wait(120)
        outcomes = run_schedule(bank, worker, schedule)
        bank.close()
        results.put(("ok", outcomes))
    except BaseException:  # report, never hang the parent
        ready.put(worker)
        results.put(("error", traceback.format_exc()))


def hammer(url: str, key: bytes, bank: TimeBank,
           schedules: list[list[tuple[Op, int]]]) -> list[Outcome]:
    """Run the threads and the processes together; gather every outcome."""
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    processes = [ctx.Process(target=process_worker, daemon=True, args=(
        url, key, THREADS + n, schedules[THREADS + n], ready, go, results))
        for n in range(PROCESSES)]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            ready.get(timeout=120)
        with ThreadPoolExecutor(THREADS) as pool:
            go.set()
            futures = [pool.submit(run_schedule, bank, n, schedules[n]) for n in range(THREADS)]
            outcomes = [o for future in futures for o in future.result()]
        for _ in processes:
            status, payload = results.get(timeout=180)
            assert status == "ok", payload
            outcomes.extend(payload)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return outcomes


def committed_history(bank: TimeBank) -> list[Any]:
    """Every event in the log, in commit order."""
    events, position = [], 0
    while batch := bank.recorder.select_notifications(position + 1, 1000):
        events.extend(bank.mapper.to_domain_event(n) for n in batch)
        position = batch[-1].id
    return events


def check_limits_held_throughout(history: list[Any], town: dict[str, Any]) -> None:
    """Fold the log in commit order; no account is ever beyond a limit."""
    balance: Counter[UUID] = Counter()
    earned: Counter[tuple[UUID, str]] = Counter()
    for event in history:
        name = type(event).__name__
        if name not in ("Debited", "Credited"):
            continue
        who = event.originator_id
        balance[who] += event.minutes if name == "Credited" else -event.minutes
        earned[(who, event.service_date)] += event.earning
        if who in town["members"]:
            assert 0 <= balance[who] <= RULES["member_max_balance"], event
            assert earned[(who, event.service_date)] <= RULES["daily_earning_cap"], event
        elif who in town["budgets"]:
            assert balance[who] >= -town["budgets"][who], event
        elif who == town["pool"]:
            assert balance[who] >= 0, event


def check_each_transfer_landed_once(history: list[Any], ops: dict[str, Op],
                                    outcomes: list[Outcome]) -> set[str]:
    """The log holds each succeeded operation once (one Recorded, one Debited, one
    Credited), nothing else, and exactly one send reported it as created."""
    succeeded = {o[0] for o in outcomes if o[2] == "ok"}
    recorded = Counter(str(e.originator_id) for e in history
                       if type(e).__name__ == "Recorded" and str(e.originator_id) in ops)
    assert set(recorded) == succeeded and set(recorded.values()) <= {1}
    entries = Counter((str(e.transfer_id), type(e).__name__) for e in history
                      if type(e).__name__ in ("Debited", "Credited"))
    assert entries == Counter({(t, side): 1 for t in succeeded
                               for side in ("Debited", "Credited")})
    created = Counter(o[0] for o in outcomes if o[2] == "ok" and o[3])
    assert created == Counter(succeeded), "a send other than the first reported 'created'"
    return succeeded


def check_retries_after_success_were_replays(outcomes: list[Outcome]) -> None:
    """A back-to-back retry by the same worker after a success returns the original."""
    by_send = {(o[0], o[1], o[5]): o for o in outcomes}
    for (transfer_id, worker, attempt), first in by_send.items():
        retry = by_send.get((transfer_id, worker, 2))
        if attempt == 1 and first[2] == "ok" and retry is not None:
            assert retry[2] == "ok" and not retry[3], (first, retry)


def expected_balances(ops: dict[str, Op], succeeded: set[str]) -> Counter[str]:
    """What every account must hold: the sum of the successful transfers."""
    balances: Counter[str] = Counter()
    for transfer_id in succeeded:
        _, _, debit, credit, minutes, _ = ops[transfer_id]
        balances[debit] -= minutes
        balances[credit] += minutes
    return balances


def test_concurrent_threads_and_processes_never_double_apply_or_cross_a_limit(
        durable_database_url: str, master_key: bytes) -> None:
    bank = TimeBank(Database.parse(durable_database_url), master_key)
    try:
        town = set_up(bank)
        seed = random.randrange(2**32)
        ops, schedules = plan(town, seed)
        outcomes = hammer(durable_database_url, master_key, bank, schedules)
        assert len(outcomes) == 2 * len(ops)
        history = committed_history(bank)
        succeeded = check_each_transfer_landed_once(history, ops, outcomes)
        check_retries_after_success_were_replays(outcomes)
        check_limits_held_throughout(history, town)
        expected = expected_balances(ops, succeeded)
        accounts = [*town["members"], *town["orgs"], town["pool"]]
        actual = {str(a): bank.account(a).balance for a in accounts}
        assert actual == {str(a): expected[str(a)] for a in accounts}
        assert sum(actual.values()) == 0
        report(seed, outcomes, succeeded)
    finally:
        bank.close()


def report(seed: int, outcomes: list[Outcome], succeeded: set[str]) -> None:
    """Print the tallies (shown with ``-s``) and hold the ones that must hold."""
    tally = Counter(o[2] if o[2] != "refused" else f"refused:{o[4]}" for o in outcomes)
    print(f"\nconcurrency seed={seed} sends={len(outcomes)} transfers={len(succeeded)} "
          f"{dict(sorted(tally.items()))}")
    assert tally["refused:minimum_balance"] > 0, "the run never exhausted a budget or balance"
    assert tally["unavailable"] <= len(outcomes) // 20, "Unavailable is not rare"
