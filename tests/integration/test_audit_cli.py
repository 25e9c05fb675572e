"""The auditor's commands as real processes: export a demo bundle and verify it with
only the vkey (balances equal the service's), refuse a tampered database naming the
finding, rebuild the read models."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from uuid import UUID

from ledger.config import Settings, open_bank

REPO = Path(__file__).resolve().parents[2]


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``civic-ledger ARGS`` in ``cwd`` with the checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_LEDGER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "web.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=180)


def seeded(tmp_path: Path) -> tuple[str, Path]:
    """A demo database and its keys directory."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    keys = tmp_path / "keys"
    assert cli(tmp_path, "keys", "--database", url, "--keys", str(keys)).returncode == 0
    done = cli(tmp_path, "demo", "--database", url, "--keys", str(keys),
               "--credentials", str(tmp_path / "creds.json"))
    assert done.returncode == 0, done.stderr
    return url, keys


def test_an_exported_demo_bundle_verifies_offline_to_the_services_balances(tmp_path):
    url, keys = seeded(tmp_path)
    kept = tmp_path / "kept-checkpoint.txt"
    bank = open_bank(Settings(database_url=url, keys_dir=keys))
    kept.write_text(bank.audit_log.checkpoint())
    bank.close()
    bundle = tmp_path / "ledger.bundle"
    exported = cli(tmp_path, "export", "--database", url, "--keys", str(keys),
                   "--out", str(bundle))
    assert exported.returncode == 0, exported.stderr
    checked = cli(tmp_path, "verify", str(bundle), "--key", str(keys / "log.vkey"),
                  "--checkpoint", str(kept))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK: the history is complete and consistent" in checked.stdout
    printed = {UUID(m[0]): int(m[1]) for m in re.findall(
        r"^\s+([0-9a-f-]{36})\s+balance\s+(-?\d+)", checked.stdout, re.M)}
    bank = open_bank(Settings(database_url=url, keys_dir=keys))
    try:
        assert printed and all(bank.account(a).balance == b for a, b in printed.items())
    finally:
        bank.close()


def test_a_bundle_checked_with_another_key_fails(tmp_path):
    url, keys = seeded(tmp_path)
    bundle = tmp_path / "ledger.bundle"
    cli(tmp_path, "export", "--database", url, "--keys", str(keys), "--out", str(bundle))
    other = tmp_path / "other-keys"
    cli(tmp_path, "keys", "--database", url, "--keys", str(other))
    checked = cli(tmp_path, "verify", str(bundle), "--key", str(other / "log.vkey"))
    assert checked.returncode == 1 and "FINDING checkpoint" in checked.stdout


def test_verify_database_names_a_modified_event(tmp_path):
    url, keys = seeded(tmp_path)
    assert cli(tmp_path, "verify", "--database", url, "--keys", str(keys)).returncode == 0
    with sqlite3.connect(tmp_path / "ledger.sqlite") as conn:
        conn.execute("UPDATE stored_events SET state = CAST(REPLACE(CAST(state AS TEXT), "
                     "'\"minutes\":', '\"minutes\":1') AS BLOB) WHERE rowid = "
                     "(SELECT MIN(rowid) FROM stored_events WHERE topic LIKE "
                     "'%Transfer.Recorded')")
        (index,) = conn.execute(
            "SELECT l.leaf_index FROM log_leaves l JOIN stored_events e ON "
            "e.originator_id = l.originator_id AND e.originator_version = "
            "l.originator_version WHERE e.rowid = (SELECT MIN(rowid) FROM stored_events "
            "WHERE topic LIKE '%Transfer.Recorded')").fetchone()
    checked = cli(tmp_path, "verify", "--database", url, "--keys", str(keys))
    assert checked.returncode == 1
    assert f"FINDING modified at leaf {index}:" in checked.stdout


def test_rebuild_reports_the_events_it_replayed(tmp_path):
    url, keys = seeded(tmp_path)
    bank = open_bank(Settings(database_url=url, keys_dir=keys))
    total = bank.audit_log.size()
    bank.close()
    rebuilt = cli(tmp_path, "rebuild", "--database", url, "--keys", str(keys))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"replayed {total} events" in rebuilt.stdout
