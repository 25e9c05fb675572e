"""Running the folds over the log: catch up, follow, rebuild, report lag.

One batch is read from the event store, folded into a unit of work and
written with every projection's new position in one transaction. The
positions row is locked first (an UPDATE), so concurrent catch-ups — API
processes reading their own writes, a worker following the log — take turns
and a batch is never applied twice. A projection whose fold raises is marked
failed at that event and stops (its rows stay as of its last good position);
the others go on. A stale view beats a wrong one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import Notification
from orjson import loads as _loads

from ledger.application import TimeBank
from ledger.storage import serialise_ddl
from projections.folds import PROJECTIONS, Projection, Seen
from projections.store import SqlViews, UnitOfWork, WarmRows

BATCH = 1000
RACED = -1  # a batch found the positions moved under it and wrote nothing
# A rebuild folds in larger batches: fewer durable commits (each one waits for
# the disk), at the price of holding one batch's rows in memory (tens of MB).
REBUILD_BATCH = 20000
# Few rows, touched by almost every event: worth keeping between batches.
WARM_TABLES = frozenset({"rm_communities", "rm_accounts", "rm_flows"})


@dataclass(frozen=True)
class Position:
    """How far one projection has folded the log."""

    name: str
    position: int  # last notification id folded
    count: int  # events folded (= log index of the next one)
    failed_at: int | None
    error: str | None


class Projector:
    """Folds the application's events into the read-model tables."""

    def __init__(self, bank: TimeBank, views: SqlViews,
                 projections: tuple[Projection, ...] = PROJECTIONS) -> None:
        self.bank = bank
        self.views = views
        self.projections = {p.name: p for p in projections}
        self.tables = {t.name: t for p in projections for t in p.tables}
        self.warm = WarmRows(WARM_TABLES & set(self.tables))

    def create_tables(self) -> None:
        """Create the read-model tables and position rows if missing."""
        self.views.create(list(self.tables.values()))
        with self.views.transaction(commit=True) as cur:
            serialise_ddl(cur, "postgres" if self.views.postgres else "sqlite")
            for name in self.projections:
                cur.execute(self.views.sql(
                    "INSERT INTO {p}projection_positions (name, position, failed_at, error) "
                    "VALUES (?, 0, NULL, NULL) ON CONFLICT (name) DO NOTHING"), (name,))
            cur.execute(self.views.sql(
                "CREATE TABLE IF NOT EXISTS {p}projection_counts (name TEXT PRIMARY KEY, "
                "events BIGINT NOT NULL)"))

    def positions(self) -> dict[str, Position]:
        """Every projection's position."""
        rows = self.views.query(
            "SELECT p.name, p.position, p.failed_at, p.error, c.events "
            "FROM {p}projection_positions p LEFT JOIN {p}projection_counts c "
            "ON c.name = p.name")
        return {r["name"]: Position(r["name"], int(r["position"]), int(r["events"] or 0),
                                    r["failed_at"], r["error"])
                for r in rows if r["name"] in self.projections}

    def head_sql(self) -> str | None:
        """A scalar subquery for the log's head (None with in-memory events)."""
        if self.bank.database.backend == "memory":
            return None
        table = self.bank.recorder.events_table_name  # type: ignore[attr-defined]
        if self.views.postgres:
            return f'SELECT MAX(notification_id) FROM {self.views.prefix}"{table}"'
        return f"SELECT MAX(rowid) FROM {table}"

    def status(self) -> tuple[int, dict[str, Position]]:
        """The log's head and every position, in one read where the events are SQL."""
        head = self.head_sql()
        if head is None:
            return self.log_position(), self.positions()
        rows = self.views.query(
            f"SELECT p.name, p.position, p.failed_at, p.error, c.events, ({head}) AS head "
            "FROM {p}projection_positions p LEFT JOIN {p}projection_counts c "
            "ON c.name = p.name")
        positions = {r["name"]: Position(r["name"], int(r["position"]), int(r["events"] or 0),
                                         r["failed_at"], r["error"])
                     for r in rows if r["name"] in self.projections}
        return (int(rows[0]["head"] or 0) if rows else self.log_position()), positions

    def log_position(self) -> int:
        """The notification id of the newest stored event (0 when empty)."""
        return self.bank.recorder.max_notification_id() or 0

    def caught_up(self, target: int) -> bool:
        """True when every working projection has folded up to ``target``."""
        return all(p.position >= target for p in self.positions().values()
                   if p.failed_at is None)

    def catch_up(self, target: int | None = None, batch: int = BATCH) -> int:
        """Fold new events (up to ``target``); returns how many were folded.

        A failing projection is marked failed and left behind; the others go on."""
        folded = 0
        while True:
            try:
                done = self._one_batch(target, batch)
            except FoldFailed as failure:
                self.mark_failed(failure.projection, failure.position, failure.error)
                continue
            if done == RACED:
                continue
            folded += done
            if done == 0:
                return folded

    def rebuild(self, batch: int = REBUILD_BATCH) -> int:
        """Empty every read model and fold the whole log again; returns events folded."""
        with self.views.transaction(commit=True) as cur:
            cur.execute(self.views.sql("UPDATE {p}projection_positions SET name = name"))
            for table in self.tables:
                cur.execute(self.views.sql(f"DELETE FROM {{p}}{table}"))
            cur.execute(self.views.sql("UPDATE {p}projection_positions SET position = 0, "
                                       "failed_at = NULL, error = NULL"))
            cur.execute(self.views.sql("DELETE FROM {p}projection_counts"))
        self.warm.forget()
        self.warm.complete = True  # every row from here on is made by this process
        self.warm.positions = {name: 0 for name in self.projections}
        return self.catch_up(batch=batch)

    def lag(self) -> dict[str, dict[str, Any]]:
        """Events behind the log, per projection, and any failure."""
        head = self.log_position()
        report = {}
        for name, p in self.positions().items():
            entry: dict[str, Any] = {"lag": self._events_between(p.position, head),
                                     "position": p.position}
            if p.failed_at is not None:
                entry.update(failed_at=p.failed_at, error=p.error)
            report[name] = entry
        return report

    def _events_between(self, after: int, head: int) -> int:
        """How many stored events have a position in (after, head]: counted by
        the database (positions may have gaps), never by reading them."""
        if head <= after:
            return 0
        if self.bank.database.backend == "memory":
            return len(self.bank.recorder.select_notifications(after + 1, head - after,
                                                               stop=head))
        table = self.bank.recorder.events_table_name  # type: ignore[attr-defined]
        if self.views.postgres:
            count = (f'SELECT COUNT(*) AS n FROM {self.views.prefix}"{table}" '
                     "WHERE notification_id > ? AND notification_id <= ?")
        else:
            count = f"SELECT COUNT(*) AS n FROM {table} WHERE rowid > ? AND rowid <= ?"
        return int(self.views.query(count, (after, head))[0]["n"])

    def _one_batch(self, target: int | None, size: int) -> int:
        # The events are read before the write transaction opens: reading them
        # inside it would need a second connection from a pool whose writer
        # slot this transaction holds, which can deadlock against an
        # in-process writer queued for that slot.
        positions = {k: v for k, v in self.positions().items() if v.failed_at is None}
        if not positions:
            return 0
        behind = min(positions.values(), key=lambda p: p.position)
        if target is not None and behind.position >= target:
            return 0
        notes = self._read(behind.position + 1, size, target)
        if not notes:
            return 0
        with self.views.transaction(commit=True) as cur:
            cur.execute(self.views.sql("UPDATE {p}projection_positions SET name = name"))
            locked = {k: v for k, v in self._locked_positions(cur).items()
                      if v.failed_at is None}
            if locked != positions:
                return RACED  # another process folded first: read again
            if self.warm.positions != {n: p.position for n, p in positions.items()}:
                self.warm.forget()
            unit = UnitOfWork(self.views, cur, self.tables, self.warm)
            self.warm.positions = None  # until this batch commits
            self._fold(notes, positions, unit, behind.count)
            self._advance(cur, positions, notes, behind.count)
            unit.flush()
        self.warm.positions = {name: notes[-1].id for name in positions}
        return len(notes)

    def _read(self, start: int, size: int, stop: int | None) -> list[Any]:
        """Up to ``size`` stored events from notification id ``start`` (to ``stop``).

        On SQLite the rows are read as they are stored, ids as text (the folds
        want text; the recorder would build a UUID from each, to be turned
        back into text here); elsewhere through the recorder."""
        rows = None
        if self.bank.database.backend == "sqlite":
            table = self.bank.recorder.events_table_name  # type: ignore[attr-defined]
            rows = self.views.reads.tuples(
                f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
                "WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT ?",
                (start, _MAX_ID if stop is None else stop, size))
        if rows is None:
            return list(self.bank.recorder.select_notifications(start, size, stop=stop))
        return [_Stored(*row) for row in rows]

    def _fold(self, notes: list[Notification], positions: dict[str, Position],
              unit: UnitOfWork, first_index: int) -> None:
        mapper = self.bank.mapper
        fast = mapper.cipher is None and mapper.compressor is None
        # One lookup per event: which projections fold this event name, and
        # from which position on (each projection skips what it already has).
        dispatch: dict[str, list[tuple[str, int, Any]]] = {}
        for name, position in positions.items():
            for event_name, handler in self.projections[name].handlers.items():
                dispatch.setdefault(event_name, []).append(
                    (name, position.position, handler))
        for offset, note in enumerate(notes):
            seen = (_seen_fast(note, first_index + offset) if fast else None) or _seen(
                mapper.to_domain_event(_notification(note)), note, first_index + offset)
            for name, done, handler in dispatch.get(seen.name, ()):
                if note.id <= done:
                    continue
                try:
                    handler(seen, unit)
                except Exception as error:  # a fold bug: stop this projection, say where
                    raise FoldFailed(name, note.id, f"{type(error).__name__}: {error}") \
                        from error

    def _advance(self, cur: Any, positions: dict[str, Position], notes: list[Notification],
                 first_index: int) -> None:
        last = notes[-1].id
        count = first_index + len(notes)
        for name in positions:
            cur.execute(self.views.sql(
                "UPDATE {p}projection_positions SET position = ? WHERE name = ?"), (last, name))
        for name in positions:
            cur.execute(self.views.sql(
                "INSERT INTO {p}projection_counts (name, events) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET events = excluded.events"), (name, count))

    def _locked_positions(self, cur: Any) -> dict[str, Position]:
        cur.execute(self.views.sql(
            "SELECT p.name, p.position, p.failed_at, p.error, c.events "
            "FROM {p}projection_positions p LEFT JOIN {p}projection_counts c "
            "ON c.name = p.name"))
        return {r["name"]: Position(r["name"], int(r["position"]), int(r["events"] or 0),
                                    r["failed_at"], r["error"])
                for r in map(dict, cur.fetchall()) if r["name"] in self.projections}

    def mark_failed(self, name: str, position: int, error: str) -> None:
        """Stop a projection at the event that broke it."""
        with self.views.transaction(commit=True) as cur:
            cur.execute(self.views.sql(
                "UPDATE {p}projection_positions SET failed_at = ?, error = ? WHERE name = ?"),
                (position, error[:500], name))

    def follow(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        """Keep folding until ``stop`` is set.

        On PostgreSQL a subscription to the events table (LISTEN/NOTIFY) wakes
        the worker as soon as a write commits; elsewhere it polls."""
        if self.bank.database.backend != "postgres":
            while not stop.is_set():
                self.catch_up()
                stop.wait(poll_seconds)
            return
        self.catch_up()
        start = min((p.position for p in self.positions().values()), default=0)
        with self.bank.recorder.subscribe(gt=start) as subscription:
            def stop_when_asked() -> None:
                stop.wait()
                subscription.stop()
            stopper = threading.Thread(target=stop_when_asked, daemon=True)
            stopper.start()
            for _ in subscription:  # each new event wakes us; one catch-up drains them
                self.catch_up()
                if stop.is_set():
                    break


class FoldFailed(Exception):
    """A fold raised: the projection, the event's position and the error."""

    def __init__(self, projection: str, position: int, error: str) -> None:
        super().__init__(f"projection {projection} failed at event {position}: {error}")
        self.projection, self.position, self.error = projection, position, error


_MAX_ID = 2 ** 63 - 1


class _Stored(NamedTuple):
    """A stored event as read for folding: the originator id as stored (hex)."""

    id: int
    hex_id: str
    originator_version: int
    topic: str
    state: bytes

    @property
    def originator_id(self) -> str:
        """The canonical text of the id (what ``str(uuid)`` gives)."""
        h = self.hex_id
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _notification(note: Any) -> Notification:
    """The library's notification, for the mapper (events that need upcasting)."""
    if isinstance(note, Notification):
        return note
    return Notification(id=note.id, originator_id=UUID(hex=note.hex_id),
                        originator_version=note.originator_version, topic=note.topic,
                        state=note.state)


def _seen(event: Any, note: Notification, log_index: int) -> Seen:
    names = type(event).__qualname__
    fields = {k: v for k, v in event.__dict__.items()
              if k not in ("originator_id", "originator_version", "timestamp")}
    return Seen(name=names, originator_id=str(event.originator_id),
                version=event.originator_version, at=event.timestamp.isoformat(),
                fields=fields, position=note.id, log_index=log_index)


def _seen_fast(note: Notification, log_index: int) -> Seen | None:
    """Decode a stored event straight from its JSON, as the folds want it.

    The folds only ever turn ids and times into text, so this skips building
    UUID and datetime objects (the mapper's transcoding costs more than all the
    folds together). Ids become their canonical text, times their ISO text —
    the same text ``str()`` and ``isoformat()`` give. Events that need
    upcasting (``class_version``) go through the mapper instead (None)."""
    state = _loads(note.state)
    if "class_version" in state:
        return None
    stamp = state.pop("timestamp")
    for key, value in state.items():  # replacing values while iterating is safe
        if type(value) is dict:
            if value.get("_type_") == "uuid_hex":  # most nested values are ids
                h = value["_data_"]
                state[key] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            else:
                state[key] = _plain(value)
        elif type(value) is list:
            state[key] = _plain(value)
    topic = note.topic
    name = _EVENT_NAMES.get(topic)
    if name is None:
        name = _EVENT_NAMES.setdefault(topic, topic.split(":", 1)[1])
    return Seen(name=name, originator_id=str(note.originator_id),
                version=note.originator_version, at=stamp["_data_"], fields=state,
                position=note.id, log_index=log_index)


_EVENT_NAMES: dict[str, str] = {}  # topic -> "Class.Event", a few dozen at most
_NESTED = (dict, list)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        kind = value.get("_type_")
        if kind == "uuid_hex":
            h = value["_data_"]
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        if kind is not None and "_data_" in value:
            return _plain(value["_data_"])  # datetime_iso, decimal_str: their text
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
