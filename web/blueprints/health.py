"""Liveness: answers without a token so that load balancers can ask."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from web.auth import ledger
from web.schemas import HealthOut

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process is up and holds a ledger on the named storage backend."""
    return HealthOut().dump({"status": "ok", "storage": ledger().database.backend})
