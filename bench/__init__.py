"""Benchmarks: one command each, printing figures (``python -m bench``).

Benchmarks are not tests. Nothing here is collected by pytest (``setup.cfg``
keeps ``testpaths = tests``) and nothing here asserts a speed: a benchmark
prints what it measured and the machine it measured on, and
``docs/BENCHMARKS.md`` records the figures with the exact command.

Every measurement returns one :class:`Measurement`, a small picklable value,
so the runner can take each one in a fresh child process (peak RSS then
belongs to that measurement alone) and print them side by side.
"""

from __future__ import annotations

import cProfile
import io
import math
import multiprocessing
import pstats
import resource
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Measurement:
    """One timed loop of ``operations`` calls, and where it ran."""

    label: str
    backend: str
    operations: int
    seconds: float
    cpu_seconds: float
    p50_ms: float
    p99_ms: float
    peak_rss_kib: int
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        """Operations per second over the whole timed loop."""
        return self.operations / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_op(self) -> float:
        """This process's CPU time per operation: barely moved by other processes
        competing for the CPU, unlike the wall-clock figures (a database
        server's own CPU time is not in it)."""
        return self.cpu_seconds * 1000 / self.operations if self.operations else 0.0


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def sqlite_synchronous(value: int) -> str:
    """``PRAGMA synchronous`` as SQLite documents it, e.g. ``2 (FULL)``."""
    return f"{value} ({ {0: 'OFF', 1: 'NORMAL', 2: 'FULL', 3: 'EXTRA'}.get(value, '?')})"


def peak_rss_kib() -> int:
    """This process image's high-water resident set size in KiB: ``VmHWM`` (Linux),
    which starts afresh at ``exec``; ``getrusage``'s maximum would include the
    parent's size at the fork before a spawned child's ``exec``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def timed_loop(label: str, backend: str, calls: Sequence[Callable[[], object]],
               settings: dict[str, str] | None = None) -> Measurement:
    """Run ``calls`` one after another, timing each with ``perf_counter``.

    Only the calls are timed: building them (requests, rows) happens before.
    """
    latencies = []
    cpu_started, started = time.process_time(), time.perf_counter()
    for call in calls:
        before = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - before)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    latencies.sort()
    return Measurement(label=label, backend=backend, operations=len(calls),
                       seconds=seconds, cpu_seconds=cpu_seconds,
                       p50_ms=percentile(latencies, 0.50) * 1000,
                       p99_ms=percentile(latencies, 0.99) * 1000,
                       peak_rss_kib=peak_rss_kib(), settings=dict(settings or {}))


def timed_pass(label: str, backend: str, work: Callable[[], int],
               settings: dict[str, str] | None = None) -> Measurement:
    """Time one pass of ``work``, which returns how many operations it did (no
    per-operation latency: p50 and p99 are left at 0)."""
    cpu_started, started = time.process_time(), time.perf_counter()
    operations = work()
    seconds = time.perf_counter() - started
    return Measurement(label=label, backend=backend, operations=operations,
                       seconds=seconds, cpu_seconds=time.process_time() - cpu_started,
                       p50_ms=0.0, p99_ms=0.0, peak_rss_kib=peak_rss_kib(),
                       settings=dict(settings or {}))


def profile_report(profiler: cProfile.Profile, title: str, top: int) -> str:
    """A cProfile's top costs, by own time and by total time, under ``title``."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write(title + "\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


Job = tuple[Callable[..., Any], tuple[Any, ...]]


def in_child(job: Job) -> Any:
    """Run ``func(*args)`` in a fresh spawned process (its peak RSS is its own)."""
    func, args = job
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(func, *args).result()
