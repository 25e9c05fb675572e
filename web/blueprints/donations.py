"""Donations: a member or organisation gives minutes to the community pool.

``to`` defaults to the giver's community pool; ``service_date`` defaults to
today (UTC, by the ledger's clock). Idempotent by the client's id.
"""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint
from flask.typing import ResponseReturnValue

from domain.communities import pool_account_id
from domain.transfers import TransferKind, TransferRequest
from ledger.access import Action
from web.auth import act, ledger
from web.schemas import DonationIn, TransferOut, body, shared

bp = Blueprint("donations", __name__, url_prefix="/v1/donations")


@bp.post("")
def record_donation() -> ResponseReturnValue:
    """Move minutes from a member or organisation into a pool."""
    data = body(shared(DonationIn))
    giver = data["debit_account_id"]
    acting = act(Action.MOVE_MEMBER_TIME, data, [giver], member=giver)
    data.setdefault("credit_account_id", _pool_of(giver))
    data.setdefault("service_date", ledger().clock().date().isoformat())
    view = ledger().record(TransferRequest(kind=TransferKind.DONATION.value, pending=False,
                                           **data, **acting))
    return shared(TransferOut).dump(view), 201


def _pool_of(account_id: UUID) -> UUID:
    return pool_account_id(ledger().account(account_id).community_id)
