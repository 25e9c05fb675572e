"""Prometheus metrics: what the workers count, and what the database knows at scrape time.

Two kinds of figure, kept apart on purpose:

- **Counted by the processes** (``prometheus_client``): request latency by
  method, route template and status, and successful writes by command. Under
  ``civic-ledger serve`` several gunicorn workers each count their own share,
  so the server hands them one directory (``PROMETHEUS_MULTIPROC_DIR``) and the
  library's multiprocess mode keeps every worker's values in its own file
  there; a scrape, answered by any worker, sums the files of all of them (and
  of workers that have exited: counters never go down).
- **Read from the database when scraped**: projection lag and failures, and the
  size of the verifiable log. They belong to the ledger, not to a process, so
  they are never stored in a worker (which would report stale or per-worker
  values) but computed by whichever worker answers, like ``/healthz``.

Nothing here is personal: labels are route templates (never raw paths), HTTP
methods, statuses, command names and projection names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""What ``generate_latest`` writes: the text exposition format 0.0.4 (every name here is
a classic one, so no escaping applies), whatever newer format the library calls latest."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNMATCHED = "unmatched"  # the route label of a request no route answers
LedgerFigures = Callable[[], tuple[Mapping[str, Mapping[str, Any]], int]]
"""Returns (``ReadModels.lag()``, number of log leaves): read at each scrape."""


class Metrics:
    """One application's metrics; ``directory``: the multiprocess directory, if any."""

    def __init__(self, directory: str | None = None) -> None:
        self.directory = directory
        if directory is not None:
            _use_multiprocess_values(directory)
        # registry=None: registered nowhere global; each scrape gathers them (below).
        self.requests = Histogram(
            "civic_ledger_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status.",
            ("method", "route", "status"), registry=None)
        self.writes = Counter(
            "civic_ledger_writes",
            "Ledger commands answered with success (2xx), by command (blueprint.view); "
            "an idempotent replay counts too.", ("kind",), registry=None)
        self._series: dict[tuple[Any, ...], Any] = {}  # (metric, *labels) -> child

    def observe(self, method: str, route: str | None, status: int, seconds: float,
                endpoint: str | None) -> None:
        """Count one answered request and, when it was a successful write, the command
        (``endpoint``: the view that answered, None when no route matched)."""
        label = method if method in METHODS else "other"  # the client names the method
        self._child(self.requests, label, route or UNMATCHED, str(status)).observe(seconds)
        if method in WRITE_METHODS and 200 <= status < 300 and endpoint:
            self._child(self.writes, endpoint).inc()

    def _child(self, metric: Any, *labels: str) -> Any:
        """The series of ``metric`` for ``labels`` (the library's lookup takes a lock
        and checks every label each time). Labels are route templates, statuses
        and view names, never what a client sends, so the map stays small."""
        key = (metric, *labels)
        try:
            return self._series[key]
        except KeyError:
            return self._series.setdefault(key, metric.labels(*labels))

    def exposition(self, figures: LedgerFigures) -> bytes:
        """The text exposition (format 0.0.4) of every metric, the ledger's read now."""
        counted: Iterable[Any] = ((MultiProcessCollector(None, path=self.directory),)
                                  if self.directory is not None
                                  else (self.requests, self.writes))
        return generate_latest(_Scrape([*counted, _LedgerCollector(figures)]))


def _use_multiprocess_values(directory: str) -> None:
    """Store metric values in per-process files under ``directory``.

    ``prometheus_client`` picks its value class once, when it is first imported,
    from ``PROMETHEUS_MULTIPROC_DIR``. The server's master imports it (building
    the tables with ``create_app``) before it creates the directory, and the
    workers inherit that choice through ``fork``; so a worker makes the same
    choice again here, as the library would have, before creating any metric.
    """
    if os.environ.get(MULTIPROC_ENV) != directory or not os.path.isdir(directory):
        raise ValueError(f"metrics directory {directory!r} must exist and be "
                         f"${MULTIPROC_ENV} (the files are named from the variable)")
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()


class _Scrape:
    """A registry for one scrape: whatever its sources collect, in order."""

    def __init__(self, sources: list[Any]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self._sources:
            yield from source.collect()


class _LedgerCollector:
    """Gauges read from the database when scraped (never stored in a process)."""

    def __init__(self, figures: LedgerFigures) -> None:
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        lag, leaves = self._figures()
        behind = GaugeMetricFamily(
            "civic_ledger_projection_lag_events",
            "Events in the log that the read model has not folded yet.", labels=["projection"])
        stopped = GaugeMetricFamily(
            "civic_ledger_projection_failed",
            "1 when the read model stopped on a failing event (see /healthz), else 0.",
            labels=["projection"])
        for name, position in sorted(lag.items()):
            behind.add_metric([name], int(position["lag"]))
            stopped.add_metric([name], 1 if "failed_at" in position else 0)
        yield behind
        yield stopped
        yield GaugeMetricFamily("civic_ledger_log_leaves",
                                "Leaves in the verifiable log (one per stored event).",
                                value=leaves)
