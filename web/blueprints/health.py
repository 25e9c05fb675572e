"""Liveness: answers without a token so that load balancers can ask."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from web.auth import ledger, read_models
from web.schemas import HealthOut, shared

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is up, on which storage, and how far behind each read model is
    (a stopped one reports ``failed_at`` and ``error``; status is then "degraded")."""
    lag = read_models().lag()
    status = "degraded" if any("failed_at" in p for p in lag.values()) else "ok"
    return shared(HealthOut).dump({"status": status, "storage": ledger().database.backend,
                             "projections": lag})
