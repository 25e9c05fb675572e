"""A lean HTTP load client for the benchmarks, and the production server to aim it at.

The clients run on the same 2-core machine as the server, so every microsecond
a client spends is taken from the server: ``urllib`` costs several times more
per request than the request itself. This client sends prepared request bytes
on a plain socket it keeps open between requests (HTTP/1.1 keep-alive, as a
partner's HTTP library or a reverse proxy with upstream keep-alive does; a new
connection when the server closes one) and reads each reply by its
``Content-Length``, checking only the status line. Each client is a separate
process, as real callers would be.
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
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import Measurement, percentile

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


@dataclass(frozen=True)
class Server:
    """A running production server: its port and its gunicorn master's pid."""

    port: int
    pid: int

    def processes(self) -> list[int]:
        """The master and its workers (by parent pid, read from /proc)."""
        pids = [self.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.pid:
                pids.append(int(stat.parent.name))
        return pids

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the master and its live workers."""
        ticks = 0
        for pid in self.processes():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def peak_rss_kib(self) -> int:
        """The largest high-water RSS (VmHWM) of the master and its workers."""
        peaks = [0]
        for pid in self.processes():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]))
            except OSError:
                continue
        return max(peaks)


@contextmanager
def production_server(url: str, keys: Path, workers: int = 2) -> Iterator[Server]:
    """``civic-ledger serve`` (gunicorn) on 127.0.0.1."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--database", url, "--keys", str(keys),
         "--port", str(port), "--workers", str(workers), "--expiry-sweep", "0"],
        cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port)
        yield Server(port, server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def request_bytes(method: str, path: str, token: str | None = None, body: bytes = b"",
                  headers: Mapping[str, str] | None = None) -> bytes:
    """One HTTP/1.1 request, ready to send (``Host: 127.0.0.1``, no port: a signed
    partner request signs ``http://127.0.0.1/...``)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    extra = {"Content-Type": "application/json", **(headers or {})} if body else {}
    if body:
        extra["Content-Length"] = str(len(body))
    head += "".join(f"{name}: {value}\r\n" for name, value in extra.items())
    return head.encode() + b"\r\n" + body


class Connection:
    """One kept-alive connection to the server (opened again when it closes)."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._socket: socket.socket | None = None
        self._buffer = b""

    def exchange(self, request: bytes) -> int:
        """Send one request; the response's status code (0: no well-formed answer)."""
        if self._socket is None:
            self._socket = socket.create_connection(("127.0.0.1", self._port))
            self._buffer = b""
        try:
            self._socket.sendall(request)
            head = self._read_until(b"\r\n\r\n")
            length, closing = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"connection" and value.strip().lower() == b"close":
                    closing = True
            self._read_exactly(length)
        except (OSError, ValueError):
            self.close()
            return 0
        if closing:
            self.close()
        return int(head[9:12]) if head.startswith(b"HTTP/1.") else 0

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            self._fill()
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    def _read_exactly(self, length: int) -> bytes:
        while len(self._buffer) < length:
            self._fill()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return body

    def _fill(self) -> None:
        assert self._socket is not None
        chunk = self._socket.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buffer += chunk

    def close(self) -> None:
        """Drop the connection (the next exchange opens a new one)."""
        if self._socket is not None:
            self._socket.close()
        self._socket = None


def _client(port: int, requests: Callable[[random.Random], bytes], seconds: float,
            ok: frozenset[int], ready: Any, go: Any, queue: Any) -> None:
    rnd, latencies, failures = random.Random(os.getpid()), [], Counter[int]()
    connection = Connection(port)
    ready.put(os.getpid())
    go.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        request = requests(rnd)
        before = time.perf_counter()
        status = connection.exchange(request)
        if status in ok:
            latencies.append(time.perf_counter() - before)
        else:
            failures[status] += 1
    queue.put((latencies, dict(failures)))


@dataclass(frozen=True)
class LoadResult:
    """What the clients saw: successes with their latencies, failures by status
    (0: no HTTP answer), and the wall-clock time from the start signal to the last
    client's report."""

    latencies: tuple[float, ...]
    failures: dict[int, int]
    seconds: float

    @property
    def done(self) -> int:
        """Requests answered with an expected status."""
        return len(self.latencies)

    @property
    def failed(self) -> int:
        """Requests answered otherwise, or not at all."""
        return sum(self.failures.values())

    @property
    def per_second(self) -> float:
        """Successful requests per second."""
        return self.done / self.seconds if self.seconds > 0 else 0.0


def load(port: int, makers: Sequence[Callable[[random.Random], bytes]], seconds: float,
         ok: frozenset[int] = frozenset({200})) -> LoadResult:
    """One client process per request maker, all started together and sending
    for ``seconds``.

    A maker must be picklable (a module-level function, a ``functools.partial``
    or an instance of a module-level class); building a request is not timed."""
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
    failures: Counter[int] = Counter()
    for _, failed in results:
        failures.update(failed)
    return LoadResult(tuple(sorted(x for lat, _ in results for x in lat)), dict(failures),
                      elapsed)


def measure_load(label: str, backend: str, server: Server,
                 makers: Sequence[Callable[[random.Random], bytes]], seconds: float,
                 ok: frozenset[int], settings: dict[str, str],
                 rows_per_request: int = 1) -> Measurement:
    """:func:`load` against ``server`` as a :class:`Measurement`: operations are
    rows, latencies per request, CPU and peak RSS the server's (its master and
    workers; the clients' own CPU is not in it). Failures go in the settings."""
    cpu_before = server.cpu_seconds()
    result = load(server.port, makers, seconds, ok)
    cpu = server.cpu_seconds() - cpu_before
    failures = ", ".join(f"{'no answer' if s == 0 else s} x{n}"
                         for s, n in sorted(result.failures.items()))
    return Measurement(label=label, backend=backend,
                       operations=result.done * rows_per_request, seconds=result.seconds,
                       cpu_seconds=cpu, p50_ms=percentile(result.latencies, 0.50) * 1000,
                       p99_ms=percentile(result.latencies, 0.99) * 1000,
                       peak_rss_kib=server.peak_rss_kib(),
                       settings={**settings, "clients": str(len(makers)),
                                 "failed": failures or "0"})
