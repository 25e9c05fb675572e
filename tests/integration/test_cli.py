"""The ``civic-ledger`` command, run as a real process, as an operator would.

Each test starts ``python -m web.cli`` (the console script's own ``main``) in a
fresh directory with a clean environment, and checks what a person sees: exit
statuses, one-line errors without tracebacks, owner-only key files, and a demo
whose credentials keep the documented contract.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from ledger.application import TimeBank
from ledger.config import Settings, open_bank

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120


def cli_env() -> dict[str, str]:
    """This environment without our settings, with the checkout under test importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_LEDGER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``civic-ledger ARGS`` in ``cwd``; never waits longer than TIMEOUT."""
    return subprocess.run([sys.executable, "-m", "web.cli", *args], cwd=cwd,
                          env=cli_env(), capture_output=True, text=True, timeout=TIMEOUT)


def read_json(path: Path) -> Any:
    """A JSON file's content."""
    return json.loads(path.read_text())


def mode(path: Path) -> int:
    """The permission bits."""
    return stat.S_IMODE(path.stat().st_mode)


def bank_at(url: str, keys: Path) -> TimeBank:
    """The ledger application as the command opens it."""
    return open_bank(Settings(database_url=url, keys_dir=keys))


def event_count(url: str, keys: Path) -> int:
    """How many events the store holds."""
    bank = bank_at(url, keys)
    try:
        return bank.recorder.max_notification_id() or 0
    finally:
        bank.close()


def test_keys_creates_owner_only_key_files_once(tmp_path: Path) -> None:
    keys = tmp_path / "secrets"
    first = cli(tmp_path, "keys", "--keys", str(keys))
    assert first.returncode == 0, first.stderr
    assert "master.key" in first.stdout and mode(keys) == 0o700
    secrets = [path for path in keys.iterdir() if path.suffix != ".vkey"]  # .vkey: public
    assert secrets and {mode(path) for path in secrets} == {0o600}
    key = (keys / "master.key").read_bytes()
    again = cli(tmp_path, "keys", "--keys", str(keys))
    assert again.returncode == 0 and "nothing created" in again.stdout
    assert (keys / "master.key").read_bytes() == key


def test_keys_default_to_a_folder_beside_the_sqlite_file(tmp_path: Path) -> None:
    result = cli(tmp_path, "keys", "--database", f"sqlite:///{tmp_path / 'data' / 'l.sqlite'}")
    assert result.returncode == 0, result.stderr
    assert mode(tmp_path / "data" / "keys" / "master.key") == 0o600


def test_serve_without_keys_exits_2_naming_the_keys_command(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    result = cli(tmp_path, "serve", "--database", f"sqlite:///{tmp_path / 'l.sqlite'}",
                 "--keys", str(keys), "--port", "9")
    assert result.returncode == 2
    assert f"civic-ledger keys --keys {keys}" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert not keys.exists()


@pytest.mark.parametrize("args, says", [
    (["token", "--role", "admin", "--database", "mysql://x/y", "--keys", "k"],
     "unsupported database URL scheme"),
    (["expire", "--database", "postgresql://postgres@127.0.0.1:5432/db"],
     "keys directory is required"),
    (["expire", "--database", "memory://", "--keys", "k"], "memory://"),
])
def test_user_errors_print_one_line_and_no_traceback(tmp_path: Path, args: list[str],
                                                     says: str) -> None:
    result = cli(tmp_path, *args)
    assert result.returncode == 2
    assert says in result.stderr and result.stderr.startswith("civic-ledger: ")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_unusable_database_is_one_line_naming_it_without_its_password(
        tmp_path: Path) -> None:
    cli(tmp_path, "keys", "--keys", str(tmp_path / "keys"))
    url = f"sqlite:///{tmp_path / 'missing-folder' / 'x' / 'l.sqlite'}"
    result = cli(tmp_path, "expire", "--database", url, "--keys", str(tmp_path / "keys"))
    assert result.returncode == 1 and "cannot use the database" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_demo_writes_owner_only_credentials_in_the_contract_shape(
        tmp_path: Path, durable_database_url: str) -> None:
    keys, credentials = tmp_path / "keys", tmp_path / "out" / "demo.json"
    result = cli(tmp_path, "demo", "--database", durable_database_url,
                 "--credentials", str(credentials), "--keys", str(keys))
    assert result.returncode == 0, result.stderr
    document = read_json(credentials)
    assert mode(credentials) == 0o600
    assert set(document) == {"tokens", "accounts", "community", "partner_key"}
    assert set(document["partner_key"]) == {"key_id", "private_key_pem"}
    assert set(document["tokens"]) == {"admin", "staff", "auditor", "partner", "member"}
    accounts = document["accounts"]
    assert set(accounts) == {"members", "organisations", "pool", "issuance"}
    assert len(accounts["members"]) >= 3 and len(accounts["organisations"]) == 2
    for value in [*accounts["members"], *accounts["organisations"], accounts["pool"],
                  accounts["issuance"], document["community"]]:
        assert isinstance(value, str) and UUID(value)
    bank = bank_at(durable_database_url, keys)
    try:
        member = bank.tokens.authenticate(document["tokens"]["member"])
        partner = bank.tokens.authenticate(document["tokens"]["partner"])
        assert member and str(member.subject) == accounts["members"][0]
        assert partner and str(partner.subject) == accounts["organisations"][0]
        profile = bank.member(UUID(accounts["members"][0])).profile
        assert profile and profile["display_name"]
    finally:
        bank.close()


def test_rerunning_demo_adds_no_data_but_issues_fresh_tokens(
        tmp_path: Path, durable_database_url: str) -> None:
    keys = tmp_path / "keys"
    first_file, second_file = tmp_path / "first.json", tmp_path / "second.json"
    common = ["--database", durable_database_url, "--keys", str(keys)]
    assert cli(tmp_path, "demo", *common, "--credentials", str(first_file)).returncode == 0
    events = event_count(durable_database_url, keys)
    again = cli(tmp_path, "demo", *common, "--credentials", str(second_file))
    assert again.returncode == 0, again.stderr
    assert event_count(durable_database_url, keys) == events > 0
    first, second = read_json(first_file), read_json(second_file)
    assert first["accounts"] == second["accounts"]
    assert first["tokens"]["admin"] != second["tokens"]["admin"]


def test_demo_credentials_default_to_beside_the_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'ledger.sqlite'}"
    result = cli(tmp_path, "demo", "--database", url)
    assert result.returncode == 0, result.stderr
    assert mode(tmp_path / "data" / "demo-credentials.json") == 0o600
    assert mode(tmp_path / "data" / "keys" / "master.key") == 0o600


def test_token_is_printed_once_and_bound_to_a_checked_account(tmp_path: Path) -> None:
    url, keys = f"sqlite:///{tmp_path / 'l.sqlite'}", tmp_path / "keys"
    assert cli(tmp_path, "demo", "--database", url, "--keys", str(keys)).returncode == 0
    members = read_json(tmp_path / "demo-credentials.json")["accounts"]["members"]
    where = ["--database", url, "--keys", str(keys)]
    admin = cli(tmp_path, "token", "--role", "admin", *where)
    member = cli(tmp_path, "token", "--role", "member", "--subject", members[0], *where)
    assert admin.returncode == 0 and member.returncode == 0
    bank = bank_at(url, keys)
    try:
        found = bank.tokens.authenticate(member.stdout.strip())
        assert bank.tokens.authenticate(admin.stdout.strip()) is not None
        assert found is not None and str(found.subject) == members[0]
    finally:
        bank.close()
    wrong = cli(tmp_path, "token", "--role", "partner", "--subject", members[0], *where)
    missing = cli(tmp_path, "token", "--role", "member", *where)
    assert wrong.returncode == 2 and "of kind organisation" in wrong.stderr
    assert missing.returncode == 2 and "--subject" in missing.stderr


def test_expire_runs_one_sweep_and_reports_it(tmp_path: Path) -> None:
    url, keys = f"sqlite:///{tmp_path / 'l.sqlite'}", tmp_path / "keys"
    assert cli(tmp_path, "demo", "--database", url, "--keys", str(keys)).returncode == 0
    result = cli(tmp_path, "expire", "--database", url, "--keys", str(keys))
    assert result.returncode == 0, result.stderr
    assert "0 expired pending credit(s) voided" in result.stdout


def test_installed_console_script_runs_the_same_main(tmp_path: Path) -> None:
    script = shutil.which("civic-ledger")
    if script is None:
        pytest.skip("civic-ledger is not installed (pip install -e .)")
    env = {k: v for k, v in cli_env().items() if k != "PYTHONPATH"}  # the install alone
    result = subprocess.run([script, "keys", "--keys", str(tmp_path / "k")], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert mode(tmp_path / "k" / "master.key") == 0o600
