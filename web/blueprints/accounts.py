"""Accounts of every kind: balances, statements and as-of balances, from the read models.

Reads are read-your-writes: the read models are caught up to the log position
seen when the request began before answering. Statements are newest first and
paged by entry number: ``next`` is the ``before`` value for the following page,
or null on the last one; entry numbers only grow, so pages are stable while
new entries arrive.
"""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, Response
from flask.typing import ResponseReturnValue

from ledger.access import Action
from projections.queries import STATEMENT_COLUMNS, to_csv
from web.auth import permit, read_models
from web.read_schemas import AsOfOut, AsOfQuery, StatementOut, StatementQuery
from web.schemas import AccountOut, query, shared

bp = Blueprint("accounts", __name__, url_prefix="/v1/accounts")


@bp.get("/<uuid:account_id>")
def read_account(account_id: UUID) -> ResponseReturnValue:
    """Balance, pending amounts, available minutes and the limits in force."""
    permit(Action.READ_ACCOUNT, [account_id])
    return shared(AccountOut).dump(read_models().account(account_id))


@bp.get("/<uuid:account_id>/history")
def account_history(account_id: UUID) -> ResponseReturnValue:
    """One page of the statement, newest first, with running balances (CSV with
    ``format=csv``)."""
    permit(Action.READ_ACCOUNT, [account_id])
    page = query(shared(StatementQuery))
    statement = read_models().statement(account_id, before=page["before"],
                                        limit=page["limit"])
    if page["format"] == "csv":
        return Response(to_csv(statement["entries"], STATEMENT_COLUMNS), mimetype="text/csv")
    return shared(StatementOut).dump(statement)


@bp.get("/<uuid:account_id>/balance")
def balance_as_of(account_id: UUID) -> ResponseReturnValue:
    """The balance as of a past time (``at``) or log index (``log_index``)."""
    permit(Action.READ_ACCOUNT, [account_id])
    asked = query(shared(AsOfQuery))
    return shared(AsOfOut).dump(read_models().balance_as_of(account_id, at=asked["at"],
                                                      log_index=asked["log_index"]))
