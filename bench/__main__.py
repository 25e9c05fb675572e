"""``python -m bench [credits] [--n N] [--quick] [--runs R] [--backend B] [--profile]``.

One command runs the suite and prints a table. Each measurement runs in a
fresh child process (``spawn``), so its peak RSS is its own and no cache or
connection survives from one measurement into the next; each is repeated
``--runs`` times (default 3) and the best run is reported, because the
machines we share run other people's tests at the same time. The runs are
interleaved (application, raw, raw, then again) so a noisy minute hurts all
of them alike.

SQLite files go to a fresh temporary directory (``TMPDIR`` chooses where; it
must be a real disk, not tmpfs, for durable commits to mean anything).
PostgreSQL is measured when a server answers at ``CIVIC_LEDGER_BENCH_PG``
(default ``host=127.0.0.1 port=5432 user=postgres dbname=postgres``), in a
throw-away database ``civic_ledger_bench_<pid>`` dropped at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench import Measurement

# The benchmark modules are imported inside the functions that use them: a
# spawned child re-imports this module, and what it imports here would count
# in every measurement's peak RSS.

DEFAULT_PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
Job = tuple[Callable[..., Measurement], tuple[Any, ...]]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", nargs="?", choices=list(BENCHMARKS),
                        help="run only this benchmark (default: the whole suite)")
    parser.add_argument("--n", type=int, help="operations per measurement (default 2000)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: N=200 and one run unless given")
    parser.add_argument("--runs", type=int, help="runs per measurement, best reported "
                        "(default 3)")
    parser.add_argument("--backend", choices=["all", "sqlite", "postgres"], default="all")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the application path instead (N default 500)")
    args = parser.parse_args(argv)
    if args.n is None:
        args.n = 500 if args.profile else 200 if args.quick else 2000
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.n < 1 or args.runs < 1:
        parser.error("--n and --runs must be at least 1")
    args.pg_dsn = os.environ.get("CIVIC_LEDGER_BENCH_PG", DEFAULT_PG_DSN)
    return args


# -- the machine ------------------------------------------------------------------

def _proc_field(path: str, name: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def filesystem_of(path: Path) -> str:
    """The filesystem type holding ``path`` (from /proc/mounts)."""
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, mount, fstype, *_ = line.split()
            if str(path.resolve()).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    except OSError:
        pass
    return f"{kind} (mounted at {best or '?'})"


def code_version() -> str:
    """The commit measured, and whether domain/ or ledger/ differ from it."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                  "domain", "ledger"], capture_output=True, text=True,
                                 check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (f" + {len(changed)} uncommitted file(s) in domain/, ledger/"
                   if changed else "")


def machine_facts(tmp: Path, pg_version: str) -> list[tuple[str, str]]:
    """What the figures were measured on."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [("cpus", f"{os.cpu_count()} (usable {len(os.sched_getaffinity(0))})"),
            ("cpu model", _proc_field("/proc/cpuinfo", "model name")),
            ("memory", _proc_field("/proc/meminfo", "MemTotal")),
            ("os", platform.platform()),
            ("python", sys.version.split()[0]),
            ("sqlite", sqlite3.sqlite_version),
            ("postgresql", pg_version),
            ("eventsourcing", metadata.version("eventsourcing")),
            ("psycopg", metadata.version("psycopg")),
            ("code", code_version()),
            ("temp dir", f"{tmp} on {filesystem_of(tmp)}"),
            ("load average at start", load)]


# -- PostgreSQL --------------------------------------------------------------------

def postgres_version(admin_dsn: str) -> tuple[str | None, str]:
    """(server version, None) when a server answers; (None, reason) otherwise."""
    try:
        with psycopg.connect(admin_dsn, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0] if row else "?"), ""
    except psycopg.Error as error:
        detail = " ".join(str(error).split())
        return None, f"no PostgreSQL server answers at {admin_dsn!r}: {detail}"


@contextmanager
def throwaway_database(admin_dsn: str) -> Iterator[str]:
    """Create ``civic_ledger_bench_<pid>``, yield its DSN, drop it at the end."""
    name = f"civic_ledger_bench_{os.getpid()}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore
    try:
        yield make_conninfo(admin_dsn, dbname=name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore


def fresh_schema(dsn: str, name: str) -> str:
    """A new, empty schema in the throw-away database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")  # type: ignore[arg-type]
    return name


def ledger_url(dsn: str, schema: str) -> str:
    """The ledger's database URL for ``schema`` in the database ``dsn`` names."""
    p = conninfo_to_dict(dsn)
    auth = quote(str(p.get("user", "postgres")))
    if p.get("password"):
        auth += ":" + quote(str(p["password"]))
    return (f"postgresql://{auth}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}"
            f"/{p['dbname']}?schema={schema}")


# -- running ------------------------------------------------------------------------

def in_child(job: Job) -> Measurement:
    """Run one measurement in a fresh spawned process."""
    func, args = job
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(func, *args).result()


def sqlite_jobs(tmp: Path, n: int, run: int) -> list[Job]:
    """The application and its two references, each on a new SQLite file."""
    from bench.credits import measure_application
    from bench.reference import measure_sqlite
    return [(measure_application, (f"sqlite:///{tmp / f'app-{run}.sqlite'}", n)),
            (measure_application, (f"sqlite:///{tmp / f'nolog-{run}.sqlite'}", n, False)),
            (measure_sqlite, (str(tmp / f"raw1-{run}.sqlite"), n, 1)),
            (measure_sqlite, (str(tmp / f"raw3-{run}.sqlite"), n, 3))]


def postgres_jobs(dsn: str, n: int, run: int) -> list[Job]:
    """The application and its two references, each in a new schema."""
    from bench.credits import measure_application
    from bench.reference import measure_postgres
    return [(measure_application, (ledger_url(dsn, fresh_schema(dsn, f"app_{run}")), n)),
            (measure_application, (ledger_url(dsn, fresh_schema(dsn, f"nolog_{run}")), n,
                                   False)),
            (measure_postgres, (dsn, fresh_schema(dsn, f"raw1_{run}"), n, 1)),
            (measure_postgres, (dsn, fresh_schema(dsn, f"raw3_{run}"), n, 3))]


def best_of(jobs_for_run: Callable[[int], list[Job]], runs: int) -> list[list[Measurement]]:
    """Every run of every job, grouped by job (runs interleaved)."""
    grouped: list[list[Measurement]] = []
    for run in range(runs):
        for index, job in enumerate(jobs_for_run(run)):
            if run == 0:
                grouped.append([])
            measured = in_child(job)
            grouped[index].append(measured)
            print(f"  run {run + 1}/{runs}: {measured.backend} {measured.label}: "
                  f"{measured.per_second:,.0f}/s", file=sys.stderr, flush=True)
    return grouped


# -- printing -----------------------------------------------------------------------

HEADER = (f"{'backend':<9} {'measurement':<30} {'ops':>6} {'best /s':>9} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'CPU ms':>7} {'RSS MiB':>8} {'app/raw':>8}"
          "  all runs /s")


def table_rows(grouped: list[list[Measurement]]) -> list[str]:
    """One line per measurement: the best run, with the ratio to the application."""
    bests = [max(runs, key=lambda m: m.per_second) for runs in grouped]
    app = bests[0]
    lines = []
    for best, runs in zip(bests, grouped):
        ratio = "" if best is app else f"{app.per_second / best.per_second:.3f}"
        every = ", ".join(f"{m.per_second:,.0f}" for m in runs)
        lines.append(f"{best.backend:<9} {best.label:<30} {best.operations:>6} "
                     f"{best.per_second:>9,.1f} {best.p50_ms:>7.2f} {best.p99_ms:>7.2f} "
                     f"{best.cpu_ms_per_op:>7.2f} "
                     f"{best.peak_rss_kib / 1024:>8.1f} {ratio:>8}  {every}")
    settings = "; ".join(f"{m.label.split(':')[0]}: " + ", ".join(
        f"{k}={v}" for k, v in m.settings.items()) for m in bests[:2])
    lines.append(f"{'':<9} settings in effect ({settings})")
    return lines


def run_credits(args: argparse.Namespace, tmp: Path, pg_reason: str) -> list[str]:
    """The credits benchmark on each backend asked for and available."""
    lines = []
    if args.backend in ("all", "sqlite"):
        lines += table_rows(best_of(lambda run: sqlite_jobs(tmp, args.n, run), args.runs))
    if args.backend in ("all", "postgres"):
        if pg_reason:
            lines.append(f"{'postgres':<9} skipped: {pg_reason}")
        else:
            with throwaway_database(args.pg_dsn) as dsn:
                lines += table_rows(best_of(lambda run: postgres_jobs(dsn, args.n, run),
                                            args.runs))
    return lines


def run_partners(args: argparse.Namespace, tmp: Path, pg_reason: str) -> list[str]:
    """Partner postings (bench/partners.py): bulk rows/s against single credits/s."""
    from bench.partners import JOBS as PARTNER_JOBS
    from bench.partners import measure_partners
    from bench.partners import table as partner_table

    def jobs(url_for: Callable[[str], str], run: int) -> list[Job]:
        return [(measure_partners, (url_for(f"partners_{mode}_{via}_{run}"), args.n, mode,
                                    via)) for mode, via in PARTNER_JOBS]
    lines = []
    if args.backend in ("all", "sqlite"):
        lines += partner_table(best_of(lambda run: jobs(
            lambda name: f"sqlite:///{tmp / name}.sqlite", run), args.runs))
    if args.backend in ("all", "postgres"):
        if pg_reason:
            lines.append(f"{'postgres':<9} skipped: {pg_reason}")
        else:
            with throwaway_database(args.pg_dsn) as dsn:
                lines += partner_table(best_of(lambda run: jobs(
                    lambda name: ledger_url(dsn, fresh_schema(dsn, name)), run), args.runs))
    return lines


BENCHMARKS: dict[str, Callable[[argparse.Namespace, Path, str], list[str]]] = {
    "credits": run_credits,
    "partners": run_partners,
}


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
    """Run the suite (or one benchmark) and print the figures."""
    args = parse_args(argv)
    pg_version, pg_reason = postgres_version(args.pg_dsn)
    with tempfile.TemporaryDirectory(prefix="civic-ledger-bench-") as tmp:
        if args.profile:
            print(profile(args, Path(tmp), pg_reason))
            return 0
        print(f"python -m bench {' '.join(sys.argv[1:] if argv is None else argv)}".strip())
        for name, value in machine_facts(Path(tmp), pg_version or f"none ({pg_reason})"):
            print(f"  {name + ':':<24}{value}")
        print(f"\nN={args.n} operations per measurement, best of {args.runs} run(s), "
              "each measurement in a fresh process\n\n" + HEADER)
        for name in [args.benchmark] if args.benchmark else list(BENCHMARKS):
            for line in BENCHMARKS[name](args, Path(tmp), pg_reason):
                print(line, flush=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average at end: {load}\napp/raw = application credits per second "
          "divided by raw transactions per second (1.000 would be the raw floor)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
