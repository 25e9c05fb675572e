"""The suite: every figure, the physical reference it is read against, and its target.

A *figure* names the measurement it reports, the reference measured beside it
in the same run, and the issue-7 target when there is one. Measurements are
*jobs* keyed by name (``sqlite:raw 1 row``), so a reference shared by several
figures (raw single-row SQLite inserts stand under single credits through the
application and through HTTP) is measured once per run. Jobs that need a
filled store (read models) or a built log (audit) share one preparation, made
once in a child process before the runs.

The benchmark modules are imported inside the functions that use them: a
spawned child re-imports this module, and what it imports here would count in
every measurement's peak RSS.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import Job, Measurement, in_child
from bench.machine import fresh_schema, ledger_url


@dataclass(frozen=True)
class Target:
    """An issue-7 target, and how to tell whether a figure meets it."""

    text: str
    met: Callable[[Measurement, Measurement | None], bool]


@dataclass(frozen=True)
class Figure:
    """One line of the table and the reference line under it."""

    group: str
    backend: str
    job: str
    reference: str | None
    unit: str
    ref_unit: str = ""
    target: Target | None = None


def at_least(rate: float) -> Target:
    """At least ``rate`` operations per second."""
    return Target(f">= {rate:,.0f}/s", lambda m, _: m.per_second >= rate)


HALF_OF_RAW = Target(">= 50% of ref", lambda m, r: r is not None
                     and m.per_second >= 0.5 * r.per_second)
PROOF = Target("p99 < 1 ms", lambda m, _: 0 < m.p99_ms < 1.0)
VERIFY = Target(">= 200,000/s, < 200 MiB", lambda m, _: m.per_second >= 200_000
                and m.peak_rss_kib < 200 * 1024)


def figures(backends: list[str]) -> list[Figure]:
    """Every figure on the backends given (HTTP, read models, audit: SQLite)."""
    rows: list[Figure] = []
    for b in backends:
        rows += [
            Figure("credits", b, f"{b}:credits concurrent", f"{b}:raw 1 row", "credits/s",
                   "txn/s", at_least(2000) if b == "sqlite" else None),
            Figure("credits", b, f"{b}:credits", f"{b}:raw 1 row", "credits/s", "txn/s"),
            Figure("credits", b, f"{b}:credits unlogged", f"{b}:raw 3 rows", "credits/s",
                   "txn/s"),
            Figure("bulk", b, f"{b}:partners bulk application", f"{b}:raw bulk", "rows/s",
                   "rows/s", at_least(20_000)),
            Figure("partners", b, f"{b}:partners single application", f"{b}:raw 1 row",
                   "rows/s", "txn/s"),
            Figure("partners", b, f"{b}:partners single http", f"{b}:raw 1 row", "rows/s",
                   "txn/s"),
            Figure("partners", b, f"{b}:partners bulk http", f"{b}:raw bulk", "rows/s",
                   "rows/s"),
        ]
    if "sqlite" in backends:
        rows += [
            Figure("http", "sqlite", "sqlite:http credits", "sqlite:raw 1 row", "credits/s",
                   "txn/s", at_least(1000)),
            Figure("http", "sqlite", "sqlite:http bulk", "sqlite:raw bulk", "rows/s",
                   "rows/s", at_least(20_000)),
            Figure("readmodels", "sqlite", "sqlite:http reads", "sqlite:point reads",
                   "reads/s", "reads/s", at_least(3000)),
            Figure("readmodels", "sqlite", "sqlite:rebuild", "sqlite:event reads", "events/s",
                   "events/s", HALF_OF_RAW),
            Figure("audit", "sqlite", "sqlite:inclusion", "sqlite:node reads", "proofs/s",
                   "reads/s", PROOF),
            Figure("audit", "sqlite", "sqlite:consistency", "sqlite:node reads", "proofs/s",
                   "reads/s"),
            Figure("audit", "file", "file:verify", "file:leaf hashing", "entries/s",
                   "entries/s", VERIFY),
        ]
    return rows


GROUPS = {"credits": ("credits",), "bulk": ("bulk",), "partners": ("bulk", "partners"),
          "http": ("http",), "readmodels": ("readmodels",), "audit": ("audit",)}
DEFAULT = ("credits", "bulk", "http", "readmodels", "audit")


@dataclass
class Context:
    """What every job needs: the options, the temporary folder, the throw-away
    PostgreSQL database, and the preparations made so far."""

    args: argparse.Namespace
    tmp: Path
    pg_dsn: str | None
    prepared: dict[str, Any] = field(default_factory=dict)

    def url(self, backend: str, name: str) -> str:
        """A fresh store: a new SQLite file or a new PostgreSQL schema."""
        if backend == "sqlite":
            return f"sqlite:///{self.tmp / name}.sqlite"
        assert self.pg_dsn is not None
        return ledger_url(self.pg_dsn, fresh_schema(self.pg_dsn, name.replace("-", "_")))

    def path(self, name: str) -> str:
        """A path in the temporary folder."""
        return str(self.tmp / name)

    @property
    def bulk_rows(self) -> int:
        """Rows per bulk measurement: ``--n``, but at least two full batches."""
        from bench.partners import BATCH_ROWS
        return max(int(self.args.n), 2 * BATCH_ROWS)

    def store(self) -> tuple[str, str, list[tuple[str, str]]]:
        """The read models' filled SQLite store (made once): url, keys, readers."""
        if "store" not in self.prepared:
            from bench.readmodels import fill
            url, keys = f"sqlite:///{self.tmp / 'readmodels.sqlite'}", self.tmp / "rm-keys"
            self.prepared["store"] = (url, str(keys),
                                      in_child((fill, (url, keys, self.args.fill))))
        return self.prepared["store"]  # type: ignore[no-any-return]

    def log(self) -> str:
        """The audit benchmark's SQLite log of ``--leaves`` leaves (built once)."""
        if "log" not in self.prepared:
            from bench.audit import build_log
            in_child((build_log, (self.path("log.sqlite"), self.args.leaves)))
            self.prepared["log"] = self.path("log.sqlite")
        return self.prepared["log"]  # type: ignore[no-any-return]

    def bundle(self) -> tuple[str, str]:
        """The audit benchmark's bundle of ``--leaves`` entries (written once)."""
        if "bundle" not in self.prepared:
            from bench.audit import write_bundle
            path = self.path("bench.bundle")
            self.prepared["bundle"] = (path, in_child((write_bundle, (Path(path),
                                                                      self.args.leaves))))
        return self.prepared["bundle"]  # type: ignore[no-any-return]


def job(ctx: Context, key: str, run: int) -> Job:
    """The measurement ``key`` for run ``run`` (a new store each time it writes)."""
    from bench import audit, credits, partners, readmodels, reference
    backend, name = key.split(":", 1)
    a, fresh = ctx.args, f"{name.replace(' ', '-')}-{run}"
    raw: Callable[..., Measurement] = (reference.measure_sqlite if backend == "sqlite"
                                       else reference.measure_postgres)

    def raw_args(*rest: int) -> tuple[Any, ...]:
        if backend == "sqlite":
            return (ctx.path(f"{fresh}.sqlite"), *rest)
        assert ctx.pg_dsn is not None
        return (ctx.pg_dsn, fresh_schema(ctx.pg_dsn, fresh.replace("-", "_")), *rest)

    if name in ("credits", "credits unlogged"):
        return credits.measure_application, (ctx.url(backend, fresh), a.n,
                                             name == "credits")
    if name == "credits concurrent":
        return credits.measure_concurrent, (ctx.url(backend, fresh), a.n)
    if name.startswith("partners "):
        _, mode, via = name.split()
        rows = ctx.bulk_rows if mode == "bulk" else a.n
        return partners.measure_partners, (ctx.url(backend, fresh), rows, mode, via)
    if name.startswith("raw "):
        sizes = {"raw 1 row": (a.n, 1), "raw 3 rows": (a.n, 3),
                 "raw bulk": (ctx.bulk_rows, 3, partners.BATCH_ROWS)}[name]
        return raw, raw_args(*sizes)
    if name == "http credits":
        return credits.measure_http, (ctx.url(backend, fresh), ctx.path(f"{fresh}-keys"),
                                      a.seconds)
    if name == "http bulk":
        return partners.measure_bulk_http, (ctx.url(backend, fresh),
                                            ctx.path(f"{fresh}-keys"), a.seconds)
    if name in ("http reads", "point reads", "event reads", "rebuild"):
        url, keys, readers = ctx.store()
        reads: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
            "http reads": (readmodels.measure_http_reads, (url, keys, readers, a.seconds)),
            "point reads": (readmodels.measure_point_reads,
                            (url.removeprefix("sqlite:///"), readers, a.point_reads)),
            "event reads": (readmodels.measure_raw_reads, (url, keys)),
            "rebuild": (readmodels.measure_rebuild, (url, keys))}
        return reads[name]
    if name in ("inclusion", "consistency", "node reads"):
        measure = {"inclusion": audit.measure_inclusion, "node reads": audit.measure_node_reads,
                   "consistency": audit.measure_consistency}[name]
        return measure, (ctx.log(), a.leaves)
    if name == "verify":
        return audit.measure_verify, ctx.bundle()
    if name == "leaf hashing":
        return audit.measure_leaf_hashing, (ctx.bundle()[0],)
    raise KeyError(key)
