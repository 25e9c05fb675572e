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
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import pytest

from ledger.application import TimeBank
from ledger.audit import verify_live
from ledger.checkpoints import generate_signer_key, parse_checkpoint, parse_signer_key
from ledger.storage import Database
from ledger.transparency import LogSource, TransparencyLog
from tests.service.test_key_rotation import credit, town_in


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


@pytest.fixture
def signed(database_url: str, master_key: bytes
           ) -> Iterator[tuple[TimeBank, dict[str, UUID], str]]:
    """A ledger with a log key, a town, one credit and a signed checkpoint;
    the signing key too."""
    skey, _ = generate_signer_key("civic-ledger.test/log")
    bank = TimeBank(Database.parse(database_url), master_key,
                    log_signer=parse_signer_key(skey))
    town = town_in(bank)
    credit(bank, town, 5)
    bank.audit_log.checkpoint()
    yield bank, town, skey
    bank.close()


def test_a_checkpoint_signed_meanwhile_by_another_worker_is_no_integrity_failure(
        signed: tuple[TimeBank, dict[str, UUID], str]) -> None:
    bank, town, skey = signed

    def other_worker() -> None:
        credit(bank, town, 5)
        bank.audit_log.checkpoint()

    log = TransparencyLog(OtherWorkerMeanwhile(bank.audit_log.source, other_worker),
                          parse_signer_key(skey))
    note = log.checkpoint()  # refused with LogIntegrityError before the fix
    assert parse_checkpoint(note).size == bank.audit_log.size()
    assert bank.audit_log.checkpoint() == note  # the same tree, the same note


def test_verifying_a_live_database_sees_one_moment_not_the_writes_made_meanwhile(
        signed: tuple[TimeBank, dict[str, UUID], str]) -> None:
    bank, town, _ = signed
    before = bank.audit_log.size()
    writer = threading.Thread(target=lambda: [credit(bank, town, 5) for _ in range(3)])
    source = bank.audit_log.source
    reads = source.event_records

    def events_after_a_write(after: int, limit: int) -> Any:
        if writer.ident is None:
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
