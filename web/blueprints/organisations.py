"""Partner organisations: opening their account, setting their budget, their report."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue

from ledger.access import Action
from projections.queries import to_csv
from web.auth import ledger, permit, read_models
from web.read_schemas import OrganisationReportOut, ReportQuery
from web.schemas import AccountOut, BudgetIn, OrganisationIn, body, query, shared

REPORT_COLUMNS = ("month", "category", "volunteer", "minutes", "transfers")

bp = Blueprint("organisations", __name__, url_prefix="/v1/organisations")


@bp.post("")
def open_organisation() -> ResponseReturnValue:
    """Open an organisation's account with a budget in minutes; idempotent by id."""
    permit(Action.OPEN_ORGANISATION)
    data = body(shared(OrganisationIn))
    account = ledger().open_organisation(data["community_id"], data["name"],
                                         budget=data["budget"],
                                         account_id=data.get("account_id"))
    return shared(AccountOut).dump(account), 201


@bp.post("/<uuid:organisation_id>/budget")
def set_budget(organisation_id: UUID) -> ResponseReturnValue:
    """Change how many minutes the organisation may issue in total."""
    permit(Action.SET_BUDGET, [organisation_id])
    data = body(shared(BudgetIn))
    return shared(AccountOut).dump(ledger().set_budget(organisation_id, data["budget"]))


@bp.get("/<uuid:organisation_id>/report")
def report(organisation_id: UUID) -> ResponseReturnValue:
    """Minutes credited by month, category and volunteer; budget used (CSV with
    ``format=csv``)."""
    permit(Action.READ_REPORT, [organisation_id])
    fmt = query(shared(ReportQuery))["format"]
    found = read_models().organisation_report(organisation_id)
    if fmt == "csv":
        return Response(to_csv(found["rows"], REPORT_COLUMNS), mimetype="text/csv")
    return shared(OrganisationReportOut).dump(found)
