"""The type checker's verdict: mypy, with the settings in setup.cfg, over every
package and the benchmarks.

The conventions ask for every def to be annotated (``disallow_untyped_defs``);
this test is what makes that a rule rather than a wish, and it catches the
mistakes annotations exist for (a ``None`` used as text, a response of the
wrong class) before a request does. The tests themselves are not checked.
"""

from __future__ import annotations

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("domain", "ledger", "projections", "web", "bench")


def test_mypy_finds_no_error_in_the_code() -> None:
    report, errors, status = api.run([
        "--config-file", str(ROOT / "setup.cfg"),
        "--cache-dir", str(ROOT / ".mypy_cache"),
        *(str(ROOT / package) for package in CHECKED)])
    assert status == 0, report + errors
