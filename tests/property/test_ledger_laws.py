"""The ledger's laws under random command sequences (hypothesis state machine).

Random credits (pending or posted), confirmations, voids, redemptions, gifts,
donations, reversals, budget and rule changes, erasures, expiry sweeps and
idempotent retries run through ``TimeBank``; an independent oracle
(:class:`LedgerModel`, plain dicts) predicts every outcome. After every step:
balances sum to zero, reservations balance, no limit was crossed, the live
state equals the oracle's and equals a replay of the whole log from zero; a
refused command wrote nothing. The SQLite run also reopens the file with a
fresh application (no cache) and compares every account and transfer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import tempfile
from typing import Any, Callable
from uuid import UUID, uuid4

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from domain.accounts import Account, AccountKind
from domain.communities import derived_id
from domain.errors import (
    AccountErased,
    DailyCapExceeded,
    DomainError,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidAmount,
    InvalidRules,
    InvalidTransition,
    LedgerError,
    PendingExpired,
    RecordTooLong,
    StorageCapExceeded,
    WrongAccountKind,
)
from domain.transfers import ALLOWED_SIDES, Transfer, TransferKind, TransferRequest
from ledger.application import TimeBank
from ledger.storage import Database

Refusal = tuple[type[LedgerError], str]
START = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
INITIAL_RULES = {"member_min_balance": -30, "member_max_balance": 600,
                 "daily_earning_cap": 240, "max_minutes_per_record": 180,
                 "pending_expiry_minutes": 60}
DAYS = ("2026-11-18", "2026-11-19", "2026-11-20")
FORWARD = [k for k in TransferKind if k is not TransferKind.REVERSAL]


def mostly(good: st.SearchStrategy[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    """``good`` nine times in ten, otherwise one of the ``bad`` values."""
    return st.tuples(st.integers(0, 9), good, st.sampled_from(bad)).map(
        lambda t: t[2] if t[0] == 0 else t[1])


MINUTES = mostly(st.integers(1, 200), [0, -15, True, 2.5, 10_000])


def moves(kinds: list[TransferKind], wild: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """A transfer to record: its kind, sides (any account when ``wild``), minutes..."""
    return st.fixed_dictionaries({
        "kind": st.sampled_from(kinds), "sides": st.tuples(st.integers(0, 99),
                                                           st.integers(0, 99)),
        "wild": st.just(wild), "minutes": MINUTES, "pending": st.integers(0, 9),
        "day": st.sampled_from(DAYS)})


RULE_CHANGES = mostly(st.fixed_dictionaries({}, optional={
    name: mostly(st.integers(low, high), [bad, 1.5, True]) for name, low, high, bad in (
        ("member_min_balance", -120, 0, 10), ("member_max_balance", 1, 900, 0),
        ("daily_earning_cap", 1, 400, 0), ("max_minutes_per_record", 1, 300, -1),
        ("pending_expiry_minutes", 1, 120, 0))}), [{"bogus": 1}, {"version": 9}])
CHANGES = {"minutes": 1, "service_date": "2026-11-01",
           "channel": "paper", "category": "other", "pending": None}


def refusal(error: type[LedgerError], rule: str | None = None) -> Refusal:
    """The error class and rule slug a refusal must carry."""
    return (error, rule or error.rule)


class LedgerModel:
    """The oracle: expected state in plain dicts, the rules restated independently."""

    def __init__(self, community: UUID, kinds: dict[UUID, AccountKind],
                 budgets: dict[UUID, int]) -> None:
        self.community = community
        self.kinds = kinds
        self.members = [a for a, k in kinds.items() if k is AccountKind.MEMBER]
        self.organisations = list(budgets)
        self.rules: dict[str, int] = {"version": 1, **INITIAL_RULES}
        self.loosest = dict(INITIAL_RULES)  # the widest limits ever in force
        self.balance, self.pending_in, self.pending_out = ({a: 0 for a in kinds}
                                                           for _ in range(3))
        self.budget = dict(budgets)
        self.earned: dict[tuple[UUID, str], int] = {}
        self.erased: set[UUID] = set()
        self.transfers: dict[UUID, dict[str, Any]] = {}
        self.requests: list[TransferRequest] = []

    @classmethod
    def set_up(cls, bank: TimeBank) -> LedgerModel:
        """A community with two organisations and four members, in the bank and here."""
        community = bank.register_community("Laws", rules=INITIAL_RULES)
        cid = community["id"]
        budgets = {bank.open_organisation(cid, f"Org {n}", budget=b).id: b
                   for n, b in ((1, 300), (2, 600))}
        members = [bank.open_member(cid, profile={"display_name": "Ada"}).id,
                   *(bank.open_member(cid).id for _ in range(3))]
        kinds = {community["issuance_account"]: AccountKind.ISSUANCE,
                 community["pool_account"]: AccountKind.POOL,
                 **dict.fromkeys(budgets, AccountKind.ORGANISATION),
                 **dict.fromkeys(members, AccountKind.MEMBER)}
        return cls(cid, kinds, budgets)

    def pick(self, index: int, allowed: frozenset[AccountKind] | None) -> UUID:
        """An account, among those of an ``allowed`` kind (any when None)."""
        candidates = [a for a, k in self.kinds.items() if allowed is None or k in allowed]
        return candidates[index % len(candidates)]

    def transfer_at(self, index: int, prefer: str | None = None) -> UUID:
        """A transfer recorded so far (reversals included), if any, one in state ``prefer``."""
        preferred = [i for i, t in self.transfers.items() if t["state"] == prefer]
        candidates = preferred or list(self.transfers)
        return candidates[index % len(candidates)]

    def floor(self, account: UUID) -> int | None:
        """Lowest balance minus reservations out."""
        kind = self.kinds[account]
        return {AccountKind.MEMBER: self.rules["member_min_balance"], AccountKind.POOL: 0,
                AccountKind.ORGANISATION: -self.budget.get(account, 0)}.get(kind)

    def ceiling(self, account: UUID) -> int | None:
        """Highest balance plus reservations in."""
        return (self.rules["member_max_balance"]
                if self.kinds[account] is AccountKind.MEMBER else None)

    # -- predictions ----------------------------------------------------------------

    def refusal_for_record(self, r: TransferRequest) -> Refusal | None:
        """How recording ``r`` must be refused (None: it must succeed)."""
        kind = TransferKind(r.kind)
        if type(r.minutes) is not int or r.minutes <= 0:
            return refusal(InvalidAmount)
        if r.pending and kind is not TransferKind.SERVICE_CREDIT:
            return refusal(DomainError, "pending_only_for_service_credit")
        if kind is TransferKind.SERVICE_CREDIT and r.minutes > self.rules[
                "max_minutes_per_record"]:
            return refusal(RecordTooLong)
        if r.debit_account_id == r.credit_account_id:
            return refusal(DomainError, "distinct_accounts")
        debit_kinds, credit_kinds = ALLOWED_SIDES[kind]
        if (self.kinds[r.debit_account_id] not in debit_kinds
                or self.kinds[r.credit_account_id] not in credit_kinds):
            return refusal(WrongAccountKind)
        earn_day = r.service_date if kind is TransferKind.SERVICE_CREDIT else None
        return self.refusal_for_move(r.debit_account_id, r.credit_account_id, r.minutes,
                                     reversal=False, earn_day=earn_day)

    def refusal_for_move(self, debit: UUID, credit: UUID, minutes: int, *, reversal: bool,
                         earn_day: str | None) -> Refusal | None:
        """The balance checks of a movement, in the order the accounts make them."""
        if debit in self.erased and not reversal:
            return refusal(AccountErased)
        floor = self.floor(debit)
        available = self.balance[debit] - self.pending_out[debit]
        if floor is not None and available - minutes < floor:
            return refusal(InsufficientBalance)
        if credit in self.erased and not reversal:
            return refusal(AccountErased)
        ceiling = self.ceiling(credit)
        held = self.balance[credit] + self.pending_in[credit]
        if ceiling is not None and held + minutes > ceiling:
            return refusal(StorageCapExceeded)
        earned = self.earned.get((credit, earn_day or ""), 0)
        if earn_day is not None and earned + minutes > self.rules["daily_earning_cap"]:
            return refusal(DailyCapExceeded)
        return None

    def refusal_for_confirm(self, transfer_id: UUID,
                            now: dt.datetime) -> tuple[Refusal | None, int]:
        """How confirming must be refused, and how many events a success writes."""
        t = self.transfers[transfer_id]
        if t["state"] == "posted":
            return None, 0
        if t["state"] == "voided":
            return refusal(InvalidTransition), 0
        return (refusal(PendingExpired), 0) if now >= t["expires_at"] else (None, 3)

    def refusal_for_void(self, transfer_id: UUID) -> tuple[Refusal | None, int]:
        """How voiding must be refused, and how many events a success writes."""
        state = self.transfers[transfer_id]["state"]
        if state == "posted":
            return refusal(InvalidTransition), 0
        return None, 0 if state == "voided" else 3

    def refusal_for_reversal(self, transfer_id: UUID) -> tuple[Refusal | None, int]:
        """How reversing must be refused, and how many events a success writes."""
        t = self.transfers[transfer_id]
        if t["reversed_by"] == derived_id("reversal", transfer_id):
            return None, 0
        if t["kind"] == "reversal" or t["state"] != "posted":
            return refusal(InvalidTransition), 0
        return self.refusal_for_move(t["credit"], t["debit"], t["minutes"], reversal=True,
                                     earn_day=None), 4

    def refusal_for_budget(self, org: UUID, budget: Any) -> Refusal | None:
        """How a budget change must be refused."""
        if type(budget) is not int or budget < 0:
            return refusal(InvalidAmount)
        if -budget > self.balance[org] - self.pending_out[org]:
            return refusal(InsufficientBalance)
        return None

    def refusal_for_rules(self, changes: dict[str, Any]) -> Refusal | None:
        """How a rules change must be refused."""
        candidate = {**INITIAL_RULES, **self.rules, **changes}
        if set(changes) - set(INITIAL_RULES) or any(
                type(candidate[n]) is not int for n in INITIAL_RULES):
            return refusal(InvalidRules)
        positive = [v for n, v in candidate.items() if n not in ("member_min_balance", "version")]
        if candidate["member_min_balance"] > 0 or min(positive) <= 0:
            return refusal(InvalidRules)
        return None

    def expired(self, now: dt.datetime) -> list[UUID]:
        """The pending credits an expiry sweep at ``now`` must void."""
        return [i for i, t in self.transfers.items()
                if t["state"] == "pending" and now >= t["expires_at"]]

    # -- applying what the bank accepted -----------------------------------------------

    def move(self, debit: UUID, credit: UUID, minutes: int, *, pending: bool) -> None:
        """Debit and credit (or reserve) ``minutes``."""
        (self.pending_out if pending else self.balance)[debit] += minutes if pending else -minutes
        (self.pending_in if pending else self.balance)[credit] += minutes

    def earn(self, member: UUID, day: str, minutes: int) -> None:
        """Count (or uncount) minutes toward a volunteer's day."""
        if minutes:
            self.earned[(member, day)] = self.earned.get((member, day), 0) + minutes

    def apply_record(self, r: TransferRequest, now: dt.datetime) -> None:
        """A recorded transfer."""
        self.move(r.debit_account_id, r.credit_account_id, r.minutes, pending=r.pending)
        earning = r.minutes if r.kind == TransferKind.SERVICE_CREDIT else 0
        self.earn(r.credit_account_id, r.service_date, earning)
        expires = now + dt.timedelta(minutes=self.rules["pending_expiry_minutes"])
        self.transfers[r.transfer_id] = {
            "kind": r.kind, "debit": r.debit_account_id, "credit": r.credit_account_id,
            "minutes": r.minutes, "day": r.service_date, "earning": earning,
            "state": "pending" if r.pending else "posted", "reversed_by": None,
            "void_reason": None,
            "expires_at": expires if r.pending else None}
        self.requests.append(r)

    def apply_confirm(self, transfer_id: UUID) -> None:
        """A confirmation (a no-op on a posted credit)."""
        t = self.transfers[transfer_id]
        if t["state"] == "pending":
            self.pending_out[t["debit"]] -= t["minutes"]
            self.pending_in[t["credit"]] -= t["minutes"]
            self.move(t["debit"], t["credit"], t["minutes"], pending=False)
            t["state"] = "posted"

    def apply_void(self, transfer_id: UUID, reason: str) -> None:
        """A void or an expiry (a no-op on a voided credit)."""
        t = self.transfers[transfer_id]
        if t["state"] == "pending":
            self.pending_out[t["debit"]] -= t["minutes"]
            self.pending_in[t["credit"]] -= t["minutes"]
            self.earn(t["credit"], t["day"], -t["earning"])
            t["state"], t["void_reason"] = "voided", reason

    def apply_reversal(self, original_id: UUID, reversal_id: UUID) -> None:
        """A reversal (a no-op when already reversed)."""
        t = self.transfers[original_id]
        if t["reversed_by"] is not None:
            return
        self.move(t["credit"], t["debit"], t["minutes"], pending=False)
        self.earn(t["credit"], t["day"], -t["earning"])
        self.transfers[reversal_id] = {**t, "kind": "reversal", "debit": t["credit"],
                                       "credit": t["debit"], "earning": -t["earning"]}
        t["reversed_by"] = reversal_id

    def apply_rules(self, changes: dict[str, int]) -> None:
        """A new rules version; the widest limits ever in force widen with it."""
        self.rules = {**self.rules, **changes, "version": self.rules["version"] + 1}
        self.loosest = {n: (min if n == "member_min_balance" else max)(v, self.rules[n])
                        for n, v in self.loosest.items()}

    # -- comparing with the bank ----------------------------------------------------------

    def check_account(self, account: Account) -> None:
        """The live account equals the oracle and is within the widest limits ever set."""
        a = account.id
        assert (account.balance, account.pending_in, account.pending_out, account.erased) == (
            self.balance[a], self.pending_in[a], self.pending_out[a], a in self.erased)
        assert {d: m for d, m in account.earned.items() if m} == {
            d: m for (who, d), m in self.earned.items() if who == a and m}
        if account.kind is AccountKind.ORGANISATION:
            assert account.budget == self.budget[a]
            assert account.balance - account.pending_out >= -account.budget
        if account.kind is AccountKind.POOL:
            assert account.balance - account.pending_out >= 0
        if account.kind is AccountKind.MEMBER:
            assert account.balance - account.pending_out >= self.loosest["member_min_balance"]
            assert account.balance + account.pending_in <= self.loosest["member_max_balance"]
            assert max(account.earned.values(), default=0) <= self.loosest["daily_earning_cap"]

    def check_transfer(self, transfer: Transfer) -> None:
        """The live transfer equals the oracle."""
        t = self.transfers[transfer.id]
        assert (transfer.kind, transfer.state, transfer.minutes, transfer.reversed_by,
                transfer.debit_account_id, transfer.credit_account_id, transfer.earning,
                transfer.void_reason) == (
            t["kind"], t["state"], t["minutes"], t["reversed_by"], t["debit"], t["credit"],
            t["earning"], t["void_reason"])


class LedgerLaws(RuleBasedStateMachine):
    """Commands through the application, checked against the oracle after each step."""

    backend = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp() if self.backend == "sqlite" else None
        self.url = f"sqlite:///{self.tmp}/ledger.sqlite" if self.tmp else "memory://"
        self.key = os.urandom(32)
        self.now = START
        self.bank = SnapshottingTimeBank(Database.parse(self.url), self.key,
                                         clock=lambda: self.now)
        self.model = LedgerModel.set_up(self.bank)

    # -- running a command and checking what it wrote ------------------------------

    def run(self, call: Callable[[], Any], expected: Refusal | None, events: int) -> Any:
        """Call; a refusal must match ``expected`` and write nothing, a success
        must write exactly ``events`` events. Returns the result, or the refusal."""
        before = self.bank.recorder.max_notification_id() or 0
        versions = self.account_versions()
        try:
            result = call()
        except LedgerError as error:
            assert expected is not None, f"refused unexpectedly: {error!r}"
            assert (type(error), error.rule) == expected, f"{error!r} != {expected}"
            assert self.written_since(before) == 0, "a refused command wrote events"
            assert self.account_versions() == versions
            return error
        assert expected is None, f"accepted, but the oracle expected {expected}"
        assert self.written_since(before) == events
        return result

    def written_since(self, position: int) -> int:
        """How many events the log holds after ``position``."""
        return len(self.bank.recorder.select_notifications(position + 1, 1000))

    def account_versions(self) -> dict[UUID, int]:
        """Every account's version."""
        return {a: self.bank.account(a).version for a in self.model.kinds}

    def check_moved(self, debit: UUID, credit: UUID, earn_day: str | None) -> None:
        """The accounts a movement touched are within the limits in force now."""
        taken, given = self.bank.account(debit), self.bank.account(credit)
        assert taken.available is None or taken.available >= 0
        cap = given.limits["max_balance"]
        assert cap is None or given.balance + given.pending_in <= cap
        if earn_day is not None:
            earned = self.bank.repository.get(credit).earned[earn_day]
            assert earned <= given.limits["daily_earning_cap"]

    # -- commands ----------------------------------------------------------------

    @initialize(credits=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 180),
                                           st.integers(0, 9), st.sampled_from(DAYS)),
                                 min_size=2, max_size=8))
    def credit_some_volunteers(self, credits: list[tuple[int, int, int, str]]) -> None:
        """Start from a ledger with some posted and pending credits from issuance."""
        for member, minutes, pending, day in credits:
            self.record({"kind": TransferKind.SERVICE_CREDIT, "sides": (0, member),
                         "wild": False, "minutes": minutes, "pending": pending, "day": day})

    @rule(move=moves([TransferKind.SERVICE_CREDIT]))
    def record_service_credit(self, move: dict[str, Any]) -> None:
        """A service credit from an organisation or issuance to a member."""
        self.record(move)

    @rule(move=moves([TransferKind.REDEMPTION, TransferKind.GIFT, TransferKind.DONATION]))
    def record_exchange(self, move: dict[str, Any]) -> None:
        """A redemption, gift or donation between accounts of allowed kinds."""
        self.record(move)

    @rule(move=moves(FORWARD, wild=True))
    def record_between_any_accounts(self, move: dict[str, Any]) -> None:
        """Any kind between any two accounts: mostly wrong kinds, sometimes fine."""
        self.record(move)

    def record(self, move: dict[str, Any]) -> None:
        """Record a transfer (pending 60% of service credits, 10% of others)."""
        kind = move["kind"]
        debit_kinds, credit_kinds = (None, None) if move["wild"] else ALLOWED_SIDES[kind]
        debit = self.model.pick(move["sides"][0], debit_kinds)
        credit = self.model.pick(move["sides"][1], credit_kinds)
        pending = move["pending"] < (6 if kind is TransferKind.SERVICE_CREDIT else 1)
        request = TransferRequest(
            transfer_id=uuid4(), kind=kind.value, debit_account_id=debit,
            credit_account_id=credit, minutes=move["minutes"], category="care",
            service_date=move["day"], pending=pending, actor="staff:test",
            on_behalf_of=None, channel="api")
        expected = self.model.refusal_for_record(request)
        view = self.run(lambda: self.bank.record(request), expected, events=3)
        if expected is None:
            assert view.created and view.id == request.transfer_id
            self.model.apply_record(request, self.now)
            earns = kind is TransferKind.SERVICE_CREDIT
            self.check_moved(debit, credit, move["day"] if earns else None)

    @precondition(lambda self: self.model.requests)
    @rule(pick=st.integers(0, 10**6), rotated_actor=st.booleans())
    def retry_same_request(self, pick: int, rotated_actor: bool) -> None:
        """A retry (perhaps by another actor: not part of the payload) lands once."""
        request = self.model.requests[pick % len(self.model.requests)]
        retry = dataclasses.replace(request, actor="staff:rotated") if rotated_actor else request
        view = self.run(lambda: self.bank.record(retry), None, events=0)
        assert not view.created and view.id == request.transfer_id
        assert view.actor == request.actor
        assert view.state == self.model.transfers[request.transfer_id]["state"]

    @precondition(lambda self: self.model.requests)
    @rule(pick=st.integers(0, 10**6), change=st.sampled_from(sorted(CHANGES)))
    def retry_with_changed_payload(self, pick: int, change: str) -> None:
        """Reusing an id with a different payload is refused, naming the field."""
        request = self.model.requests[pick % len(self.model.requests)]
        value = CHANGES[change]
        if change == "minutes":
            value = request.minutes + 1
        elif change == "pending":
            value = not request.pending
        changed = dataclasses.replace(request, **{change: value})
        expected = (IdempotencyConflict, IdempotencyConflict.rule)
        error = self.run(lambda: self.bank.record(changed), expected, events=0)
        assert error.field == change

    @precondition(lambda self: self.model.transfers)
    @rule(pick=st.integers(0, 10**6), prefer_pending=st.booleans())
    def confirm(self, pick: int, prefer_pending: bool) -> None:
        """Post a credit (mostly a pending one; a retry on a posted one is a no-op)."""
        transfer_id = self.model.transfer_at(pick, "pending" if prefer_pending else None)
        expected, events = self.model.refusal_for_confirm(transfer_id, self.now)
        view = self.run(lambda: self.bank.confirm(transfer_id, actor="staff:test",
                                                  channel="api"), expected, events)
        if expected is None:
            self.model.apply_confirm(transfer_id)
            assert view.state == "posted"

    @precondition(lambda self: self.model.transfers)
    @rule(pick=st.integers(0, 10**6), prefer_pending=st.booleans())
    def void(self, pick: int, prefer_pending: bool) -> None:
        """Void a credit (mostly a pending one; a retry on a voided one is a no-op)."""
        transfer_id = self.model.transfer_at(pick, "pending" if prefer_pending else None)
        expected, events = self.model.refusal_for_void(transfer_id)
        view = self.run(lambda: self.bank.void(transfer_id, actor="staff:test"), expected,
                        events)
        if expected is None:
            self.model.apply_void(transfer_id, "voided")
            assert view.state == "voided"

    @precondition(lambda self: self.model.transfers)
    @rule(pick=st.integers(0, 10**6))
    def reverse(self, pick: int) -> None:
        """Reverse any transfer: only a posted original, once; a retry returns it."""
        original = self.model.transfer_at(pick)
        expected, events = self.model.refusal_for_reversal(original)
        view = self.run(lambda: self.bank.reverse(original, actor="admin:test",
                                                  channel="api"), expected, events)
        if expected is None:
            self.model.apply_reversal(original, view.id)
            t = self.model.transfers[original]
            self.check_moved(t["credit"], t["debit"], None)
            assert view.reverses == original and view.created == (events > 0)

    @rule(advance=st.integers(1, 90))
    def advance_clock(self, advance: int) -> None:
        """Let time pass, so pending credits may expire before anyone sweeps."""
        self.now += dt.timedelta(minutes=advance)

    @rule()
    def sweep_expired(self) -> None:
        """Given every transfer as a candidate, the sweep voids exactly the pending
        credits past their expiry (the read models' index is tested on its own)."""
        due = self.model.expired(self.now)
        candidates = list(self.model.transfers)
        voided = self.run(lambda: self.bank.expire_pending(candidates), None,
                          events=3 * len(due))
        assert sorted(voided) == sorted(due)
        for transfer_id in due:
            self.model.apply_void(transfer_id, "expired")

    @rule(pick=st.integers(0, 1), budget=mostly(st.integers(0, 900), [-10, True]))
    def set_budget(self, pick: int, budget: Any) -> None:
        """Change an organisation's budget (never below what it already issued)."""
        org = self.model.organisations[pick]
        expected = self.model.refusal_for_budget(org, budget)
        self.run(lambda: self.bank.set_budget(org, budget), expected, events=1)
        if expected is None:
            self.model.budget[org] = budget

    @rule(changes=RULE_CHANGES)
    def change_rules(self, changes: dict[str, Any]) -> None:
        """Adopt a new rules version, or refuse an invalid one whole."""
        expected = self.model.refusal_for_rules(changes)
        summary = self.run(lambda: self.bank.change_rules(self.model.community, changes),
                           expected, events=1)
        if expected is None:
            self.model.apply_rules(changes)
            assert summary["rules"] == self.model.rules

    @precondition(lambda self: len(self.model.transfers) > 1)
    @rule(pick=st.integers(0, 3))
    def erase_member(self, pick: int) -> None:
        """Erase one member (again, once one is: a repeat writes nothing)."""
        member = min(self.model.erased) if self.model.erased else self.model.members[pick]
        events = 0 if member in self.model.erased else 1
        self.run(lambda: self.bank.erase_member(member), None, events)
        self.model.erased.add(member)

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def balances_sum_to_zero_and_reservations_balance(self) -> None:
        """Double entry: posted balances sum to zero, reservations in equal out."""
        views = [self.bank.account(a) for a in self.model.kinds]
        assert sum(v.balance for v in views) == 0
        assert sum(v.pending_in for v in views) == sum(v.pending_out for v in views)

    @invariant()
    def live_state_equals_the_oracle_and_no_limit_is_crossed(self) -> None:
        """Every account and transfer as the oracle says, within the limits."""
        for account_id in self.model.kinds:
            self.model.check_account(self.bank.repository.get(account_id))
        for transfer_id in self.model.transfers:
            self.model.check_transfer(self.bank.repository.get(transfer_id))

    @invariant()
    def replaying_the_whole_log_rebuilds_the_live_state(self) -> None:
        """Folding every event of the log from zero gives the live aggregates, and
        so does loading an account from its latest snapshot (cache bypassed)."""
        rebuilt: dict[UUID, Any] = {}
        position = 0
        while batch := self.bank.recorder.select_notifications(position + 1, 500):
            for notification in batch:
                event = self.bank.mapper.to_domain_event(notification)
                rebuilt[event.originator_id] = event.mutate(rebuilt.get(event.originator_id))
            position = batch[-1].id
        for aggregate_id in [*self.model.kinds, *self.model.transfers]:
            live = self.bank.repository.get(aggregate_id)
            assert state_of(rebuilt[aggregate_id]) == state_of(live)
            if aggregate_id in self.model.kinds:
                from_snapshot = self.bank.repository.get(aggregate_id, version=live.version)
                assert state_of(from_snapshot) == state_of(live)

    def teardown(self) -> None:
        """Close the application; on SQLite first compare a fresh one on the file."""
        try:
            if self.tmp:
                self.check_a_fresh_application_on_the_same_file()
        finally:
            self.bank.close()
            if self.tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def check_a_fresh_application_on_the_same_file(self) -> None:
        """A new application (empty cache) on the same file sees the same ledger."""
        fresh = TimeBank(Database.parse(self.url), self.key, clock=lambda: self.now)
        try:
            for account_id in self.model.kinds:
                assert fresh.account(account_id) == self.bank.account(account_id)
            for transfer_id in self.model.transfers:
                assert fresh.transfer(transfer_id) == self.bank.transfer(transfer_id)
        finally:
            fresh.close()


def state_of(aggregate: Account | Transfer) -> dict[str, Any]:
    """Everything an aggregate holds, with types (a str is not its enum member),
    for comparing a replay or a snapshot with the live copy."""
    return {k: (type(v), v) for k, v in vars(aggregate).items() if k != "_pending_events"}


class SnapshottingTimeBank(TimeBank):
    """The application, snapshotting accounts every few events so that loading
    from a snapshot is exercised as often as replaying."""

    snapshotting_intervals = {Account: 3}


class SQLiteLedgerLaws(LedgerLaws):
    """The same laws on a SQLite file."""

    backend = "sqlite"


COMMON = {"deadline": None, "database": None,
          "phases": [p for p in Phase if p is not Phase.explain],
          "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much]}
TestLedgerLawsInMemory = LedgerLaws.TestCase
TestLedgerLawsInMemory.settings = settings(max_examples=60, stateful_step_count=50, **COMMON)
TestLedgerLawsOnSQLite = SQLiteLedgerLaws.TestCase
TestLedgerLawsOnSQLite.settings = settings(max_examples=15, stateful_step_count=30, **COMMON)
