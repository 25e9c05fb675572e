"""The production server: gunicorn running the Flask app, configured explicitly.

Why a ``BaseApplication`` subclass rather than the ``gunicorn`` command: the
command line already knows the database and the keys, so they are handed to
the app factory as a plain mapping, with no import-time wiring and no
environment re-read inside workers. Each worker calls the factory after the
fork, so every worker opens its own connections; the master never serves.
Flask's development server is never used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gunicorn.app.base import BaseApplication

AppFactory = Callable[[Mapping[str, Any]], Any]
# Settings only newer gunicorn releases know; older ones lack the feature too.
OPTIONAL_SETTINGS = frozenset({"control_socket_disable"})


def bind_address(host: str, port: int) -> str:
    """The gunicorn bind string (IPv6 literals in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_options(host: str, port: int, workers: int) -> dict[str, Any]:
    """Gunicorn settings for the ledger: sync workers, logs on stderr.

    The control socket is off: its default path is shared by every server of
    the same user, and nothing here uses it.
    """
    return {"bind": bind_address(host, port), "workers": workers,
            "worker_class": "sync", "timeout": 30, "graceful_timeout": 10,
            "accesslog": "-", "errorlog": "-", "loglevel": "info",
            "proc_name": "civic-ledger", "preload_app": False,
            "control_socket_disable": True}


class LedgerServer(BaseApplication):  # type: ignore[misc]
    """Gunicorn with the app built by ``factory(app_config)`` in each worker."""

    def __init__(self, factory: AppFactory, app_config: Mapping[str, Any],
                 options: Mapping[str, Any]) -> None:
        self._factory = factory
        self._app_config = dict(app_config)
        self._options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        """Apply our options; gunicorn's own argv and config files are not read."""
        for key, value in self._options.items():
            if key in self.cfg.settings or key not in OPTIONAL_SETTINGS:
                self.cfg.set(key, value)

    def load(self) -> Any:
        """Build the WSGI app (called in each worker, after the fork)."""
        return self._factory(self._app_config)
