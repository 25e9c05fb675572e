"""The Flask application factory.

Nothing happens at import time: :func:`create_app` opens (or is handed) the
time bank, mounts the blueprints and the error handlers, and returns the app.
The time bank lives in ``app.extensions["civic_ledger"]``.

Configuration keys: ``LEDGER`` (a prebuilt :class:`~ledger.application.TimeBank`,
used as is), else ``DATABASE_URL`` and ``KEYS_DIR``; without ``DATABASE_URL``
the settings come from the environment (``ledger.config.Settings.from_env``).
``LOG_PUBLIC`` (default: env ``CIVIC_LEDGER_LOG_PUBLIC``) opens the read-only
log endpoints to anyone. ``EXPIRY_SWEEP_SECONDS`` (optional; 0 or None disables it) runs a daemon thread
that voids expired pending credits every so many seconds. The thread starts
with the first request, not in the factory, so that a pre-forking server
(gunicorn ``--preload``) starts one per worker instead of losing it at fork.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from flask import Flask

from ledger.application import TimeBank
from ledger.config import Settings, open_bank
from web import problems
from projections.queries import ReadModels
from web.auth import EXTENSION, READ_MODELS
from web.blueprints import register as register_blueprints

SWEEPER_EXTENSION = "civic_ledger.sweeper"


class ExpirySweeper:
    """A daemon thread calling ``expire_pending()`` every ``interval`` seconds."""

    def __init__(self, bank: TimeBank, models: ReadModels, interval: float,
                 logger: logging.Logger) -> None:
        self.bank = bank
        self.models = models
        self.interval = interval
        self.logger = logger
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread unless it runs already (safe to call on every request)."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="civic-ledger-expiry-sweeper")
                self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                voided = self.bank.expire_pending(
                    self.models.expired_pending(self.bank.clock()))
            except Exception:  # keep sweeping; a failed sweep is retried next round
                self.logger.exception("expiry sweep failed")
                continue
            if voided:
                self.logger.info("expiry sweep voided %d pending credits", len(voided))


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """A configured Flask application over one time bank."""
    config = dict(config or {})
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20  # a command is a few hundred bytes
    app.config["LOG_PUBLIC"] = os.environ.get("CIVIC_LEDGER_LOG_PUBLIC", "") in ("1", "true")
    app.config.update({k: v for k, v in config.items() if k != "LEDGER"})
    app.json.sort_keys = False  # type: ignore[attr-defined]
    bank = config["LEDGER"] if config.get("LEDGER") is not None else _open_bank(config)
    app.extensions[EXTENSION] = bank
    app.extensions[READ_MODELS] = ReadModels(bank)
    problems.register(app)
    register_blueprints(app)
    interval = config.get("EXPIRY_SWEEP_SECONDS")
    if interval:
        sweeper = ExpirySweeper(bank, app.extensions[READ_MODELS], float(interval),
                                app.logger)
        app.extensions[SWEEPER_EXTENSION] = sweeper
        app.before_request(sweeper.start)
    return app


def _open_bank(config: Mapping[str, Any]) -> TimeBank:
    keys_dir = config.get("KEYS_DIR")
    settings = Settings.from_env(os.environ, database_url=config.get("DATABASE_URL"),
                                 keys_dir=str(keys_dir) if keys_dir else None)
    return open_bank(settings)
