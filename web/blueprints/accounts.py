"""Accounts of every kind: balances, limits and history, in whole minutes.

History is newest first and paged by version: ``next`` is the ``before``
value for the following page, or null on the last one (versions of an account
run 1, 2, 3 ... without gaps, so the page ending at version 1 is the last).
"""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ledger.access import Action
from ledger.views import HistoryEntry
from web.auth import ledger, permit
from web.schemas import AccountOut, HistoryOut, HistoryQuery, query

bp = Blueprint("accounts", __name__, url_prefix="/v1/accounts")


@bp.get("/<uuid:account_id>")
def read_account(account_id: UUID) -> ResponseReturnValue:
    """Balance, pending amounts, available minutes and the limits in force."""
    permit(Action.READ_ACCOUNT, [account_id])
    return AccountOut().dump(ledger().account(account_id))


@bp.get("/<uuid:account_id>/history")
def account_history(account_id: UUID) -> ResponseReturnValue:
    """One page of the account's entries, newest first."""
    permit(Action.READ_ACCOUNT, [account_id])
    page = query(HistoryQuery())
    entries = ledger().history(account_id, before=page.get("before"), limit=page["limit"])
    return HistoryOut().dump({"entries": entries, "next": _next_cursor(entries)})


def _next_cursor(entries: list[HistoryEntry]) -> int | None:
    return entries[-1].version if entries and entries[-1].version > 1 else None
