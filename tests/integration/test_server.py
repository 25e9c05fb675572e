"""``civic-ledger serve --demo``: a real gunicorn, real workers, real HTTP.

The server runs as a child process in its own session on a free loopback
port; every wait is bounded, and the process is always stopped in a
``finally`` (SIGTERM, then SIGKILL to its own process group if it lingers).
Run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

from web.server import server_options

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def server_env() -> dict[str, str]:
    """This environment without our settings, with the checkout under test importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_LEDGER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def call(url: str, token: str | None = None,
         payload: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One HTTP request; the status and the decoded JSON body."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers=headers,
                                     method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class Server:
    """A started ``civic-ledger serve`` and what it printed."""

    def __init__(self, process: subprocess.Popen[bytes], base: str, logs: Path) -> None:
        self.process = process
        self.base = base
        self.logs = logs

    def output(self) -> str:
        """Everything printed so far (stdout, then stderr)."""
        return "\n".join(p.read_text() for p in (self.logs / "out", self.logs / "err")
                         if p.exists())

    def wait_until_healthy(self) -> dict[str, Any]:
        """The /healthz answer, once the workers serve; fails if the server died."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}:\n"
                                     f"{self.output()}")
            try:
                status, body = call(f"{self.base}/healthz")
                if status == 200:
                    return dict(body)
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        raise AssertionError(f"server not healthy within {START_TIMEOUT}s:\n{self.output()}")

    def stop(self) -> int:
        """SIGTERM and wait; SIGKILL the process group when it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
                raise AssertionError("server did not stop on SIGTERM") from None
        return self.process.returncode


@contextmanager
def serving(cwd: Path, *args: str) -> Iterator[Server]:
    """``civic-ledger serve ARGS --port <free>`` in ``cwd``, always stopped after."""
    port = free_port()
    logs = cwd / f"logs-{port}"
    logs.mkdir()
    with open(logs / "out", "wb") as out, open(logs / "err", "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "serve", "--port", str(port), *args],
            cwd=cwd, env=server_env(), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            start_new_session=True)
    server = Server(process, f"http://127.0.0.1:{port}", logs)
    try:
        yield server
    finally:
        if process.poll() is None:
            try:
                server.stop()
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(5)


def credit(organisation: str, member: str, minutes: int) -> dict[str, Any]:
    """A service-credit body with a fresh id."""
    return {"id": str(uuid4()), "payer": organisation, "volunteer": member,
            "minutes": minutes, "category": "errands",
            "service_date": dt.date.today().isoformat()}


def test_serve_demo_answers_reads_and_a_partner_credit_then_stops_cleanly(
        tmp_path: Path, durable_database_url: str) -> None:
    args = ["--demo", "--database", durable_database_url, "--keys", str(tmp_path / "keys"),
            "--workers", "2"]
    with serving(tmp_path, *args) as server:
        health = server.wait_until_healthy()
        document = json.loads((tmp_path / "demo-credentials.json").read_text())
        tokens, accounts = document["tokens"], document["accounts"]
        member, organisation = accounts["members"][0], accounts["organisations"][0]
        status, account = call(f"{server.base}/v1/accounts/{member}", tokens["member"])
        assert status == 200, account
        before = account["balance"]
        status, made = call(f"{server.base}/v1/credits", tokens["partner"],
                            credit(organisation, member, 60))
        assert status == 201 and made["state"] == "posted", made
        status, account = call(f"{server.base}/v1/accounts/{member}", tokens["member"])
        assert (status, account["balance"]) == (200, before + 60)
        assert server.stop() == 0
    assert health["status"] == "ok"
    printed = server.output()
    assert tokens["member"] in printed and f"/v1/accounts/{member}/history" in printed
    assert "/v1/credits" in printed and "Traceback" not in printed


def test_second_start_does_not_seed_again_and_keeps_working_credentials(
        tmp_path: Path, durable_database_url: str) -> None:
    args = ["--demo", "--database", durable_database_url, "--keys", str(tmp_path / "keys"),
            "--credentials", str(tmp_path / "creds.json"), "--workers", "1"]
    with serving(tmp_path, *args) as first:
        first.wait_until_healthy()
        assert first.stop() == 0
    document = json.loads((tmp_path / "creds.json").read_text())
    member = document["accounts"]["members"][0]
    with serving(tmp_path, *args) as second:
        second.wait_until_healthy()
        status, account = call(f"{second.base}/v1/accounts/{member}",
                               document["tokens"]["member"])
        assert second.stop() == 0
    assert status == 200 and account["balance"] == 85  # the seeded history, once
    assert "not seeding again" in second.output()
    assert json.loads((tmp_path / "creds.json").read_text()) == document


def exchange(base: str, raw: bytes) -> bytes:
    """Send ``raw`` on a fresh connection; the status line the server answers."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(raw)
        answer = b""
        while b"\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_the_server_parses_with_gunicorn_s_c_parser_and_refuses_malformed_requests(
        tmp_path: Path) -> None:
    # http_parser="fast": a worker without gunicorn_h1c refuses to start, so a
    # healthy server is proof the C parser is the one answering below.
    assert server_options("127.0.0.1", 8000, 1)["http_parser"] == "fast"
    args = ["--demo", "--database", f"sqlite:///{tmp_path / 'ledger.sqlite'}",
            "--keys", str(tmp_path / "keys"), "--workers", "1"]
    with serving(tmp_path, *args) as server:
        server.wait_until_healthy()
        ok = exchange(server.base, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        bad_name = exchange(server.base, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                         b"Bad Header: x\r\n\r\n")
        too_long = exchange(server.base, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n"
                                         b"Host: 127.0.0.1\r\n\r\n")
        bad_version = exchange(server.base, b"GET /healthz HTTP/7.3\r\nHost: x\r\n\r\n")
        assert server.stop() == 0
    assert ok.startswith(b"HTTP/1.1 200")
    assert bad_name.startswith(b"HTTP/1.1 400"), bad_name
    assert too_long.startswith(b"HTTP/1.1 414"), too_long
    assert bad_version.startswith(b"HTTP/1.1 400"), bad_version
    assert "Traceback" not in server.output()
