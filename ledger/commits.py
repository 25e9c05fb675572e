"""How event inserts reach a durable commit on SQLite.

SQLite takes one writer at a time, and each commit costs an fsync. Three
things keep that cost low without weakening it:

* :class:`WriterConnection`: this process's event writers share one
  connection of their own, outside the library's pool. Its page cache stays
  warm (a connection's own writes never invalidate it) and a write skips the
  pool's bookkeeping.
* :class:`GroupCommit`: the inserts of concurrent threads share one
  transaction and one durable commit.
* :class:`WriterLock`: the event writers of every process queue on an OS file
  lock instead of SQLite's sleeping busy handler.

An insert is acknowledged only after the commit that holds it, as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (IntegrityError, OperationalError, PersistenceError,
                                      StoredEvent)

ReadVersions = Sequence[tuple[UUID, int]]  # (aggregate id, version) a save read
_forks = [0]  # how many forks made this process: what a process opened before is not its own
os.register_at_fork(after_in_child=lambda: _forks.__setitem__(0, _forks[0] + 1))
InsertOne = Callable[[Any, Sequence[StoredEvent], ReadVersions], tuple[Sequence[int], list[int]]]
Transaction = Callable[[], contextlib.AbstractContextManager[Any]]


class WriterConnection:
    """The event writers' own connection to one SQLite file, in autocommit
    mode with explicit ``BEGIN``/``COMMIT`` (as the library's are), opened in
    the process that uses it (one inherited across a fork is never used).

    Only one thread uses it at a time (the leader of a :class:`GroupCommit`).
    Driver errors leave as the library's (:class:`IntegrityError`,
    :class:`OperationalError`), which the application retries.

    ``interlock`` is the lock the library's pool holds around each of its
    write transactions: a write here holds it too, so within one process at
    most one connection writes at a time. Without it two connections of one
    process can deadlock: a thread waiting for SQLite's write lock holds its
    connection's mutex, and a garbage collection in the thread holding the
    write lock may free a cursor of that connection, which needs the mutex."""

    def __init__(self, database_file: str, timeout: float, interlock: Any) -> None:
        self._path = database_file
        self._timeout = timeout
        self._interlock = interlock
        self._connection: sqlite3.Connection | None = None
        self._forks = -1
        self._cursor: sqlite3.Cursor | None = None

    def _open(self) -> sqlite3.Connection:
        if self._connection is None or self._forks != _forks[0]:
            connection = sqlite3.connect(self._path, isolation_level=None,
                                         check_same_thread=False, timeout=self._timeout)
            connection.row_factory = sqlite3.Row
            self._connection, self._forks = connection, _forks[0]
        return self._connection

    def transaction(self) -> WriterConnection:
        """One committed transaction, rolled back if anything in it raises
        (``with writer.transaction() as cursor``; a class, not a generator, for
        a write's sake of a few microseconds)."""
        return self

    def __enter__(self) -> sqlite3.Cursor:
        if not self._interlock.acquire(timeout=self._timeout):
            raise OperationalError("timed out waiting for this process's other writer")
        try:
            self._cursor = self._open().cursor()
            self._cursor.execute("BEGIN")
        except sqlite3.Error as error:
            self._interlock.release()
            raise _translated(error) from error
        except BaseException:
            self._interlock.release()
            raise
        return self._cursor

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: Any) -> None:
        connection, cursor = self._connection, self._cursor
        assert connection is not None and cursor is not None
        try:
            if error is None:
                try:
                    cursor.execute("COMMIT")
                    return
                except sqlite3.Error as failure:
                    error = failure
            if connection.in_transaction:
                connection.rollback()
            if isinstance(error, sqlite3.Error):
                raise _translated(error) from error
            # anything else raised by the body goes on as it is
        finally:
            cursor.close()  # never freed later, by a collection in another thread
            self._cursor = None
            self._interlock.release()

    def close(self) -> None:
        """Close the connection (a later write opens a new one)."""
        if self._connection is not None and self._forks == _forks[0]:
            self._connection.close()
        self._connection = None


def _translated(error: sqlite3.Error) -> Exception:
    """The library's error for a driver's: a conflict or a busy database is
    retried by the application; anything else is the library's base error."""
    if isinstance(error, sqlite3.IntegrityError):
        return IntegrityError(error)
    if isinstance(error, sqlite3.OperationalError):
        return OperationalError(error)
    return PersistenceError(error)


@dataclass
class _Insert:
    """One thread's insert waiting for, or done by, a group commit."""

    stored_events: Sequence[StoredEvent]
    reads: ReadVersions
    result: tuple[Sequence[int], list[int]] | None = None
    error: BaseException | None = None
    done: bool = False


class GroupCommit:
    """Group commit: the inserts of concurrent threads share one transaction.

    A thread that finds the writer free leads: it takes every insert waiting
    (its own among them) and runs them in one transaction, each inside a
    savepoint, then commits once. An insert that fails (a version conflict)
    is rolled back to its savepoint and only its thread gets the error; if
    the transaction as a whole fails, every insert in it gets that error and
    none is stored. Each thread returns only after the commit that holds its
    insert, so an acknowledged write is durable, as before; a thread alone
    commits alone, as before."""

    def __init__(self, transaction: Transaction, insert_one: InsertOne,
                 lock: WriterLock | None = None) -> None:
        self._transaction = transaction
        self._insert_one = insert_one
        self._lock = lock or contextlib.nullcontext()
        self._ready = threading.Condition()
        self._waiting: list[_Insert] = []
        self._leading = False

    def submit(self, stored_events: Sequence[StoredEvent],
               reads: ReadVersions) -> tuple[Sequence[int], list[int]]:
        """Insert, in this thread's turn or in another's; returns (ids, leaf indexes)."""
        mine = _Insert(stored_events, reads)
        with self._ready:
            self._waiting.append(mine)
            while not mine.done and self._leading:
                self._ready.wait()
            if not mine.done:
                self._leading = True
                batch, self._waiting = self._waiting, []
        if not mine.done:
            try:
                self._run(batch)
            finally:
                with self._ready:
                    self._leading = False
                    self._ready.notify_all()
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None
        return mine.result

    def _run(self, batch: list[_Insert]) -> None:
        alone = len(batch) == 1
        try:
            with self._lock, self._transaction() as cursor:
                for item in batch:
                    if alone:
                        item.result = self._insert_one(cursor, item.stored_events, item.reads)
                        continue
                    cursor.execute("SAVEPOINT civic_insert")
                    try:
                        item.result = self._insert_one(cursor, item.stored_events, item.reads)
                    except (sqlite3.IntegrityError, IntegrityError) as error:
                        cursor.execute("ROLLBACK TO civic_insert")
                        item.error = error if isinstance(error, IntegrityError) \
                            else IntegrityError(error)
                    cursor.execute("RELEASE civic_insert")
        except BaseException as error:  # nothing of this batch was committed
            for item in batch:
                if item.error is None:
                    item.result, item.error = None, error
        finally:
            for item in batch:
                item.done = True


class WriterLock:
    """The event writers of every process on one SQLite file queue on an OS
    file lock (``flock`` on ``<database>-writers.lock``) around their
    transaction.

    SQLite admits one writer at a time and makes the others wait by polling
    with sleeps of a millisecond and more, far longer than a write takes; a
    process waiting on ``flock`` is woken by the kernel the moment the lock is
    released. Each process opens its own descriptor (one inherited across a
    fork would be the same lock for parent and child). Other writers (read
    models, tokens) still wait the SQLite way; correctness never depends on
    this lock, only latency does."""

    def __init__(self, database_file: str) -> None:
        self._path = f"{database_file}-writers.lock"
        self._fd: int | None = None
        self._forks = -1

    def __enter__(self) -> None:
        if self._fd is None or self._forks != _forks[0]:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._forks = _forks[0]
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
