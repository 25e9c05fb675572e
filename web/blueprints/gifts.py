"""Gifts: a member (or the community pool) gives minutes to a member.

``service_date`` defaults to today (UTC, by the ledger's clock); a client
that may retry across midnight should send it. Idempotent by the client's id.
"""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from domain.transfers import TransferKind, TransferRequest
from ledger.access import Action
from web.auth import act, ledger
from web.schemas import GiftIn, TransferOut, body, shared

bp = Blueprint("gifts", __name__, url_prefix="/v1/gifts")


@bp.post("")
def record_gift() -> ResponseReturnValue:
    """Move minutes from one member to another."""
    data = body(shared(GiftIn))
    giver = data["debit_account_id"]
    acting = act(Action.MOVE_MEMBER_TIME, data, [giver], member=giver)
    data.setdefault("service_date", ledger().clock().date().isoformat())
    view = ledger().record(TransferRequest(kind=TransferKind.GIFT.value, pending=False,
                                           **data, **acting))
    return shared(TransferOut).dump(view), 201
