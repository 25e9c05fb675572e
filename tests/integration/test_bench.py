"""The benchmark suite still runs: ``python -m bench`` at toy sizes prints every
figure beside its reference, and no HTTP request in it failed.

Benchmarks are not tests and nothing here checks a speed; this only keeps
``bench/`` from rotting as the application changes under it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIGURES = ("application: service credit, 4 callers", "application: service credit",
           "application without the log",
           "partners: bulk (application)", "HTTP: service credit", "HTTP: partner bulk batch",
           "HTTP: balance read", "projection rebuild", "inclusion proof",
           "consistency proof", "verify bundle")


def test_the_whole_suite_runs_at_toy_sizes_and_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--n", "20", "--seconds", "1",
         "--leaves", "300", "--backend", "sqlite"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for figure in FIGURES:
        assert any(x.startswith(("sqlite", "file")) and figure in x for x in lines), figure
    assert sum("  ref: " in x for x in lines) == len(FIGURES)
    failures = [x for x in lines if "failed (every run)=" in x]
    assert len(failures) == 3 and all(x.endswith("failed (every run)=0") for x in failures)
