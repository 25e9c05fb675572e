"""The log head a process keeps (so that an append reads no state) is checked
by every append: a stale one, left by another process's appends or by a
transaction that never committed, costs a retried append and never a gap or a
fork in the log."""

from __future__ import annotations

from uuid import UUID, uuid4

from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.audit import verify_live


def credit(org: UUID, member: UUID, minutes: int, day: int) -> TransferRequest:
    """A posted service credit."""
    return TransferRequest(transfer_id=uuid4(), kind="service_credit", debit_account_id=org,
                           credit_account_id=member, minutes=minutes,
                           category="elderly-companionship", service_date=f"2026-11-{day:02d}",
                           pending=False, actor="staff:test", on_behalf_of=None, channel="api")


def leaf_indexes(bank: TimeBank) -> list[int]:
    """Every leaf index the log holds, in order."""
    return [entry.index for entry in bank.audit_log.entries(0, bank.audit_log.size() + 10)]


def test_appends_alternating_between_two_processes_keep_one_whole_log(two_processes):
    first, second = two_processes
    community = first.register_community("Elm")
    org = first.open_organisation(community["id"], "Care", budget=6000)
    ada = first.open_member(community["id"])
    for day in range(1, 11):
        writer = first if day % 2 else second
        indexes = writer.record(credit(org.id, ada.id, 30, day)).log_indexes
        assert indexes == tuple(range(indexes[0], indexes[0] + 3))
    size = first.audit_log.size()
    assert leaf_indexes(second) == list(range(size))
    assert verify_live(first.audit_log) == []


def test_a_head_behind_or_beyond_the_stored_log_is_caught(two_processes):
    first, second = two_processes
    community = first.register_community("Elm")
    org = first.open_organisation(community["id"], "Care", budget=6000)
    ada = first.open_member(community["id"])
    head = first.recorder._head  # type: ignore[attr-defined]
    behind = head.known
    first.record(credit(org.id, ada.id, 30, 1))
    head.known = behind  # as if the append just made had never been seen
    first.record(credit(org.id, ada.id, 30, 2))
    size, frontier = head.known
    head.known = (size + 5, frontier)  # as if a commit we counted had been lost
    after = first.record(credit(org.id, ada.id, 30, 3)).log_indexes
    assert after == (size, size + 1, size + 2)
    assert leaf_indexes(second) == list(range(size + 3))
    assert verify_live(second.audit_log) == []


def test_a_head_at_the_stored_size_but_over_other_leaves_is_caught(two_processes):
    first, second = two_processes
    community = first.register_community("Elm")
    org = first.open_organisation(community["id"], "Care", budget=6000)
    ada = first.open_member(community["id"])
    first.record(credit(org.id, ada.id, 30, 1))
    second.record(credit(org.id, ada.id, 30, 2))
    head = first.recorder._head  # type: ignore[attr-defined]
    size, frontier = second.recorder._head.known  # type: ignore[attr-defined]
    # As if a commit of ours that was lost had made as many leaves as the
    # other process's did: the size matches the stored log, the tree does not.
    head.known = (size, [bytes(32 - len(root)) + bytes(reversed(root)) for root in frontier])
    after = first.record(credit(org.id, ada.id, 30, 3)).log_indexes
    assert after == (size, size + 1, size + 2)
    assert verify_live(second.audit_log) == []
