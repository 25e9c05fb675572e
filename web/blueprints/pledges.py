"""Pledges to keep a convention version: made, withdrawn, renewed, checked in.

A member pledges online for themself; staff record pledges made at the service
window or on a numbered paper form. A member pledges a version once (the id
derives from both), so sending the same pledge again answers 201 with
``"created": false``. When a new version is adopted, pledges to the old one
show ``renewal_due``; renewing pledges the version now adopted. Check-ins are
the member's own reports. Members read their own pledges; staff, auditors and
mediators read all.
"""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ledger.access import Action
from web.auth import found, permit
from web.civic import civic, civic_queries
from web.civic_schemas import (
    CheckInIn,
    PledgeIn,
    PledgeOut,
    PledgeQuery,
    PledgesOut,
    RenewalIn,
    WithdrawalIn,
)
from web.schemas import body, query, shared

bp = Blueprint("pledges", __name__, url_prefix="/v1/pledges")


@bp.post("")
def make_pledge() -> ResponseReturnValue:
    """Pledge a member to an adopted convention version."""
    data = body(shared(PledgeIn))
    who = permit(Action.MAKE_PLEDGE, [data["member_account_id"]])
    view = civic().conventions.pledge(data.pop("convention_id"),
                                      data.pop("member_account_id"), **data, actor=who.actor)
    return shared(PledgeOut).dump(view), 201


@bp.get("")
def list_pledges() -> ResponseReturnValue:
    """A member's pledges (`member`) or a version's (`convention`), with their status."""
    asked = query(shared(PledgeQuery))
    permit(Action.READ_PLEDGE, [asked["member"]] if asked["member"] else [])
    return shared(PledgesOut).dump({"pledges": civic_queries().pledges(**asked)})


@bp.get("/<uuid:pledge_id>")
def read_pledge(pledge_id: UUID) -> ResponseReturnValue:
    """One pledge with its check-ins."""
    view = found(Action.READ_PLEDGE, lambda: civic_queries().pledge(pledge_id))
    permit(Action.READ_PLEDGE, [UUID(view["member"])])
    return shared(PledgeOut).dump(view)


@bp.post("/<uuid:pledge_id>/withdrawal")
def withdraw(pledge_id: UUID) -> ResponseReturnValue:
    """Withdraw a pledge, giving a reason code."""
    data = body(shared(WithdrawalIn))
    who = permit(Action.MAKE_PLEDGE, [_member(Action.MAKE_PLEDGE, pledge_id)])
    return shared(PledgeOut).dump(civic().conventions.withdraw_pledge(pledge_id, **data,
                                                                actor=who.actor))


@bp.post("/<uuid:pledge_id>/renewal")
def renew(pledge_id: UUID) -> ResponseReturnValue:
    """Renew a pledge due for renewal: a new pledge to the version now adopted."""
    data = body(shared(RenewalIn))
    who = permit(Action.MAKE_PLEDGE, [_member(Action.MAKE_PLEDGE, pledge_id)])
    return shared(PledgeOut).dump(civic().conventions.renew(pledge_id, **data,
                                                      actor=who.actor)), 201


@bp.post("/<uuid:pledge_id>/check-ins")
def check_in(pledge_id: UUID) -> ResponseReturnValue:
    """The member reports whether they kept the convention on one day."""
    data = body(shared(CheckInIn))
    who = permit(Action.CHECK_IN_PLEDGE, [_member(Action.CHECK_IN_PLEDGE, pledge_id)])
    return shared(PledgeOut).dump(civic().conventions.check_in(pledge_id, **data,
                                                         actor=who.actor)), 201


def _member(action: Action, pledge_id: UUID) -> UUID:
    """The pledging member's account id (as the pledge record holds it)."""
    return found(action, lambda: civic().conventions.pledge_record(pledge_id))["member"]
