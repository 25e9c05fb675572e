"""Redemptions: a member spends minutes with a provider.

Members redeem from their own account; staff may redeem for a member (at a
service window or from paper), and the event then names the member as the
one they acted for. Idempotent by the client's id, like credits.
"""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from domain.transfers import TransferKind, TransferRequest
from ledger.access import Action
from web.auth import act, ledger
from web.schemas import RedemptionIn, TransferOut, body, shared

bp = Blueprint("redemptions", __name__, url_prefix="/v1/redemptions")


@bp.post("")
def record_redemption() -> ResponseReturnValue:
    """Move minutes from a member to the provider of a service."""
    data = body(shared(RedemptionIn))
    member = data["debit_account_id"]
    acting = act(Action.MOVE_MEMBER_TIME, data, [member], member=member)
    view = ledger().record(TransferRequest(kind=TransferKind.REDEMPTION.value, pending=False,
                                           **data, **acting))
    return shared(TransferOut).dump(view), 201
