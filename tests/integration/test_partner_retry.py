"""A real gunicorn server: the client loses the answer after the commit, then retries.

The server is ``web.server.LedgerServer`` (the production gunicorn
application) in a child process on a free loopback port, over SQLite and
PostgreSQL. A raw socket sends a signed posting and is closed without reading
once the credit is in the database — the partner never learns that it
succeeded. The retry (same Idempotency-Key, same body, fresh signature) must
get the stored answer, and exactly one credit must exist. The same server
then takes a 1,000-row CSV file from ``civic-ledger partner post``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.errors import NotFound
from ledger.config import Settings, open_bank
from web.app import create_app
from web.partner_client import PartnerClient, generate_key, load_private_key

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
SERVE = """
import sys
from web.app import create_app
from web.server import LedgerServer, server_options
url, keys, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
LedgerServer(create_app, {"DATABASE_URL": url, "KEYS_DIR": keys},
             server_options("127.0.0.1", port, 2)).run()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def settings(url: str, keys: Path) -> Settings:
    return Settings.from_env({}, database_url=url, keys_dir=str(keys))


def prepare(url: str, keys: Path, public_key: str) -> dict[str, Any]:
    """A community, an organisation with key ``care-1``, 60 members; every table made
    (so the two workers do not race to create them)."""
    settings(url, keys).key_directory().ensure()
    bank = open_bank(settings(url, keys))
    try:
        app = create_app({"LEDGER": bank})
        community = bank.register_community("Riverside")
        org = bank.open_organisation(community["id"], "Care", budget=60_000)
        members = [bank.open_member(community["id"]).id for _ in range(60)]
        app.extensions["civic_ledger.partners"].add_key(org.id, "care-1", public_key)
        return {"org": org.id, "members": members}
    finally:
        bank.close()


@contextmanager
def serving(tmp_path: Path, url: str, keys: Path) -> Iterator[str]:
    """The gunicorn server; its base URL. Always stopped (its process group killed)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_LEDGER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    log = open(tmp_path / f"server-{port}.log", "wb")
    process = subprocess.Popen([sys.executable, "-c", SERVE, url, str(keys), str(port)],
                               env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, (tmp_path / f"server-{port}.log").read_text()
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        yield base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        log.close()


def raw_request(base: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """The request as bytes on the wire."""
    host = base.split("://", 1)[1]
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
             "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def committed(url: str, keys: Path, transfer_id: str, timeout: float = 30.0) -> bool:
    """Wait until the transfer is in the database."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bank = open_bank(settings(url, keys))
        try:
            bank.transfer(UUID(transfer_id))
            return True
        except NotFound:
            time.sleep(0.05)
        finally:
            bank.close()
    return False


def test_a_retry_after_a_lost_answer_gets_the_stored_response_and_one_credit(
        tmp_path: Path, durable_database_url: str) -> None:
    url, keys = durable_database_url, tmp_path / "keys"
    pem, public_key = generate_key()
    town = prepare(url, keys, public_key)
    record = {"id": str(uuid.uuid4()), "volunteer": str(town["members"][0]), "minutes": 75,
              "category": "elderly-companionship", "service_date": "2026-11-20"}
    body = json.dumps(record).encode()
    with serving(tmp_path, url, keys) as base:
        client = PartnerClient(base, town["org"], load_private_key(pem), "care-1")
        headers = client.signed_headers("POST", client.url("credits"), "application/json",
                                        body, "lost-answer")
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1]))) as sock:
            sock.sendall(raw_request(base, f"/v1/partners/{town['org']}/credits", headers,
                                     body))
            assert committed(url, keys, record["id"])
            # Drop the connection without reading a byte: RST, the answer is lost.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        retry = client.post_credit(record, idempotency_key="lost-answer")
        assert (retry.status, retry.replayed, retry.body["id"]) == (201, True, record["id"])
        other = client.post_credit({**record, "minutes": 76}, idempotency_key="lost-answer")
        assert (other.status, other.body["rule"]) == (422, "idempotency_conflict")
    bank = open_bank(settings(url, keys))
    try:
        credits = [e for e in bank.history(town["members"][0]) if e.event == "Credited"]
        assert len(credits) == 1 and bank.account(town["members"][0]).balance == 75
        assert bank.account(town["org"]).balance == -75
    finally:
        bank.close()


def test_the_partner_command_posts_a_1000_row_csv_in_one_request(
        tmp_path: Path, durable_database_url: str) -> None:
    url, keys = durable_database_url, tmp_path / "keys"
    pem, public_key = generate_key()
    town = prepare(url, keys, public_key)
    (tmp_path / "key.pem").write_text(pem)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "volunteer", "minutes", "category", "service_date"])
    for k in range(1000):
        writer.writerow([uuid.uuid4(), town["members"][k % 60], 30, "errands",
                         f"2026-10-{1 + k // 60:02d}"])
    (tmp_path / "hours.csv").write_text(out.getvalue())
    command = [sys.executable, "-m", "web.cli", "partner", "post", str(tmp_path / "hours.csv"),
               "--key", str(tmp_path / "key.pem"), "--key-id", "care-1",
               "--org", str(town["org"]), "--mode", "per-item"]
    with serving(tmp_path, url, keys) as base:
        first = subprocess.run([*command, "--url", base], capture_output=True, text=True,
                               timeout=120, cwd=tmp_path)
        again = subprocess.run([*command, "--url", base], capture_output=True, text=True,
                               timeout=120, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("row 1: created ") and lines[999].startswith("row 1000: created")
    assert "1000 rows: 1000 created, 0 already there, 0 refused" in first.stdout
    assert again.returncode == 0 and "a replay of the first answer" in again.stdout
    bank = open_bank(settings(url, keys))
    try:  # the members' side: the organisation's 1,000 entries load from a snapshot
        assert sum(bank.account(m).balance for m in town["members"]) == 30_000
    finally:
        bank.close()


@pytest.fixture(autouse=True)
def _no_stray_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("CIVIC_LEDGER_")]:
        monkeypatch.delenv(name)
