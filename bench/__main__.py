"""``python -m bench [GROUP] [--n N] [--seconds S] [--quick] [--runs R] [--backend B] [--profile]``.

One command runs the suite and prints one table: every figure of issue 7, each
with the physical reference it is read against (measured in the same run, on
the same machine) on the line under it, its target, and whether the target is
met. Each measurement runs in a fresh child process (``spawn``), so its peak
RSS is its own and no cache or connection survives from one measurement into
the next; each is repeated ``--runs`` times (default 3) and the best run is
reported, because the machines we share run other people's tests at the same
time. The runs are interleaved (every measurement once, then again) so a noisy
minute hurts all of them alike.

Groups (default: all but ``partners``): ``credits`` (single credits through the
application, with and without the log), ``bulk`` (a partner's atomic batches
through the application), ``http`` (single credits and bulk batches through
``civic-ledger serve``, gunicorn, 2 workers x 4 threads, for ``--seconds``),
``readmodels`` (balance reads through HTTP, projection rebuild), ``audit``
(proofs at ``--leaves`` leaves, bundle verification), ``partners`` (bulk and
single signed postings, through the application and the Flask test client).

SQLite files go to a fresh temporary directory (``TMPDIR`` chooses where; it
must be a real disk, not tmpfs, for durable commits to mean anything).
PostgreSQL is measured when a server answers at ``CIVIC_LEDGER_BENCH_PG``
(default ``host=127.0.0.1 port=5432 user=postgres dbname=postgres``), in a
throw-away database ``civic_ledger_bench_<pid>`` dropped at the end; HTTP,
read models and audit are measured on SQLite only.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from bench import Measurement, in_child
from bench.machine import (DEFAULT_PG_DSN, fresh_schema, ledger_url, machine_facts,
                           postgres_version, throwaway_database)
from bench.suite import DEFAULT, GROUPS, Context, Figure, figures, job


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", nargs="?", choices=list(GROUPS),
                        help="run only this group (default: all but partners)")
    parser.add_argument("--n", type=int, help="operations per timed loop (default 2000)")
    parser.add_argument("--seconds", type=float, help="seconds per HTTP load (default 10)")
    parser.add_argument("--leaves", type=int, help="log size for the audit figures "
                        "(default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: N=200, "
                        "3 s loads, 100,000 leaves and one run unless given")
    parser.add_argument("--runs", type=int, help="runs per measurement, best reported "
                        "(default 3)")
    parser.add_argument("--backend", choices=["all", "sqlite", "postgres"], default="all")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the application path instead (N default 500)")
    args = parser.parse_args(argv)
    quick = args.quick
    if args.n is None:
        args.n = 500 if args.profile else 200 if quick else 2000
    args.runs = args.runs or (1 if quick else 3)
    args.seconds = args.seconds or (3.0 if quick else 10.0)
    args.leaves = args.leaves or (100_000 if quick else 1_000_000)
    if args.n < 1 or args.runs < 1 or args.seconds <= 0 or args.leaves < 2:
        parser.error("--n and --runs must be at least 1, --seconds positive, "
                     "--leaves at least 2")
    args.fill = 1000 if quick else 10_000  # credits behind the read-model figures
    args.point_reads = 5000 if quick else 20_000
    args.pg_dsn = os.environ.get("CIVIC_LEDGER_BENCH_PG", DEFAULT_PG_DSN)
    return args


# -- running ------------------------------------------------------------------------

def measure(ctx: Context, chosen: list[Figure]) -> dict[str, list[Measurement]]:
    """Every job the chosen figures and their references need, ``--runs`` times,
    interleaved: job name -> its runs."""
    keys = list(dict.fromkeys(k for f in chosen for k in (f.job, f.reference) if k))
    runs: dict[str, list[Measurement]] = {k: [] for k in keys}
    for run in range(ctx.args.runs):
        for key in keys:
            started = time.perf_counter()
            measured = in_child(job(ctx, key, run))
            runs[key].append(measured)
            print(f"  run {run + 1}/{ctx.args.runs}: {key}: {measured.per_second:,.0f}/s "
                  f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    return runs


# -- printing -----------------------------------------------------------------------

HEADER = (f"{'backend':<8} {'measurement':<38} {'ops':>9} {'best':>11} {'unit':<10} "
          f"{'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7} {'RSS MiB':>7} {'x ref':>6}  "
          f"{'target':<24} {'met':<4} all runs")


def line(backend: str, label: str, runs: list[Measurement], unit: str, ratio: str = "",
         target: str = "", met: str = "") -> str:
    """One measurement's best run, and every run's rate."""
    best = max(runs, key=lambda m: m.per_second)
    every = ", ".join(f"{m.per_second:,.0f}" for m in runs)
    p50, p99 = ((f"{best.p50_ms:.3f}", f"{best.p99_ms:.3f}") if best.p50_ms else ("-", "-"))
    return (f"{backend:<8} {label:<38} {best.operations:>9,} {best.per_second:>11,.1f} "
            f"{unit:<10} {p50:>8} {p99:>8} {best.cpu_ms_per_op:>7.3f} "
            f"{best.peak_rss_kib / 1024:>7.1f} {ratio:>6}  {target:<24} {met:<4} {every}")


def table(chosen: list[Figure], runs: dict[str, list[Measurement]]) -> list[str]:
    """Each figure's line, its reference's line under it, then the settings."""
    lines, notes = [], {}
    for figure in chosen:
        mine = runs[figure.job]
        best = max(mine, key=lambda m: m.per_second)
        ref = max(runs[figure.reference], key=lambda m: m.per_second) \
            if figure.reference else None
        ratio = f"{best.per_second / ref.per_second:.3f}" if ref and ref.per_second else ""
        target = figure.target.text if figure.target else ""
        met = ("yes" if figure.target.met(best, ref) else "NO") if figure.target else ""
        lines.append(line(figure.backend, best.label, mine, figure.unit, ratio, target, met))
        if figure.reference:
            lines.append(line("", "  ref: " + (ref.label if ref else ""),
                              runs[figure.reference], figure.ref_unit))
        for m in [best] + ([ref] if ref else []):
            failed = [m.settings.get("failed", "0") for m in mine]
            extra = ({"failed (every run)": "; ".join(failed)} if m is best
                     and "failed" in m.settings else {})
            settings = {k: v for k, v in m.settings.items() if k != "failed"} | extra
            if settings:
                notes[f"{m.backend} {m.label}"] = ", ".join(f"{k}={v}"
                                                           for k, v in settings.items())
    return lines + ["", "settings in effect:"] + [f"  {k}: {v}" for k, v in notes.items()]


LEGEND = """
best: the best run's rate (all runs: every run's); ops: operations in that run
(rows for bulk, requests for HTTP reads and credits); p50/p99: latency per
operation, per request for bulk and HTTP, '-' for single passes (rebuild, raw
reads, verify); CPU ms: CPU per operation of the process measured (for HTTP:
the gunicorn master and workers, not the clients; a database server's own CPU
is never in it); RSS MiB: peak resident set of that process (for HTTP: the
largest server process); x ref: the figure's rate over its reference's rate,
both measured in this run ('ref:' lines; 1.000 would be the raw floor)."""


def profile(args: argparse.Namespace, tmp: Path, pg_reason: str) -> str:
    """cProfile of the application path on SQLite (or PostgreSQL when asked)."""
    from bench.credits import profile_application
    if args.backend != "postgres":
        return profile_application(f"sqlite:///{tmp / 'profile.sqlite'}", args.n)
    if pg_reason:
        return f"postgres skipped: {pg_reason}"
    with throwaway_database(args.pg_dsn) as dsn:
        return profile_application(ledger_url(dsn, fresh_schema(dsn, "profile")), args.n)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite (or one group) and print the table."""
    args = parse_args(argv)
    pg_version, pg_reason = postgres_version(args.pg_dsn)
    backends = [b for b in ("sqlite", "postgres") if args.backend in ("all", b)]
    skipped = "postgres" in backends and bool(pg_reason)
    if skipped:
        backends.remove("postgres")
    groups = GROUPS[args.benchmark] if args.benchmark else DEFAULT
    chosen = [f for f in figures(backends) if f.group in groups]
    with tempfile.TemporaryDirectory(prefix="civic-ledger-bench-") as tmp:
        if args.profile:
            print(profile(args, Path(tmp), pg_reason))
            return 0
        started = time.perf_counter()
        print(f"python -m bench {' '.join(sys.argv[1:] if argv is None else argv)}".strip())
        for name, value in machine_facts(Path(tmp), pg_version or f"none ({pg_reason})"):
            print(f"  {name + ':':<24}{value}")
        print(f"\nN={args.n} operations per timed loop, {args.seconds:g} s per HTTP load, "
              f"{args.leaves:,} leaves, best of {args.runs} run(s), each measurement in a "
              "fresh process", flush=True)
        pg = throwaway_database(args.pg_dsn) if "postgres" in backends else nullcontext()
        with pg as dsn:
            runs = measure(Context(args, Path(tmp), dsn), chosen)
        print("\n" + HEADER)
        for text in table(chosen, runs):
            print(text)
        if skipped:
            print(f"postgres skipped: {pg_reason}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(LEGEND + f"\n\nload average at end: {load}; "
          f"wall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
