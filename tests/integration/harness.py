"""Real servers and real clients for the crash and load tests.

Why one harness: both tests need the same things done the same careful way.
The server is the production one (``civic-ledger serve``: gunicorn, several
threaded workers) started in its own session, so that ``os.killpg`` reaches the
master and every worker at once, on a free loopback port. Clients post with
ids they choose and keep every answer they got (a status, or none when the
connection died), so that afterwards :func:`judge` can hold the ledger to
exactly what was acknowledged, and to its own laws.
Every wait is bounded; every process is killed in a ``finally``.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

REPO = Path(__file__).resolve().parents[2]
LONG = os.environ.get("CIVIC_LEDGER_LONG") == "1"
START_TIMEOUT = 90.0  # a busy two-core machine starting gunicorn and its workers
STOP_TIMEOUT = 20.0
REQUEST_TIMEOUT = 30.0
REFUSALS = frozenset({"minimum_balance", "storage_cap", "daily_earning_cap",
                      "max_minutes_per_record"})  # limits doing their job
TOWN_RULES = {"member_min_balance": -30, "member_max_balance": 600,
              "daily_earning_cap": 150, "max_minutes_per_record": 90}
HOT_DATES = ("2026-03-02", "2026-03-03", "2026-03-04")  # where daily caps fill up


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_env() -> dict[str, str]:
    """This environment without our settings, with the checkout under test importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_LEDGER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


# -- the server -------------------------------------------------------------------------


class Server:
    """``civic-ledger serve`` on one loopback port, restartable after a ``kill -9``."""

    def __init__(self, workdir: Path, url: str, keys: Path, workers: int) -> None:
        self.workdir, self.url, self.keys, self.workers = workdir, url, keys, workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.start_seconds: list[float] = []

    def start(self) -> None:
        """Start master and workers in a new session (process group = master's pid)."""
        self.starts += 1
        log = self.workdir / f"server-{self.port}-{self.starts}.log"
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "serve", "--database", self.url,
                 "--keys", str(self.keys), "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(self.workers), "--expiry-sweep", "0"],
                cwd=self.workdir, env=server_env(), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)

    def output(self) -> str:
        """What the latest start printed."""
        log = self.workdir / f"server-{self.port}-{self.starts}.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def wait_healthy(self) -> float:
        """Seconds until /healthz answered 200; AssertionError if it died or took too long."""
        assert self.process is not None
        began = time.monotonic()
        while time.monotonic() - began < START_TIMEOUT:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode} on start "
                                     f"{self.starts}:\n{self.output()[-4000:]}")
            answer = send(self.base, "GET", "/healthz", None, timeout=5)
            if answer.status == 200:
                self.start_seconds.append(time.monotonic() - began)
                return self.start_seconds[-1]
            time.sleep(0.2)
        raise AssertionError(f"server not healthy within {START_TIMEOUT}s on start "
                             f"{self.starts}:\n{self.output()[-4000:]}")

    def assert_alive(self) -> None:
        """AssertionError with the log when the master has exited on its own (gunicorn
        shuts the whole server down when a worker fails to boot)."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"server exited {self.process.returncode} by itself after "
                                 f"start {self.starts}:\n{self.output()[-6000:]}")

    def kill(self) -> None:
        """``kill -9`` the whole process group: master and workers, no goodbyes."""
        if self.process is not None and self.process.poll() is None:
            # Not reaped yet, so its pid, which is also its group's id, is still ours.
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)

    def stop(self) -> int | None:
        """SIGTERM (gunicorn stops its workers, then itself); ``kill -9`` of the group
        when that takes too long. The master's exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


@contextmanager
def serving(workdir: Path, url: str, keys: Path, workers: int) -> Iterator[Server]:
    """A started, healthy server; always stopped (its process group killed) after."""
    server = Server(workdir, url, keys, workers)
    try:
        server.start()
        server.wait_healthy()
        yield server
    finally:
        server.stop()


# -- HTTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One response: ``status`` None when there was none (refused, reset, timed out)."""

    status: int | None
    body: Any

    @property
    def rule(self) -> str | None:
        """The problem's rule slug, if this is a problem."""
        return self.body.get("rule") if isinstance(self.body, dict) else None


def send(base: str, method: str, path: str, token: str | None,
         body: dict[str, Any] | None = None, timeout: float = REQUEST_TIMEOUT) -> Answer:
    """One request over a fresh loopback connection; never raises for the network."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            try:
                status, raw = error.code, error.read()
            except (OSError, http.client.HTTPException) as cut:  # the body never came
                return _no_answer(cut)
    except (OSError, http.client.HTTPException) as error:
        return _no_answer(error)
    try:
        return Answer(status, json.loads(raw) if raw else None)
    except ValueError:
        return Answer(status, raw.decode(errors="replace"))


def _no_answer(error: Exception) -> Answer:
    # "refused": nobody listens (the server is down); "cut": reset, closed or timed out
    # once the request was on its way, so it may or may not have been carried out.
    reason = getattr(error, "reason", error)
    rule = "refused" if isinstance(reason, ConnectionRefusedError) else "cut"
    return Answer(None, {"rule": rule, "detail": f"{type(error).__name__}: {error}"})


# -- the town -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Town:
    """Ids (as strings) and bearer tokens: ``staff``, ``auditor``, ``partner:<org>``,
    ``member:<id>``. Picklable, for spawned clients."""

    community: str
    organisations: tuple[str, ...]
    members: tuple[str, ...]
    pool: str
    issuance: str
    tokens: dict[str, str]
    seeded: frozenset[str] = frozenset()  # transfers recorded before the run
    opening: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # balances then

    @property
    def accounts(self) -> tuple[str, ...]:
        """Every account of the community."""
        return (*self.organisations, *self.members, self.pool, self.issuance)


def settings(url: str, keys: Path) -> Any:
    """Settings for the ledger under test."""
    from ledger.config import Settings
    return Settings.from_env({}, database_url=url, keys_dir=str(keys))


def open_ledger(url: str, keys: Path) -> Any:
    """A TimeBank with the log signer from the keys directory."""
    from ledger.config import open_bank
    return open_bank(settings(url, keys))


def seed_town(url: str, keys: Path, members: int = 6, budget: int = 2400,
              history: int = 0) -> Town:
    """Keys, every table, one community with two organisations, members, tokens;
    ``history`` one-minute moves per account first (100 or more: every account is
    past its first snapshot, so a restarted server loads it from there)."""
    from ledger.tokens import Role
    from web.app import create_app
    settings(url, keys).key_directory().ensure()
    bank = open_ledger(url, keys)
    try:
        create_app({"LEDGER": bank})  # every table, before any worker starts
        community = bank.register_community("Crash Lane", rules=dict(TOWN_RULES))
        cid = community["id"]
        orgs = [str(bank.open_organisation(cid, f"Org {n}", budget=budget).id)
                for n in range(2)]
        people = [str(bank.open_member(cid).id) for _ in range(members)]
        tokens = {"staff": bank.tokens.issue(Role.STAFF)[0],
                  "auditor": bank.tokens.issue(Role.AUDITOR)[0]}
        for org in orgs:
            tokens[f"partner:{org}"] = bank.tokens.issue(Role.PARTNER, UUID(org))[0]
        for member in people:
            tokens[f"member:{member}"] = bank.tokens.issue(Role.MEMBER, UUID(member))[0]
        seeded = _record_history(bank, orgs, people, history)
        town = Town(str(cid), tuple(orgs), tuple(people), str(community["pool_account"]),
                    str(community["issuance_account"]), tokens, frozenset(seeded))
        for account in town.accounts:
            aggregate = bank.repository.get(UUID(account))
            town.opening[account] = (aggregate.balance, aggregate.pending_in,
                                     aggregate.pending_out)
        return town
    finally:
        bank.close()


def _record_history(bank: Any, orgs: list[str], people: list[str], moves: int) -> list[str]:
    """``moves`` entries on every account: one-minute credits, then gifts in a ring."""
    from domain.transfers import TransferRequest
    pairs = [(orgs[n % len(orgs)], people[n % len(people)], "service_credit")
             for n in range(moves * len(orgs))]
    pairs += [(people[n % len(people)], people[(n + 1) % len(people)], "gift")
              for n in range(max(0, moves - len(pairs) // len(people)) * len(people) // 2 + 1)]
    return [str(bank.record(TransferRequest(
        uuid4(), kind, UUID(debit), UUID(credit), 1, "history", "2025-12-01", False,
        "staff:seed", None, "api")).id) for debit, credit, kind in pairs]


# -- operations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One write: ``key`` names it among all ops (a transfer id, or ``<id>/confirm``)."""

    key: str
    transfer: str
    kind: str  # service_credit | redemption | gift | confirm | void
    path: str
    body: dict[str, Any]
    token: str  # a key of Town.tokens


def make_op(rng: random.Random, town: Town) -> Op:
    """A credit, redemption or gift between random accounts, with a fresh id."""
    tid, minutes = str(uuid4()), rng.randint(5, 95)  # above 90: max_minutes_per_record
    day = rng.choice(HOT_DATES) if rng.random() < 0.5 else \
        f"2026-{rng.randint(4, 12):02d}-{rng.randint(1, 28):02d}"
    a, b = rng.sample(town.members, 2)
    org = rng.choice(town.organisations)
    roll = rng.random()
    if roll < 0.4:
        body = {"id": tid, "payer": org, "volunteer": a, "minutes": minutes,
                "category": "errands", "service_date": day, "pending": rng.random() < 0.15}
        token = rng.choice(["staff", f"partner:{org}"])
        return Op(tid, tid, "service_credit", "/v1/credits", body, token)
    token = rng.choice(["staff", f"member:{a}"])
    if roll < 0.7:
        body = {"id": tid, "member": a, "provider": org, "minutes": minutes,
                "category": "transport", "service_date": day}
        return Op(tid, tid, "redemption", "/v1/redemptions", body, token)
    body = {"id": tid, "from": a, "to": b, "minutes": minutes, "category": "thanks",
            "service_date": day}
    return Op(tid, tid, "gift", "/v1/gifts", body, token)


def settle_op(credit: Op, confirm: bool) -> Op:
    """Confirm or void a pending credit (by the token that recorded it)."""
    verb = "confirm" if confirm else "void"
    body: dict[str, Any] = {} if confirm else {"reason": "no-show"}
    return Op(f"{credit.transfer}/{verb}", credit.transfer, verb,
              f"/v1/credits/{credit.transfer}/{verb}", body, credit.token)


# -- clients ----------------------------------------------------------------------------


@dataclass
class Record:
    """Everything one client sent and every answer it got."""

    ops: dict[str, Op] = field(default_factory=dict)
    answers: dict[str, list[tuple[int | None, bool | None, str | None, bool]]] = field(
        default_factory=dict)  # per op key, in order: (status, created, rule, twin)
    statuses: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    checkpoints: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    seconds: float = 0.0  # how long the client worked

    def cut_writes(self) -> tuple[int, int]:
        """Writes with a request cut mid-way, and how many of them had been recorded
        all the same (the retry's answer said ``created: false``)."""
        cut = committed = 0
        for answers in self.answers.values():
            mine = [a for a in answers if not a[3]]
            first = next((n for n, a in enumerate(mine) if _success(a)), len(mine))
            if any(a[2] == "cut" for a in mine[:first]):
                cut += 1
                committed += first < len(mine) and mine[first][1] is False
        return cut, committed

    def twins_disagreeing(self) -> list[str]:
        """Ops posted twice at once where one twin succeeded and the other was refused."""
        return [f"{key}: {answers}" for key, answers in self.answers.items()
                if any(_success(a) for a in answers)
                and any(_refusal(a) and a[3] for a in answers)]

    def merge(self, other: Record) -> None:
        """Add another client's record to this one."""
        self.ops.update(other.ops)
        for key, answers in other.answers.items():
            self.answers.setdefault(key, []).extend(answers)
        self.statuses.update(other.statuses)
        self.requests += other.requests
        self.checkpoints += other.checkpoints
        self.unexpected += other.unexpected
        self.seconds = max(self.seconds, other.seconds)


@dataclass(frozen=True)
class ClientPlan:
    """What one client does; picklable for spawned processes."""

    base: str
    town: Town
    seed: int
    seconds: float = 0.0  # for processes: how long to post
    retry_share: float = 0.1  # ops posted again (same id, same body) after an answer
    twin_share: float = 0.0  # ops posted twice at the same moment
    resolve_seconds: float = 120.0  # how long one op is retried without an answer


def ok(answer: Answer) -> bool:
    """A 2xx answer."""
    return answer.status is not None and 200 <= answer.status < 300


class Client:
    """Posts ops, each retried (same id, same body) until it gets an answer, and reads
    accounts and checkpoints in between; records everything it saw."""

    def __init__(self, plan: ClientPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.record = Record()
        self.abandon = threading.Event()  # set when the test has failed: stop retrying
        self._lock = threading.Lock()

    def run(self, stop: Callable[[], bool]) -> Record:
        """Work until ``stop()``; the op in hand is always finished (bounded)."""
        try:
            while not stop():
                self.step()
        except Exception:  # a client must not end quietly: the test would pass half-loaded
            with self._lock:
                self.record.unexpected.append(f"client stopped: {traceback.format_exc()}")
        return self.record

    def step(self) -> None:
        """A read, or a write (perhaps twice at once, perhaps retried, perhaps settled)."""
        if self.rng.random() < 0.1:
            self.read()
            return
        op = make_op(self.rng, self.plan.town)
        twin = self.rng.random() < self.plan.twin_share
        answer = self.twice_at_once(op) if twin else self.resolve(op)
        if ok(answer) and self.rng.random() < self.plan.retry_share:
            self.resolve(op)  # a deliberate retry of an acknowledged write
        if ok(answer) and op.body.get("pending"):
            self.resolve(settle_op(op, confirm=self.rng.random() < 0.5))

    def resolve(self, op: Op, twin: bool = False) -> Answer:
        """Post until an answer other than none or 503 comes, or the time is up."""
        with self._lock:
            self.record.ops[op.key] = op
        deadline, pause = time.monotonic() + self.plan.resolve_seconds, 0.05
        while True:
            answer = self.post(op, twin)
            if answer.status not in (None, 503) or time.monotonic() > deadline \
                    or self.abandon.is_set():
                return answer
            time.sleep(pause * (0.5 + self.rng.random()))
            pause = min(pause * 2, 1.0)

    def post(self, op: Op, twin: bool) -> Answer:
        """One attempt, recorded with its status, ``created`` flag and rule."""
        answer = send(self.plan.base, "POST", op.path, self.plan.town.tokens[op.token],
                      op.body)
        created = answer.body.get("created") if ok(answer) and isinstance(
            answer.body, dict) else None
        with self._lock:
            self.record.answers.setdefault(op.key, []).append(
                (answer.status, created, answer.rule, twin))
            self.count(answer)
            if _unexpected(op, answer):
                self.record.unexpected.append(f"{op.kind} {op.key}: {answer.status} "
                                              f"{answer.body}")
        return answer

    def count(self, answer: Answer) -> None:
        """Tally one response by status (and rule, for problems)."""
        self.record.requests += 1
        label = "no answer" if answer.status is None else str(answer.status)
        self.record.statuses[f"{label} {answer.rule}" if answer.rule else label] += 1

    def twice_at_once(self, op: Op) -> Answer:
        """The same op from two threads released together; the better answer."""
        barrier, answers = threading.Barrier(2, timeout=30), []

        def one() -> None:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
            answers.append(self.resolve(op, twin=True))

        threads = [threading.Thread(target=one, daemon=True) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(self.plan.resolve_seconds + 2 * REQUEST_TIMEOUT)
        return next((a for a in answers if ok(a)), answers[0] if answers else
                    Answer(None, "twins did not finish"))

    def read(self) -> None:
        """A balance (checked against its limits) or a signed checkpoint (kept)."""
        auditor = self.plan.town.tokens["auditor"]
        if self.rng.random() < 0.25:
            answer = send(self.plan.base, "GET", "/v1/log/checkpoint", auditor)
            problem = None if answer.status in (None, 200) else answer.body
        else:
            account = self.rng.choice(self.plan.town.accounts)
            answer = send(self.plan.base, "GET", f"/v1/accounts/{account}", auditor)
            problem = _account_problem(answer)
        with self._lock:
            self.count(answer)
            if answer.status == 200 and isinstance(answer.body, str):
                self.record.checkpoints.append(answer.body)
            if problem is not None:
                self.record.unexpected.append(f"read: {answer.status} {problem}")


def _unexpected(op: Op, answer: Answer) -> bool:
    if answer.status is None or answer.status == 503 or ok(answer):
        return False  # 503s are counted; each test says whether it tolerates them
    return op.kind in ("confirm", "void") or answer.rule not in REFUSALS


def _account_problem(answer: Answer) -> Any:
    if answer.status is None:
        return None
    if answer.status != 200 or not isinstance(answer.body, dict):
        return answer.body
    view, limits = answer.body, answer.body["limits"]
    low, high = limits.get("min_balance"), limits.get("max_balance")
    if low is not None and view["balance"] - view["pending_out"] < low:
        return f"below its floor: {view}"
    if high is not None and view["balance"] + view["pending_in"] > high:
        return f"above its cap: {view}"
    return None


def account_views(base: str, town: Town) -> tuple[dict[str, Any], list[str]]:
    """Every account as the API shows it, and any that is not 200 or crosses a limit."""
    views, problems = {}, []
    for account in town.accounts:
        answer = send(base, "GET", f"/v1/accounts/{account}", town.tokens["auditor"])
        problem = _account_problem(answer) if answer.status is not None else answer.body
        if problem is not None:
            problems.append(f"account {account}: {problem}")
        elif isinstance(answer.body, dict):
            views[account] = answer.body
    return views, problems


def run_client(plan: ClientPlan) -> Record:
    """A client process's work: post for ``plan.seconds``, then return the record."""
    began = time.monotonic()
    record = Client(plan).run(lambda: time.monotonic() - began >= plan.seconds)
    record.seconds = time.monotonic() - began
    return record


# -- the judge --------------------------------------------------------------------------


@dataclass
class LogFacts:
    """What the event log holds, read once from the first event to the last."""

    recorded: dict[str, list[Any]] = field(default_factory=dict)  # Transfer.Recorded
    entries: Counter[tuple[str, str]] = field(default_factory=Counter)  # (id, event[side])
    settled: dict[str, list[str]] = field(default_factory=dict)  # Posted / Voided
    accounts: dict[str, list[Any]] = field(default_factory=dict)  # every Account event

    @classmethod
    def read(cls, bank: Any) -> LogFacts:
        """One pass over the notification log."""
        facts, start = cls(), 1
        while batch := bank.recorder.select_notifications(start, 1000):
            for note in batch:
                facts.add(note.topic.rsplit(":", 1)[-1], bank.mapper.to_domain_event(note))
            start = batch[-1].id + 1
        return facts

    def add(self, name: str, event: Any) -> None:
        """File one event."""
        origin = str(event.originator_id)
        if name.startswith("Account."):
            self.accounts.setdefault(origin, []).append(event)
            if hasattr(event, "transfer_id"):
                side = f"[{event.side}]" if hasattr(event, "side") else ""
                self.entries[(str(event.transfer_id), name + side)] += 1
        elif name == "Transfer.Recorded":
            self.recorded.setdefault(origin, []).append(event)
        elif name in ("Transfer.Posted", "Transfer.Voided"):
            self.settled.setdefault(origin, []).append(name)


def answer_findings(record: Record) -> list[str]:
    """Per op: an answer in the end; for a new transfer at most one ``created``; after
    a success, no refusal in sequence. (Twins released together may disagree when
    another client's write changes a limit between their checks; the dedicated
    twin test rules that out.)"""
    findings = list(record.unexpected)
    for key in record.ops:
        answers = record.answers.get(key) or [(None, None, "never sent", False)]
        if answers[-1][0] in (None, 503):
            findings.append(f"{key}: never answered ({answers[-1]})")
        if record.ops[key].kind not in ("confirm", "void") \
                and sum(1 for a in answers if a[1] is True) > 1:
            findings.append(f"{key}: created twice: {answers}")
        first = next((n for n, a in enumerate(answers) if _success(a)), len(answers))
        if any(_refusal(a) and not a[3] for a in answers[first + 1:]):
            findings.append(f"{key}: refused after it succeeded: {answers}")
    return findings


def _success(answer: tuple[int | None, bool | None, str | None, bool]) -> bool:
    return answer[0] is not None and 200 <= answer[0] < 300


def _refusal(answer: tuple[int | None, bool | None, str | None, bool]) -> bool:
    return answer[0] is not None and answer[0] >= 400 and answer[0] != 503


def applied(record: Record, facts: LogFacts) -> dict[str, bool]:
    """Per op key: did it take effect? Known when answered; the log says otherwise."""
    result = {}
    for key, op in record.ops.items():
        answers = record.answers.get(key, [])
        if any(_success(a) for a in answers):
            result[key] = True
        elif answers and answers[-1][0] not in (None, 503):
            result[key] = False
        elif op.kind in ("confirm", "void"):
            result[key] = facts.settled.get(op.transfer) == [
                "Transfer.Posted" if op.kind == "confirm" else "Transfer.Voided"]
        else:
            result[key] = op.transfer in facts.recorded
    return result


def transfer_findings(record: Record, facts: LogFacts, town: Town) -> list[str]:
    """The log holds exactly the acknowledged transfers, each once, as asked."""
    findings, done = [], applied(record, facts)
    for key, op in record.ops.items():
        if op.kind in ("confirm", "void"):
            wanted = ["Transfer.Posted" if op.kind == "confirm" else "Transfer.Voided"]
            if done[key] and facts.settled.get(op.transfer) != wanted:
                findings.append(f"{key}: acknowledged, but the log has "
                                f"{facts.settled.get(op.transfer)}")
            continue
        events = facts.recorded.get(op.transfer, [])
        if done[key] != bool(events):
            what = "acknowledged but missing" if done[key] else "refused but written"
            findings.append(f"{key}: {what} ({record.answers.get(key)})")
        for event in events[:1]:
            got = (str(event.debit_account_id), str(event.credit_account_id), event.minutes,
                   event.service_date, bool(event.pending), event.kind)
            if got != _asked(op):
                findings.append(f"{key}: recorded as {got}, asked {_asked(op)}")
    for tid, events in facts.recorded.items():
        if tid not in record.ops and tid not in town.seeded:
            findings.append(f"transfer {tid} in the log was never asked for")
        if len(events) != 1 or facts.entries[(tid, "Account.Debited")] != 1 \
                or facts.entries[(tid, "Account.Credited")] != 1:
            findings.append(f"transfer {tid}: {len(events)} Recorded, entries "
                            f"{[(k, n) for k, n in facts.entries.items() if k[0] == tid]}")
    findings += [f"transfer {tid}: settled {names}" for tid, names in facts.settled.items()
                 if len(names) > 1]
    findings += [f"transfer {tid}: {name} {n} times" for (tid, name), n in
                 facts.entries.items() if n > 1 or tid not in facts.recorded]
    return findings


def _asked(op: Op) -> tuple[Any, ...]:
    body = op.body
    debit = body.get("payer") or body.get("member") or body.get("from")
    credit = body.get("volunteer") or body.get("provider") or body.get("to")
    return (debit, credit, body["minutes"], body["service_date"],
            bool(body.get("pending")), op.kind)


def limit_findings(bank: Any, town: Town, facts: LogFacts) -> list[str]:
    """Replaying every account event by event, no limit is ever crossed (the limits
    restated here from the rules, not asked of the aggregate)."""
    from domain.rules import CommunityRules
    rules = CommunityRules.from_dict(bank.community(UUID(town.community))["rules"])
    findings = []
    for account_id, events in facts.accounts.items():
        account = None
        for event in events:
            account = event.mutate(account)
            kind = str(getattr(account.kind, "value", account.kind))
            low = {"member": rules.member_min_balance, "organisation": -account.budget,
                   "pool": 0}.get(kind)
            crossed = (low is not None and account.balance - account.pending_out < low) or (
                kind == "member" and (
                    account.balance + account.pending_in > rules.member_max_balance
                    or any(v > rules.daily_earning_cap for v in account.earned.values())))
            if crossed:
                findings.append(f"{kind} {account_id} crossed a limit at version "
                                f"{account.version}: balance {account.balance}, pending "
                                f"{account.pending_in}/{account.pending_out}, earned "
                                f"{account.earned}")
                break
    return findings


def expected_balances(record: Record, facts: LogFacts, town: Town) -> dict[str, list[int]]:
    """(balance, pending_in, pending_out) per account from the applied ops alone."""
    done = applied(record, facts)
    totals = {a: list(town.opening.get(a, (0, 0, 0))) for a in town.accounts}
    for key, op in record.ops.items():
        if op.kind in ("confirm", "void") or not done[key]:
            continue
        debit, credit, minutes, _, pending, _ = _asked(op)
        if pending and not done.get(f"{key}/confirm"):
            if not done.get(f"{key}/void"):
                totals[debit][2] += minutes
                totals[credit][1] += minutes
            continue
        totals[debit][0] -= minutes
        totals[credit][0] += minutes
    return totals


def balance_findings(bank: Any, models: Any, town: Town, expected: dict[str, list[int]],
                     api: dict[str, Any]) -> list[str]:
    """The aggregates, the read model and the API (when asked) agree with the clients'
    acknowledged ops; the community's balances sum to zero."""
    findings, total = [], 0
    for account_id, wanted in expected.items():
        aggregate = bank.repository.get(UUID(account_id))
        total += aggregate.balance
        try:
            bank.account(UUID(account_id))
        except Exception as error:  # a bug in the service layer: report, go on
            findings.append(f"TimeBank.account({account_id}) raises {error!r} (version "
                            f"{aggregate.version}, kind {aggregate.kind!r})")
        views = [{"balance": aggregate.balance, "pending_in": aggregate.pending_in,
                  "pending_out": aggregate.pending_out}, models.account(UUID(account_id))]
        views += [api[account_id]] if account_id in api else []
        got = [[v["balance"], v["pending_in"], v["pending_out"]] for v in views]
        if any(g != wanted for g in got):
            findings.append(f"account {account_id}: aggregate, read model, API {got}; "
                            f"the clients' acknowledged ops say {wanted}")
    rows = models.views.query("SELECT account_id, balance FROM {p}rm_accounts "
                              "WHERE community_id = ?", (town.community,))
    if total != 0 or sum(int(r["balance"]) for r in rows) != 0 \
            or len(rows) != len(town.accounts):
        findings.append(f"the community's balances do not sum to zero: aggregates {total}, "
                        f"read model {rows}")
    return findings


def projection_findings(models: Any) -> list[str]:
    """Caught-up read models equal a rebuild from the first event."""
    models.fresh()
    live = snapshot(models)
    models.projector.rebuild()
    rebuilt = snapshot(models)
    failed = [f"projection {n}: {p}" for n, p in models.lag().items() if "failed_at" in p]
    return failed + [f"read model {table}: {len(live[table])} rows live, "
                     f"{len(rebuilt[table])} rebuilt, they differ"
                     for table in live if live[table] != rebuilt[table]]


def snapshot(models: Any) -> dict[str, list[dict[str, Any]]]:
    """Every read-model row, in a stable order."""
    return {t.name: models.views.query(f"SELECT * FROM {{p}}{t.name} ORDER BY "
                                       f"{', '.join(t.keys)}")
            for t in models.projector.tables.values()}


def log_findings(bank: Any, notes: list[str]) -> list[str]:
    """The live log verifies, alone and against the smallest and largest kept checkpoint."""
    from ledger.audit import verify_live
    findings = [f"log: {f}" for f in verify_live(bank.audit_log)]
    by_size = sorted(notes, key=lambda note: int(note.splitlines()[1]))
    for note in {*by_size[:1], *by_size[-1:]}:
        findings += [f"log against kept checkpoint: {f}"
                     for f in verify_live(bank.audit_log, kept_checkpoint=note)]
    return findings


def summary(findings: list[str], shown: int = 15) -> str:
    """The first findings, each cut to one screen line, and how many more there are."""
    lines = [f[:300] for f in findings[:shown]]
    more = len(findings) - shown
    return "\n".join(lines + ([f"... and {more} more"] if more > 0 else []))


def judge(url: str, keys: Path, town: Town, record: Record,
          api: dict[str, Any] | None = None) -> list[str]:
    """Every finding about the ledger after the run (empty: all laws hold); ``api``:
    account views the server answered at the end, to hold to the same account."""
    from projections.queries import ReadModels
    bank = open_ledger(url, keys)
    try:
        facts = LogFacts.read(bank)
        models = ReadModels(bank)
        findings = answer_findings(record) + transfer_findings(record, facts, town)
        findings += limit_findings(bank, town, facts)
        findings += balance_findings(bank, models, town,
                                     expected_balances(record, facts, town), api or {})
        findings += log_findings(bank, record.checkpoints)
        return findings + projection_findings(models)
    finally:
        bank.close()
