"""Members: opening an account, reading it with personal data, erasing it.

Personal fields are decrypted only for staff, administrators and the member
themself; any other reader gets the member without a ``profile`` member.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ledger.access import Action
from ledger.views import MemberView
from web.auth import ledger, may, permit
from web.schemas import MemberIn, MemberOut, body, shared

bp = Blueprint("members", __name__, url_prefix="/v1/members")


@bp.post("")
def open_member() -> ResponseReturnValue:
    """Open a member account; the profile is stored encrypted. Idempotent by id."""
    permit(Action.OPEN_MEMBER)
    data = body(shared(MemberIn))
    account = ledger().open_member(data["community_id"], profile=data.get("profile"),
                                   account_id=data.get("account_id"))
    return _dump(ledger().member(account.id)), 201


@bp.get("/<uuid:member_id>")
def read_member(member_id: UUID) -> ResponseReturnValue:
    """The member's account and, for those allowed, decrypted personal fields."""
    permit(Action.READ_MEMBER, [member_id])
    return _dump(ledger().member(member_id))


@bp.post("/<uuid:member_id>/erasure")
def erase_member(member_id: UUID) -> ResponseReturnValue:
    """Erase the member's personal data for good; balance and history remain."""
    permit(Action.ERASE_MEMBER, [member_id])
    return _dump(ledger().erase_member(member_id))


def _dump(member: MemberView) -> dict[str, Any]:
    personal = may(Action.READ_PERSONAL_DATA, [member.account.id])
    dumped: dict[str, Any] = MemberOut(exclude=() if personal else ("profile",)).dump(member)
    return dumped
