"""Transfers of every kind: reading one, and reversing a posted one.

A reversal is a new transfer in the other direction, linked to the original;
its id is derived from the original's, so asking twice reverses once (the
second answer carries ``"created": false``).
"""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ledger.access import Action
from web.auth import act, found, ledger, permit
from web.schemas import ReversalIn, TransferOut, body, shared

bp = Blueprint("transfers", __name__, url_prefix="/v1/transfers")


@bp.get("/<uuid:transfer_id>")
def read_transfer(transfer_id: UUID) -> ResponseReturnValue:
    """One transfer, for staff, auditors and the accounts on either side."""
    view = found(Action.READ_TRANSFER, lambda: ledger().transfer(transfer_id))
    permit(Action.READ_TRANSFER, [view.debit_account, view.credit_account])
    return shared(TransferOut).dump(view)


@bp.post("/<uuid:transfer_id>/reversal")
def reverse_transfer(transfer_id: UUID) -> ResponseReturnValue:
    """Undo a posted transfer (staff and administrators)."""
    data = body(shared(ReversalIn))
    reason = data.pop("reason", None) or ""
    acting = act(Action.REVERSE, data)
    view = ledger().reverse(transfer_id, reason=reason, **acting)
    return shared(TransferOut).dump(view), 201
