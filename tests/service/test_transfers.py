"""The ledger application on every backend: commands, refusals, idempotency."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.errors import (
    DailyCapExceeded,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidTransition,
    NotFound,
    RecordTooLong,
    StorageCapExceeded,
    WrongAccountKind,
)
from domain.accounts import AccountKind
from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.audit import verify_live


def request(kind: str, debit: UUID, credit: UUID, minutes: int, *, pending: bool = False,
            service_date: str = "2026-11-20", transfer_id: UUID | None = None,
            actor: str = "staff:test") -> TransferRequest:
    """A transfer request with sensible defaults."""
    return TransferRequest(transfer_id=transfer_id or uuid4(), kind=kind,
                           debit_account_id=debit, credit_account_id=credit, minutes=minutes,
                           category="elderly-companionship", service_date=service_date,
                           pending=pending, actor=actor, on_behalf_of=None, channel="api")


@pytest.fixture
def town(bank: TimeBank) -> dict[str, UUID]:
    """A community with an organisation (budget 10h) and two members."""
    community = bank.register_community("Elm Street", rules={"member_max_balance": 1200})
    org = bank.open_organisation(community["id"], "Care NGO", budget=600)
    ada = bank.open_member(community["id"], profile={"display_name": "Ada"})
    bo = bank.open_member(community["id"])
    return {"community": community["id"], "org": org.id, "ada": ada.id, "bo": bo.id,
            "issuance": community["issuance_account"], "pool": community["pool_account"]}


def balances(bank: TimeBank, town: dict[str, UUID]) -> dict[str, int]:
    """Posted balance of every account in the town."""
    return {k: bank.account(v).balance for k, v in town.items() if k != "community"}


def test_service_credit_moves_minutes_and_balances_sum_to_zero(bank, town):
    bank.record(request("service_credit", town["org"], town["ada"], 90))
    result = balances(bank, town)
    assert result["ada"] == 90 and result["org"] == -90
    assert sum(result.values()) == 0


def test_retry_with_same_id_and_payload_returns_original_once(bank, town):
    req = request("service_credit", town["org"], town["ada"], 60)
    first = bank.record(req)
    again = bank.record(req)
    assert first.created and not again.created
    assert again.id == first.id and again.recorded_at == first.recorded_at
    assert bank.account(town["ada"]).balance == 60


def test_same_id_with_different_payload_is_refused_and_writes_nothing(bank, town):
    req = request("service_credit", town["org"], town["ada"], 60)
    bank.record(req)
    changed = request("service_credit", town["org"], town["ada"], 61,
                      transfer_id=req.transfer_id)
    with pytest.raises(IdempotencyConflict) as caught:
        bank.record(changed)
    assert caught.value.field == "minutes"
    assert bank.account(town["ada"]).balance == 60


def test_organisation_cannot_issue_beyond_its_budget(bank, town):
    bank.record(request("service_credit", town["org"], town["ada"], 400))
    with pytest.raises(InsufficientBalance):
        bank.record(request("service_credit", town["org"], town["bo"], 201))
    assert bank.account(town["org"]).balance == -400


def test_refused_redemption_changes_nothing(bank, town):
    before = {k: bank.account(v).version for k, v in town.items() if k != "community"}
    with pytest.raises(InsufficientBalance):
        bank.record(request("redemption", town["ada"], town["org"], 1))
    after = {k: bank.account(v).version for k, v in town.items() if k != "community"}
    assert before == after


def test_member_storage_cap_and_daily_cap_and_record_length_hold(bank, town):
    issuance = town["issuance"]
    for day in ("2026-11-01", "2026-11-02"):
        bank.record(request("service_credit", issuance, town["ada"], 480, service_date=day))
    with pytest.raises(StorageCapExceeded):
        bank.record(request("service_credit", issuance, town["ada"], 241,
                            service_date="2026-11-03"))
    with pytest.raises(RecordTooLong):
        bank.record(request("service_credit", issuance, town["bo"], 481))
    bank.record(request("service_credit", issuance, town["bo"], 480))
    with pytest.raises(DailyCapExceeded):
        bank.record(request("service_credit", issuance, town["bo"], 241))


def test_pending_credit_reserves_then_posts(bank, town):
    pending = bank.record(request("service_credit", town["org"], town["ada"], 120,
                                  pending=True))
    assert pending.state == "pending"
    org, ada = bank.account(town["org"]), bank.account(town["ada"])
    assert (org.balance, org.pending_out, ada.balance, ada.pending_in) == (0, 120, 0, 120)
    posted = bank.confirm(pending.id, actor="staff:test", channel="api")
    assert posted.state == "posted"
    ada = bank.account(town["ada"])
    assert (ada.balance, ada.pending_in) == (120, 0)
    assert bank.confirm(pending.id, actor="staff:test", channel="api").state == "posted"


def test_voided_pending_credit_releases_budget_and_cannot_be_confirmed(bank, town):
    pending = bank.record(request("service_credit", town["org"], town["ada"], 450,
                                  pending=True))
    with pytest.raises(InsufficientBalance):
        bank.record(request("service_credit", town["org"], town["bo"], 151))
    bank.void(pending.id, actor="staff:test")
    org = bank.account(town["org"])
    assert (org.balance, org.pending_out, org.available) == (0, 0, 600)
    with pytest.raises(InvalidTransition):
        bank.confirm(pending.id, actor="staff:test", channel="api")
    history = bank.history(town["ada"])
    assert history[0].event == "PendingReleased" and history[0].minutes == 450


def test_expired_pending_credits_are_voided_by_the_sweep(bank, town):
    import datetime as dt
    pending = bank.record(request("service_credit", town["org"], town["ada"], 30,
                                  pending=True))
    later = pending.expires_at + dt.timedelta(seconds=1)
    bank.clock = lambda: later
    from projections.queries import ReadModels
    assert ReadModels(bank).expire_pending() == [pending.id]
    assert bank.transfer(pending.id).void_reason == "expired"
    assert bank.account(town["ada"]).pending_in == 0


def test_reversal_undoes_a_transfer_once_and_links_to_it(bank, town):
    credit = bank.record(request("service_credit", town["org"], town["ada"], 90))
    reversal = bank.reverse(credit.id, actor="admin:test", channel="api")
    assert reversal.reverses == credit.id and reversal.kind == "reversal"
    assert bank.transfer(credit.id).reversed_by == reversal.id
    assert bank.reverse(credit.id, actor="admin:test", channel="api").id == reversal.id
    assert balances(bank, town)["ada"] == 0 and balances(bank, town)["org"] == 0
    with pytest.raises(InvalidTransition):
        bank.reverse(reversal.id, actor="admin:test", channel="api")
    # The day's earning came back off the volunteer: they can earn it again.
    bank.record(request("service_credit", town["org"], town["ada"], 480))


def test_gift_donation_and_pool_grant(bank, town):
    bank.record(request("service_credit", town["issuance"], town["ada"], 300))
    bank.record(request("gift", town["ada"], town["bo"], 100))
    bank.record(request("donation", town["ada"], town["pool"], 50))
    bank.record(request("gift", town["pool"], town["bo"], 20))
    with pytest.raises(WrongAccountKind):
        bank.record(request("gift", town["ada"], town["org"], 10))
    result = balances(bank, town)
    assert (result["ada"], result["bo"], result["pool"]) == (150, 120, 30)
    assert sum(result.values()) == 0


def test_erased_member_keeps_balance_and_history_but_not_personal_data(bank, town):
    bank.record(request("service_credit", town["org"], town["ada"], 45))
    assert bank.member(town["ada"]).profile == {"display_name": "Ada"}
    erased = bank.erase_member(town["ada"])
    assert erased.erased and erased.profile is None and erased.account.balance == 45
    assert [e.event for e in bank.history(town["ada"])][:2] == ["Erased", "Credited"]


def test_unknown_account_is_not_found(bank, town):
    with pytest.raises(NotFound) as caught:
        bank.record(request("service_credit", town["org"], uuid4(), 10))
    assert caught.value.field == "volunteer"


def test_history_pages_newest_first_by_version_cursor(bank, town):
    for minutes in (10, 20, 30):
        bank.record(request("service_credit", town["org"], town["ada"], minutes))
    first = bank.history(town["ada"], limit=2)
    rest = bank.history(town["ada"], before=first[-1].version, limit=10)
    assert [e.minutes for e in first] == [30, 20]
    assert [e.minutes for e in rest][0] == 10


def test_every_write_reports_the_log_leaves_it_appended(bank, town):
    size = bank.audit_log.size()
    credit = bank.record(request("service_credit", town["org"], town["ada"], 15))
    assert credit.log_indexes == (size, size + 1, size + 2)
    assert bank.record(request("service_credit", town["org"], town["ada"], 15,
                               transfer_id=credit.id)).log_indexes == ()
    member = bank.open_member(town["community"])
    assert member.log_indexes == (size + 3,)
    assert bank.audit_log.size() == size + 4


def test_the_process_environment_cannot_switch_off_the_log(monkeypatch, database_url,
                                                           master_key):
    monkeypatch.setenv("POSTGRES_ENABLE_DB_FUNCTIONS", "y")
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.popo")
    from ledger.storage import Database
    bank = TimeBank(Database.parse(database_url), master_key)
    try:
        expected = {"memory": "LoggedPOPORecorder", "sqlite": "LoggedSQLiteRecorder",
                    "postgres": "LoggedPostgresRecorder"}[bank.database.backend]
        assert type(bank.recorder).__name__ == expected
        bank.register_community("Elm")
        assert bank.audit_log.size() == 3
    finally:
        bank.close()


def test_an_account_loaded_from_a_snapshot_keeps_its_kind_and_limits(bank, town,
                                                                     database_url,
                                                                     master_key):
    bank.set_budget(town["org"], 155)
    for day in range(1, 106):  # past the snapshot interval of 100 events
        bank.record(request("service_credit", town["org"], town["bo"], 1,
                            service_date=f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}"))
    if database_url == "memory://":
        return  # nothing survives a new application in memory
    from ledger.storage import Database
    fresh = TimeBank(Database.parse(database_url), master_key)
    try:
        org = fresh.repository.get(town["org"])
        assert org.version > 100 and fresh.snapshots is not None
        assert fresh.snapshots.get(town["org"], desc=True, limit=1)
        assert org.kind is AccountKind.ORGANISATION
        assert fresh.account(town["org"]).available == 50
        with pytest.raises(InsufficientBalance):
            fresh.record(request("service_credit", town["org"], town["ada"], 51))
        fresh.record(request("service_credit", town["org"], town["ada"], 10))
    finally:
        fresh.close()


def test_rules_changed_by_another_process_apply_to_the_next_credit(two_processes):
    first, second = two_processes
    community = first.register_community("Elm")
    org = first.open_organisation(community["id"], "Care", budget=600)
    ada = first.open_member(community["id"])
    first.record(request("service_credit", org.id, ada.id, 90))  # rules now in first's cache
    second.change_rules(community["id"], {"max_minutes_per_record": 60})
    with pytest.raises(RecordTooLong):
        first.record(request("service_credit", org.id, ada.id, 90))
    assert first.account(ada.id).balance == 90  # the refused attempt left nothing
    first.record(request("service_credit", org.id, ada.id, 60))
    assert second.account(ada.id).balance == 150
    assert verify_live(second.audit_log) == []  # every stored event has its leaf


def test_an_account_written_by_another_process_is_not_overwritten(two_processes):
    first, second = two_processes
    community = first.register_community("Elm")
    org = first.open_organisation(community["id"], "Care", budget=600)
    ada = first.open_member(community["id"])
    first.record(request("service_credit", org.id, ada.id, 90))  # both accounts cached
    second.record(request("service_credit", org.id, ada.id, 45))
    first.record(request("service_credit", org.id, ada.id, 30, service_date="2026-11-21"))
    assert {first.account(ada.id).balance, second.account(ada.id).balance} == {165}
    assert second.account(org.id).balance == -165
    with pytest.raises(InsufficientBalance):  # the budget sees all three credits
        first.record(request("service_credit", org.id, ada.id, 436,
                             service_date="2026-11-22"))


def test_concurrent_twins_and_hot_accounts_land_once_each(durable_database_url, master_key):
    """Threads of one process share commits (group commit on SQLite): a twin that
    conflicts inside a shared transaction fails alone and finds its original; the
    others in that transaction are stored, each with its own leaves."""
    import threading
    from ledger.storage import Database
    bank = TimeBank(Database.parse(durable_database_url), master_key)
    try:
        community = bank.register_community("Elm")
        org = bank.open_organisation(community["id"], "Care", budget=10_000)
        members = [bank.open_member(community["id"]).id for _ in range(4)]
        requests = [request("service_credit", org.id, members[k % 4], 15 + k,
                            service_date=f"2026-11-{1 + k // 4:02d}") for k in range(32)]
        results: list[object] = []
        start = threading.Barrier(8)

        def post(mine: list[TransferRequest]) -> None:
            start.wait()
            for req in mine:
                results.append(bank.record(req))

        # every request is sent twice, by two different threads
        threads = [threading.Thread(target=post, args=(requests[k::4],)) for k in range(4)]
        threads += [threading.Thread(target=post, args=(requests[k::4][::-1],))
                    for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 64
        created = [r for r in results if r.created]
        assert sorted(r.id for r in created) == sorted(r.transfer_id for r in requests)
        assert bank.account(org.id).balance == -sum(r.minutes for r in requests)
        leaves = [i for r in created for i in r.log_indexes]
        assert len(leaves) == len(set(leaves)) == 3 * len(requests)
        assert verify_live(bank.audit_log) == []
    finally:
        bank.close()


def test_a_limit_is_judged_on_the_store_not_on_a_copy_another_process_moved_past(
        two_processes):
    first, second = two_processes
    community = first.register_community("Elm")
    org = first.open_organisation(community["id"], "Care", budget=100)
    ada = first.open_member(community["id"])
    first.record(request("service_credit", org.id, ada.id, 90))  # first holds the org
    second.set_budget(org.id, 1000)  # raised by another process
    first.record(request("service_credit", org.id, ada.id, 60,
                         service_date="2026-11-21"))  # refused on the stale copy before
    assert second.account(org.id).balance == -150
    first.record(request("service_credit", org.id, ada.id, 450, service_date="2026-11-22"))
    with pytest.raises(InsufficientBalance):  # a real refusal still stands: 1,050 > 1,000
        first.record(request("service_credit", org.id, ada.id, 450,
                             service_date="2026-11-23"))
    assert second.account(org.id).balance == -600
