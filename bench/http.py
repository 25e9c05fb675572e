"""A lean HTTP load client for the benchmarks, and the production server to aim it at.

The clients run on the same 2-core machine as the server, so every microsecond
a client spends is taken from the server: ``urllib`` costs several times more
per request than the request itself. This client sends prepared request bytes
on a plain socket and reads the reply until the server closes (gunicorn's sync
workers close after each response), checking only the status line. Each client
is a separate process, as real callers would be.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(port: int, timeout: float = 60) -> None:
    """Until ``GET /healthz`` answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not come up")


@contextmanager
def production_server(url: str, keys: Path, workers: int = 2) -> Iterator[int]:
    """``civic-ledger serve`` (gunicorn) on 127.0.0.1; yields its port."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--database", url, "--keys", str(keys),
         "--port", str(port), "--workers", str(workers), "--expiry-sweep", "0"],
        cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def request_bytes(method: str, path: str, token: str, body: bytes = b"") -> bytes:
    """One HTTP/1.1 request, ready to send."""
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nConnection: close\r\n")
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def exchange(port: int, request: bytes) -> int:
    """Send one request; the response's status code."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    reply = b"".join(chunks)
    return int(reply[9:12]) if reply.startswith(b"HTTP/1.") else 0


def _client(port: int, requests: Callable[[random.Random], bytes], seconds: float,
            ok: frozenset[int], ready: Any, go: Any, queue: Any) -> None:
    rnd, done, failed = random.Random(os.getpid()), 0, 0
    ready.put(os.getpid())
    go.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            status = exchange(port, requests(rnd))
        except OSError:
            status = 0
        if status in ok:
            done += 1
        else:
            failed += 1
    queue.put((done, failed))


def load(port: int, makers: Sequence[Callable[[random.Random], bytes]], seconds: float,
         ok: frozenset[int] = frozenset({200})) -> tuple[int, int, float]:
    """One client process per request maker, all started together and sending
    for ``seconds``: (done, failed, done per second).

    A maker must be picklable (a module-level function or a ``functools.partial``)."""
    context = multiprocessing.get_context("spawn")
    ready, go, queue = context.Queue(), context.Event(), context.Queue()
    clients = [context.Process(target=_client,
                               args=(port, make, seconds, ok, ready, go, queue))
               for make in makers]
    for client in clients:
        client.start()
    for _ in clients:  # spawning and importing is not part of the measurement
        ready.get(timeout=120)
    started = time.perf_counter()
    go.set()
    results = [queue.get(timeout=seconds + 120) for _ in clients]
    elapsed = time.perf_counter() - started
    for client in clients:
        client.join(timeout=30)
    done = sum(r[0] for r in results)
    return done, sum(r[1] for r in results), done / elapsed
