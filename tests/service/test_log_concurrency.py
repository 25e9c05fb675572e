"""The log read while another worker writes, on every backend.

Signing: two server workers sign checkpoints of the same log. A worker that
read the log's size, and then found a checkpoint another worker had signed
*since* at a larger size, took that for a log that had shrunk: it refused with
``log_integrity`` (a 503 to a reader), though nothing was wrong. The crash test
met it under load.

Verifying: ``civic-ledger verify --database`` read the leaves, then the event
rows; a write committed in between showed as events "inserted" without leaves.

Each interleaving is made here on purpose, not left to chance.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.audit import verify_live
from ledger.checkpoints import generate_signer_key, parse_checkpoint, parse_signer_key
from ledger.storage import Database
from ledger.transparency import LogSource, TransparencyLog


class OtherWorkerMeanwhile:
    """A log source on which ``meanwhile`` runs right after the first read of the
    log's size or of its latest checkpoint (then never again)."""

    def __init__(self, source: LogSource, meanwhile: Callable[[], None]) -> None:
        self._source, self._meanwhile = source, meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def _first(self, read: Any) -> Any:
        meanwhile, self._meanwhile = self._meanwhile, lambda: None
        meanwhile()
        return read

    def state(self) -> tuple[int, list[bytes]]:
        return self._first(self._source.state())  # type: ignore[no-any-return]

    def latest_checkpoint(self) -> tuple[int, bytes, str] | None:
        return self._first(self._source.latest_checkpoint())  # type: ignore[no-any-return]


def credit(bank: TimeBank, town: dict[str, UUID]) -> None:
    """One service credit (three leaves)."""
    bank.record(TransferRequest(
        transfer_id=uuid4(), kind="service_credit", debit_account_id=town["org"],
        credit_account_id=town["ada"], minutes=5, category="errands",
        service_date="2026-11-20", pending=False, actor="staff:test", on_behalf_of=None,
        channel="api"))


def test_a_checkpoint_signed_meanwhile_by_another_worker_is_no_integrity_failure(
        database_url: str, master_key: bytes) -> None:
    skey, _ = generate_signer_key("civic-ledger.test/log")
    bank = TimeBank(Database.parse(database_url), master_key,
                    log_signer=parse_signer_key(skey))
    try:
        community = bank.register_community("Elm Street")
        org = bank.open_organisation(community["id"], "Care NGO", budget=600)
        ada = bank.open_member(community["id"])
        town = {"org": org.id, "ada": ada.id}
        credit(bank, town)
        bank.audit_log.checkpoint()

        def other_worker() -> None:
            credit(bank, town)
            bank.audit_log.checkpoint()

        log = TransparencyLog(OtherWorkerMeanwhile(bank.audit_log.source, other_worker),
                              parse_signer_key(skey))
        note = log.checkpoint()  # refused with LogIntegrityError before the fix
        assert parse_checkpoint(note).size == bank.audit_log.size()
        assert bank.audit_log.checkpoint() == note  # the same tree, the same note
    finally:
        bank.close()


def test_verifying_a_live_database_sees_one_moment_not_the_writes_made_meanwhile(
        database_url: str, master_key: bytes) -> None:
    skey, _ = generate_signer_key("civic-ledger.test/log")
    bank = TimeBank(Database.parse(database_url), master_key,
                    log_signer=parse_signer_key(skey))
    try:
        community = bank.register_community("Elm Street")
        org = bank.open_organisation(community["id"], "Care NGO", budget=600)
        ada = bank.open_member(community["id"])
        town = {"org": org.id, "ada": ada.id}
        credit(bank, town)
        bank.audit_log.checkpoint()
        before = bank.audit_log.size()
        writer = threading.Thread(target=lambda: [credit(bank, town) for _ in range(3)])
        source = bank.audit_log.source
        reads = source.event_records

        def events_after_a_write(after: int, limit: int) -> Any:
            if not writer.is_alive() and writer.ident is None:
                writer.start()  # another worker commits between our reads...
                writer.join(timeout=2)  # ...(in memory it waits for our snapshot)
            return reads(after, limit)

        source.event_records = events_after_a_write  # type: ignore[method-assign]
        try:
            findings = verify_live(bank.audit_log)
        finally:
            del source.event_records
        writer.join()
        assert [str(f) for f in findings] == []
        assert bank.audit_log.size() == before + 9  # the writes happened, after the snapshot
        assert verify_live(bank.audit_log) == []
    finally:
        bank.close()
