"""Service credits: an organisation (or the issuance account) pays a volunteer.

The client chooses the credit's id, so a retried request lands once: the same
body again answers 201 with the original transfer and ``"created": false``; a
different body under the same id is a 422 ``idempotency_conflict``. A pending
credit reserves the minutes until it is confirmed or voided.
"""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint
from flask.typing import ResponseReturnValue

from domain.transfers import TransferKind, TransferRequest
from ledger.access import Action
from web.auth import act, found, ledger
from web.schemas import ConfirmIn, CreditIn, TransferOut, VoidIn, body, shared

bp = Blueprint("credits", __name__, url_prefix="/v1/credits")


@bp.post("")
def record_credit() -> ResponseReturnValue:
    """Record a service credit, posted or pending."""
    data = body(shared(CreditIn))
    acting = act(Action.RECORD_CREDIT, data, [data["debit_account_id"]])
    view = ledger().record(TransferRequest(kind=TransferKind.SERVICE_CREDIT.value,
                                           **data, **acting))
    return shared(TransferOut).dump(view), 201


@bp.post("/<uuid:credit_id>/confirm")
def confirm_credit(credit_id: UUID) -> ResponseReturnValue:
    """Post a pending credit (confirming a posted one again changes nothing)."""
    data = body(shared(ConfirmIn))
    acting = act(Action.SETTLE_CREDIT, data, [_payer(credit_id)])
    view = ledger().confirm(credit_id, actor=acting["actor"], channel=acting["channel"])
    return shared(TransferOut).dump(view)


@bp.post("/<uuid:credit_id>/void")
def void_credit(credit_id: UUID) -> ResponseReturnValue:
    """Release a pending credit's reservation (voiding a voided one changes nothing)."""
    data = body(shared(VoidIn))
    acting = act(Action.SETTLE_CREDIT, data, [_payer(credit_id)])
    view = ledger().void(credit_id, actor=acting["actor"], reason=data["reason"])
    return shared(TransferOut).dump(view)


def _payer(credit_id: UUID) -> UUID:
    """The account that pays the credit (whose staff may settle it)."""
    return found(Action.SETTLE_CREDIT, lambda: ledger().transfer(credit_id)).debit_account
