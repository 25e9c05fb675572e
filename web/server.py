"""The production server: gunicorn running the Flask app, configured explicitly.

Why a ``BaseApplication`` subclass rather than the ``gunicorn`` command: the
command line already knows the database and the keys, so they are handed to
the app factory as a plain mapping, with no import-time wiring and no
environment re-read inside workers. Each worker calls the factory after the
fork, so every worker opens its own connections; the master never serves.
Flask's development server is never used.

Observability (``web.request_log``, ``web.metrics``): :meth:`LedgerServer.run`
creates a fresh metrics directory, exports it as ``PROMETHEUS_MULTIPROC_DIR``
before gunicorn forks, marks each exiting worker dead (``child_exit``) and
removes the directory when the master stops; it sends the app's JSON access
lines (logger ``civic_ledger.access``) to stderr or a file. Gunicorn's own access
log is off: it would print a second, unstructured line per request without the
request id or the route template.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from prometheus_client import multiprocess

from web.metrics import MULTIPROC_ENV
from web.request_log import ACCESS_LOGGER

AppFactory = Callable[[Mapping[str, Any]], Any]
# Settings only newer gunicorn releases know; older ones lack the feature too.
OPTIONAL_SETTINGS = frozenset({"control_socket_disable"})


def bind_address(host: str, port: int) -> str:
    """The gunicorn bind string (IPv6 literals in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_options(host: str, port: int, workers: int, threads: int = 4) -> dict[str, Any]:
    """Gunicorn settings for the ledger: threaded workers, logs on stderr.

    ``gthread`` workers: each process serves ``threads`` requests at once and
    keeps a client's connection open between requests (HTTP/1.1 keep-alive,
    5 s idle), so a partner system or a reverse proxy with upstream
    keep-alive pays no TCP set-up per request; concurrent writes in one
    process share a commit (``ledger.log.GroupCommit``). The control socket is
    off: its default path is shared by every server of the same user, and
    nothing here uses it. Gunicorn's access log is off: the app writes one
    JSON line per request instead (see the module docstring).

    Requests are parsed by gunicorn's C parser (``gunicorn_h1c``, a declared
    dependency), not its pure-Python one: the same limits and the same
    refusals, at a fraction of the CPU per request (``http_parser="fast"``
    makes a worker refuse to start without it, rather than quietly falling
    back to the slower parser).
    """
    return {"bind": bind_address(host, port), "workers": workers, "threads": threads,
            "worker_class": "gthread", "keepalive": 5, "timeout": 30,
            "graceful_timeout": 10, "accesslog": None, "errorlog": "-", "loglevel": "info",
            "proc_name": "civic-ledger", "preload_app": False,
            "http_parser": "fast", "control_socket_disable": True}


class LedgerServer(BaseApplication):  # type: ignore[misc]
    """Gunicorn with the app built by ``factory(app_config)`` in each worker."""

    def __init__(self, factory: AppFactory, app_config: Mapping[str, Any],
                 options: Mapping[str, Any], access_log: str = "-") -> None:
        self._factory = factory
        self._app_config = dict(app_config)
        self._options = {**options, "child_exit": self._child_exit}
        self._access_log = access_log  # "-": stderr; else a file to append to
        self._metrics_dir: str | None = None
        super().__init__()

    def run(self) -> None:
        """Serve until stopped, with a fresh metrics directory and the access log set up."""
        with metrics_directory() as directory, access_lines(self._access_log):
            self._metrics_dir = directory
            super().run()

    def _child_exit(self, server: Any, worker: Any) -> None:
        """Gunicorn hook (master): a worker is gone; its live values no longer count."""
        if self._metrics_dir is not None:
            multiprocess.mark_process_dead(worker.pid, self._metrics_dir)

    def load_config(self) -> None:
        """Apply our options; gunicorn's own argv and config files are not read."""
        for key, value in self._options.items():
            if key in self.cfg.settings or key not in OPTIONAL_SETTINGS:
                self.cfg.set(key, value)

    def load(self) -> Any:
        """Build the WSGI app (called in each worker, after the fork)."""
        return self._factory(self._app_config)


@contextmanager
def metrics_directory() -> Iterator[str]:
    """A fresh, private directory exported as ``PROMETHEUS_MULTIPROC_DIR`` for the
    workers; removed afterwards by the process that made it (a forked worker leaves
    through here too, by ``SystemExit``, and must leave it alone)."""
    owner = os.getpid()
    _remove_orphaned_metrics(tempfile.gettempdir())
    directory = tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{owner}-")
    before = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield directory
    finally:
        if os.getpid() == owner:
            shutil.rmtree(directory, ignore_errors=True)
            if before is None:
                os.environ.pop(MULTIPROC_ENV, None)
            else:
                os.environ[MULTIPROC_ENV] = before


METRICS_PREFIX = "civic-ledger-metrics-"


def _remove_orphaned_metrics(parent: str) -> None:
    """Remove the metrics directories of servers whose master died without
    cleaning up (``kill -9``): each is named after its master's pid, and one
    whose pid no longer runs is removed; a live server's is left alone."""
    for path in Path(parent).glob(f"{METRICS_PREFIX}*-*"):
        pid = path.name[len(METRICS_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


@contextmanager
def access_lines(destination: str) -> Iterator[logging.Logger]:
    """The JSON access lines, one per line as they are, to stderr (``-``) or a file."""
    logger = logging.getLogger(ACCESS_LOGGER)
    handler: logging.Handler = (logging.StreamHandler(sys.stderr) if destination == "-"
                                else logging.FileHandler(destination))
    handler.setFormatter(logging.Formatter("%(message)s"))
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # once, here; not again through gunicorn's root handler
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(level)
        logger.propagate = propagate
