"""The Flask application factory.

Nothing happens at import time: :func:`create_app` opens (or is handed) the
time bank, mounts the blueprints and the error handlers, and returns the app.
The time bank lives in ``app.extensions["civic_ledger"]``.

Configuration keys: ``LEDGER`` (a prebuilt :class:`~ledger.application.TimeBank`,
used as is), else ``DATABASE_URL`` and ``KEYS_DIR``; without ``DATABASE_URL``
the settings come from the environment (``ledger.config.Settings.from_env``).
``LOG_PUBLIC`` (default: env ``CIVIC_LEDGER_LOG_PUBLIC``) opens the read-only
log endpoints to anyone. ``METRICS_DIR`` (default: env ``PROMETHEUS_MULTIPROC_DIR``)
is the directory where the workers of one server pool their metrics
(``web.metrics``); without it the app counts alone. ``EXPIRY_SWEEP_SECONDS``
(optional; 0 or None disables it) runs a daemon thread that voids expired
pending credits every so many seconds. The thread starts
with the first request, not in the factory, so that a pre-forking server
(gunicorn ``--preload``) starts one per worker instead of losing it at fork.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from ledger.application import TimeBank
from ledger.config import Settings, open_bank
from web import problems, request_log
from projections.queries import ReadModels
from web.auth import EXTENSION, READ_MODELS
from web.blueprints import register as register_blueprints
from web.encoding import OrjsonProvider
from web.metrics import MULTIPROC_ENV, Metrics
from web.sweepers import Sweeper

SWEEPER_EXTENSION = "civic_ledger.sweeper"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """A configured Flask application over one time bank."""
    config = dict(config or {})
    app = Flask(__name__, static_folder=None)
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20  # a command is a few hundred bytes
    app.config["LOG_PUBLIC"] = os.environ.get("CIVIC_LEDGER_LOG_PUBLIC", "") in ("1", "true")
    app.config["METRICS_DIR"] = os.environ.get(MULTIPROC_ENV) or None
    app.config.update({k: v for k, v in config.items() if k != "LEDGER"})
    app.json.sort_keys = False  # type: ignore[attr-defined]
    bank = config["LEDGER"] if config.get("LEDGER") is not None else _open_bank(config)
    app.extensions[EXTENSION] = bank
    app.extensions[READ_MODELS] = ReadModels(bank)
    request_log.install(app, Metrics(app.config["METRICS_DIR"]))
    problems.register(app)
    register_blueprints(app)
    interval = config.get("EXPIRY_SWEEP_SECONDS")
    if interval:
        sweeper = Sweeper("expiry-sweeper", app.extensions[READ_MODELS].expire_pending,
                          float(interval), app.logger, "voided %d expired pending credits")
        app.extensions[SWEEPER_EXTENSION] = sweeper
        app.before_request(sweeper.start)
    return app


def _open_bank(config: Mapping[str, Any]) -> TimeBank:
    keys_dir = config.get("KEYS_DIR")
    settings = Settings.from_env(os.environ, database_url=config.get("DATABASE_URL"),
                                 keys_dir=str(keys_dir) if keys_dir else None)
    return open_bank(settings)
