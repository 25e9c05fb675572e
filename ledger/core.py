"""The ledger's core: the one place that loads and saves.

Every command loads the aggregates it touches, lets the domain decide, and
saves all of them in one atomic ``save``. Optimistic concurrency (each
aggregate version may be written once) makes a concurrent writer fail with an
integrity error; the command is then retried from a fresh load, a bounded
number of times with jittered exponential backoff. Library errors are
translated here and nowhere else.

:class:`LedgerCore` holds that machinery (the store, held copies, the commit
that extends the log, the retry loop); :class:`ledger.application.TimeBank`
adds the commands and queries on top and is the only class ever built.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import (ApplicationRecorder, IntegrityError, OperationalError,
                                      Transcoder)
from eventsourcing.utils import Environment, EnvType

from domain.accounts import Account
from domain.communities import Community
from domain.errors import DomainError, NotFound, Unavailable
from domain.rules import CommunityRules
from ledger.checkpoints import Signer
from ledger.held import Recent
from ledger.log import (LoggedPOPORecorder, LoggedSQLiteRecorder, appended, expect_unchanged,
                        reset_appended)
from ledger.log_sources import MemoryLogSource, SqlLogSource
from ledger.personal import PersonalData
from ledger.storage import Database, MemoryDatastore, Reads, SideStore
from ledger.tokens import TokenStore
from ledger.transcoder import CompactTranscoder
from ledger.transparency import LogSource, TransparencyLog

T = TypeVar("T")
A = TypeVar("A", bound=BaseAggregate)  # what the repository loads
MAX_ATTEMPTS = 12
HELD_COPIES = 20000  # accounts and communities this process keeps for its next command


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass
class _Attempt:
    """One attempt of a command: what it loaded (brought up to date by the next
    attempt if this one conflicts) and the versions of aggregates it only read
    (checked when its events are written)."""

    loaded: list[UUID] = field(default_factory=list)
    read: dict[UUID, int] = field(default_factory=dict)
    refresh: set[UUID] = field(default_factory=set)  # found stale by an earlier attempt
    used: dict[UUID, int] = field(default_factory=dict)  # versions decided on
    fresh: set[UUID] = field(default_factory=set)  # read from the store by this attempt


class LedgerCore(Application):
    """Loading, holding, saving and retrying: what every command of
    :class:`~ledger.application.TimeBank` is built from."""

    snapshotting_intervals = {Account: 100}
    env = {"AGGREGATE_CACHE_MAXSIZE": "20000"}

    def __init__(self, database: Database, master_key: bytes | None,
                 clock: Callable[[], dt.datetime] = utcnow,
                 log_signer: Signer | None = None) -> None:
        self.database = database
        super().__init__(env=database.eventsourcing_env())
        self.clock = clock
        self._local = threading.local()  # per thread: what the current command loads
        self._held: Recent[UUID, Any] = Recent(HELD_COPIES)  # see _held_copy
        self._contended: Recent[UUID, bool] = Recent(HELD_COPIES)  # see _suspect
        datastore = (MemoryDatastore() if database.backend == "memory"
                     else self.recorder.datastore)  # type: ignore[attr-defined]
        self.datastore = datastore  # side tables, the log and read models use it too
        self.reads = Reads(datastore, database)  # lone SELECTs, off the write path
        side = SideStore(datastore, database.backend, database.pg_schema, self.reads)
        self.personal = PersonalData(side, master_key)
        self.tokens = TokenStore(side)
        if database.create_tables:  # else made at deploy time (civic-ledger migrate)
            self.personal.create_tables()
            self.tokens.create_tables()
        self.audit_log = TransparencyLog(self._log_source(datastore), log_signer)

    def close(self) -> None:
        """Close the read connections, the event writers' own, then the event store's."""
        self.reads.close()
        if isinstance(self.recorder, LoggedSQLiteRecorder):
            self.recorder.close()
        super().close()

    def _log_source(self, datastore: Any) -> LogSource:
        recorder = self.recorder
        if isinstance(recorder, LoggedPOPORecorder):
            return MemoryLogSource(recorder.log_tables, recorder._stored_events,
                                   recorder._stored_events_index, recorder._database_lock)
        return SqlLogSource(datastore, self.database.backend,
                            recorder.events_table_name,  # type: ignore[attr-defined]
                            self.database.pg_schema)

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only what we pass: the process environment must not reconfigure the
        store behind our back (e.g. POSTGRES_ENABLE_DB_FUNCTIONS would bypass the
        recorder that extends the log). Settings are read once, in ledger.config."""
        values = dict(type(self).env)
        if type(self).snapshotting_intervals:
            values["IS_SNAPSHOTTING_ENABLED"] = "y"
        values.update(env or {})
        return Environment(name, values)

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON form, written faster (see ``ledger.transcoder``)."""
        transcoder = CompactTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def construct_recorder(self) -> ApplicationRecorder:
        """The SQL backends name their logged recorder by topic (see ``storage``);
        the in-memory backend is constructed here."""
        if self.database.backend == "memory":
            return LoggedPOPORecorder()
        return super().construct_recorder()

    # -- loading ----------------------------------------------------------------

    def _get(self, aggregate_id: UUID, cls: type[A], what: str, field: str) -> A:
        try:
            aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no {what} {aggregate_id}", field=field) from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"{aggregate_id} is not a {what}", field=field)
        return aggregate

    def _for_update(self, aggregate_id: UUID, cls: type[A], what: str, field: str) -> A:
        """An aggregate this command will save, from this process's own copy
        when it holds one: no read of the store.

        A stale copy (another process wrote since) cannot be saved: the
        version it would write is taken, so the save conflicts and
        :meth:`_retrying` runs the command again, which then brings the copy
        up to date with the events it missed (a read of those few events, not
        a replay). Only for aggregates the command saves: one that is only
        read is checked at the save instead (:meth:`_rules_of`)."""
        attempt = self._attempt()
        if attempt is not None:
            attempt.loaded.append(aggregate_id)
        refresh = self._suspect(aggregate_id, attempt)
        held = self._held_copy(aggregate_id, cls, refresh=refresh)
        if held is None:
            held, refresh = self._get(aggregate_id, cls, what, field), True
            self._hold(held)
        if attempt is not None:
            attempt.used[aggregate_id] = held.version
            if refresh:
                attempt.fresh.add(aggregate_id)
        return deepcopy(held)

    def _held_copy(self, aggregate_id: UUID, cls: type[A], *, refresh: bool) -> A | None:
        """The copy this process holds (``refresh``: brought up to date from
        the store first), or None. Held copies are never changed in place, so
        any thread may read one while another replaces it."""
        held = self._held.get(aggregate_id)
        if not isinstance(held, cls):
            return None
        if refresh:
            newer = list(self.events.get(aggregate_id, gt=held.version))
            if newer:
                held = project_aggregate(deepcopy(held), newer)
                self._hold(held)
        return held

    def _suspect(self, aggregate_id: UUID, attempt: _Attempt | None) -> bool:
        """Whether the held copy may be stale: an earlier attempt of this
        command conflicted on it, or it is one that other processes write too
        (it conflicted before), whose copy is then brought up to date before
        every use: one read of the events it missed instead of a wasted attempt."""
        if attempt is not None and aggregate_id in attempt.refresh:
            return True
        return aggregate_id in self._contended

    def _hold(self, aggregate: Any, *, copy: bool = True) -> None:
        """Keep a copy of ``aggregate`` as it is now (unless a newer one is held).

        ``copy=False`` keeps the object itself: only for one just saved, since
        a command never changes an aggregate after saving it."""
        held = self._held.get(aggregate.id)
        if held is None or held.version < aggregate.version:
            self._held.put(aggregate.id, deepcopy(aggregate) if copy else aggregate)

    def _attempt(self) -> _Attempt | None:
        """This thread's current attempt of a command (None outside one)."""
        attempts: list[_Attempt] = self._local.__dict__.get("attempts", [])
        return attempts[-1] if attempts else None

    def _exists(self, aggregate_id: UUID) -> bool:
        # One indexed read of the first event, not a full load (nothing we ask
        # about is ever stored only as a snapshot).
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def _rules_of(self, community_id: UUID) -> CommunityRules:
        """The rules in force.

        Inside a command the community is this process's held copy (no read),
        and the version read is checked again when the command's events are
        written (``log.expect_unchanged``): rules changed in between make the
        save conflict, and the command runs again on the new rules."""
        attempt = self._attempt()
        if attempt is None:
            return self._get(community_id, Community, "community", "community").rules
        refresh = self._suspect(community_id, attempt)
        community = self._held_copy(community_id, Community, refresh=refresh)
        if community is None:
            community, refresh = self._get(community_id, Community, "community",
                                           "community"), True
            self._hold(community)
        if refresh:
            attempt.fresh.add(community_id)
        attempt.loaded.append(community_id)
        attempt.read[community_id] = attempt.used[community_id] = community.version
        return community.rules

    def _decided_on_stale(self) -> bool:
        """Whether the current attempt decided on a held copy, not read from the
        store by this attempt, that the store has moved past.

        A refusal (a limit reached, say) is only as good as the copies it was
        decided on: one another process moved past (a budget raised, a
        reversal posted) must not refuse a command the ledger would accept.
        Copies this attempt read from the store were current when read, which
        is all any decision can have (the next attempt reads every copy the
        last one used, so a refusal is retried at most once). Asked only when
        refusing, so it costs one read per held copy then."""
        attempt = self._attempt()
        if attempt is None:
            return False
        for aggregate_id, version in attempt.used.items():
            if aggregate_id in attempt.fresh:
                continue
            latest = self.recorder.select_events(aggregate_id, desc=True, limit=1)
            if latest and latest[0].originator_version > version:
                return True
        return False

    def _refuse_unless_current(self) -> None:
        """Raise a conflict (so :meth:`_retrying` runs the command again on up to
        date copies) when the current attempt decided on a stale one."""
        if self._decided_on_stale():
            raise IntegrityError("a refusal was decided on a copy another process "
                                 "has moved past")

    def _commit(self, *aggregates: Any) -> tuple[int, ...]:
        """Save atomically; returns the log leaf indexes the events got.

        The library's ``save`` without its per-object protocol checks (they
        cost more than the domain's own work here): every object given is one
        of our aggregates. Then, for the accounts: a snapshot from the state
        in hand when one falls due (not a replay from the store); and a copy
        of each saved account and community is held, so the next command on
        it needs no read."""
        events: list[Any] = []
        for aggregate in aggregates:
            events.extend(aggregate.collect_events())
        attempt = self._attempt()
        saved = {aggregate.id for aggregate in aggregates}
        reset_appended()
        expect_unchanged((k, v) for k, v in (attempt.read.items() if attempt else ())
                         if k not in saved)  # a saved one is checked by its own version
        try:  # the store's put, without the notification objects it builds for us
            self.recorder.insert_events([self.mapper.to_stored_event(e) for e in events])
        finally:
            expect_unchanged(())
        first: dict[UUID, int] = {}  # each aggregate's first version in this save
        for event in events:
            first.setdefault(event.originator_id, event.originator_version)
        interval = self.snapshotting_intervals[Account]
        for aggregate in aggregates:
            if isinstance(aggregate, Community):
                self._hold(aggregate, copy=False)
            if not isinstance(aggregate, Account):
                continue
            since = first.get(aggregate.id, aggregate.version + 1)
            if self.snapshots is not None and \
                    aggregate.version // interval > (since - 1) // interval:
                self.snapshots.put([Account.Snapshot.take(aggregate)])
            self._hold(aggregate, copy=False)
        return appended()

    def _retrying(self, command: Callable[[], T]) -> T:
        """Run ``command`` again while a concurrent write wins.

        What a failed attempt loaded is brought up to date by the next one (it
        was stale, or about to be). The first retry is immediate (most
        conflicts are a copy another process moved past); later ones back off
        with jitter, since those mean several writers on the same accounts."""
        attempts: list[_Attempt] = self._local.__dict__.setdefault("attempts", [])
        stale: set[UUID] = set()
        for attempt in range(MAX_ATTEMPTS):
            attempts.append(_Attempt(refresh=stale))
            try:
                try:
                    return command()
                except DomainError:
                    self._refuse_unless_current()  # a refusal stands only on current copies
                    raise
            except (IntegrityError, OperationalError):
                stale = stale | set(attempts[-1].loaded)
                for aggregate_id in attempts[-1].loaded:
                    self._contended.put(aggregate_id, True)
                if attempt == MAX_ATTEMPTS - 1:
                    break
                if attempt:
                    time.sleep(random.uniform(0, min(0.2, 0.002 * 2 ** attempt)))
            finally:
                attempts.pop()
        raise Unavailable("the ledger is busy with concurrent writes; retry the same "
                          "request (it is idempotent)")
