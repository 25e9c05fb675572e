"""Partner organisations: opening their account and setting their budget."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ledger.access import Action
from web.auth import ledger, permit
from web.schemas import AccountOut, BudgetIn, OrganisationIn, body

bp = Blueprint("organisations", __name__, url_prefix="/v1/organisations")


@bp.post("")
def open_organisation() -> ResponseReturnValue:
    """Open an organisation's account with a budget in minutes; idempotent by id."""
    permit(Action.OPEN_ORGANISATION)
    data = body(OrganisationIn())
    account = ledger().open_organisation(data["community_id"], data["name"],
                                         budget=data["budget"],
                                         account_id=data.get("account_id"))
    return AccountOut().dump(account), 201


@bp.post("/<uuid:organisation_id>/budget")
def set_budget(organisation_id: UUID) -> ResponseReturnValue:
    """Change how many minutes the organisation may issue in total."""
    permit(Action.SET_BUDGET, [organisation_id])
    data = body(BudgetIn())
    return AccountOut().dump(ledger().set_budget(organisation_id, data["budget"]))
