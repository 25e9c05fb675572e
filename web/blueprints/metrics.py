"""Prometheus metrics: answers without a token, like ``/healthz``.

Why public: a scraper should not hold a bearer secret that works on the API,
and nothing here is personal (route templates, statuses, command names,
projection lag, the log's size). Deployments that want it private keep
``/metrics`` off the public side of the reverse proxy (docs/OPERATIONS.md).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from flask.typing import ResponseReturnValue

from web.auth import ledger, read_models
from web.metrics import CONTENT_TYPE, Metrics
from web.request_log import METRICS

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    """Every metric in the text exposition format (0.0.4), the ledger's figures read now."""
    counted: Metrics = current_app.extensions[METRICS]
    text = counted.exposition(lambda: (read_models().lag(), ledger().audit_log.size()))
    return Response(text, mimetype=None, content_type=CONTENT_TYPE)
