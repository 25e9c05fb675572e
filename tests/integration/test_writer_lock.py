"""The SQLite writers' lock: processes queue on it, and a forked child does not
share its parent's hold (each process opens its own descriptor)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from ledger.log import WriterLock


def _hold(path: str, held: "multiprocessing.synchronize.Event", seconds: float) -> None:
    lock = WriterLock(path)
    with lock:
        held.set()
        time.sleep(seconds)


def test_a_second_process_waits_until_the_first_releases(tmp_path: Path) -> None:
    database = str(tmp_path / "ledger.sqlite")
    context = multiprocessing.get_context("fork")
    held = context.Event()
    holder = context.Process(target=_hold, args=(database, held, 0.4))
    holder.start()
    assert held.wait(10)
    started = time.monotonic()
    with WriterLock(database):
        waited = time.monotonic() - started
    holder.join(10)
    assert waited >= 0.2, "the lock did not exclude the other process"


def test_a_forked_child_opens_its_own_descriptor(tmp_path: Path) -> None:
    database = str(tmp_path / "ledger.sqlite")
    lock = WriterLock(database)
    with lock:  # the parent has opened its descriptor and holds the lock
        context = multiprocessing.get_context("fork")
        held = context.Event()
        child = context.Process(target=_child_tries, args=(lock, held))
        child.start()
        time.sleep(0.3)
        assert not held.is_set(), "the child got the lock its parent holds"
    child.join(10)
    assert held.is_set()


def _child_tries(lock: WriterLock, held: "multiprocessing.synchronize.Event") -> None:
    with lock:  # the same object, inherited: must not reuse the parent's descriptor
        held.set()
