"""The verifiable log, read-only: checkpoint, key, entries and RFC 9162 proofs.

Readable by auditors (and staff and admins), or by anyone when the app is
configured with ``LOG_PUBLIC`` (env ``CIVIC_LEDGER_LOG_PUBLIC=1``), as a
community that publishes its log for witnesses would. ``/checkpoint`` and
``/key`` answer ``text/plain`` in the C2SP formats so that existing
transparency-log tools read them unchanged.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from flask.typing import ResponseReturnValue

from ledger.access import Action
from web.auth import ledger, permit
from web.log_schemas import (ConsistencyOut, ConsistencyQuery, InclusionOut, InclusionQuery,
                             LogEntriesOut, LogEntriesQuery)
from web.schemas import query, shared

bp = Blueprint("log", __name__, url_prefix="/v1/log")


@bp.before_request
def guard() -> None:
    """Auditors, staff and admins, unless the log is published."""
    if not current_app.config.get("LOG_PUBLIC"):
        permit(Action.READ_LOG)


@bp.get("/checkpoint")
def checkpoint() -> ResponseReturnValue:
    """The latest signed checkpoint (C2SP tlog-checkpoint signed note)."""
    return Response(ledger().audit_log.checkpoint(), mimetype="text/plain")


@bp.get("/key")
def key() -> ResponseReturnValue:
    """The log's verifier key (C2SP vkey)."""
    return Response(ledger().audit_log.vkey() + "\n", mimetype="text/plain")


@bp.get("/entries")
def entries() -> ResponseReturnValue:
    """Leaves from ``start``, in index order, with their exact leaf data."""
    page = query(shared(LogEntriesQuery))
    found = ledger().audit_log.entries(page["start"], page["limit"])
    return shared(LogEntriesOut).dump({"entries": found})


@bp.get("/proofs/inclusion")
def inclusion() -> ResponseReturnValue:
    """Proof that leaf ``index`` is in the tree of ``size``."""
    asked = query(shared(InclusionQuery))
    log = ledger().audit_log
    proof = log.inclusion(asked["index"], asked["size"])
    return shared(InclusionOut).dump({**asked, "leaf_hash": log.leaf_hash(asked["index"]),
                                "proof": proof})


@bp.get("/proofs/consistency")
def consistency() -> ResponseReturnValue:
    """Proof that the tree of ``from`` is a prefix of the tree of ``to``."""
    asked = query(shared(ConsistencyQuery))
    proof = ledger().audit_log.consistency(asked["from_"], asked["to"])
    return shared(ConsistencyOut).dump({**asked, "proof": proof})
