"""Communities: registering a time bank and changing its rules (administrators)."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ledger.access import Action
from web.auth import ledger, permit
from web.schemas import CommunityIn, CommunityOut, RulesIn, body

bp = Blueprint("communities", __name__, url_prefix="/v1/communities")


@bp.post("")
def register_community() -> ResponseReturnValue:
    """Register a community with its issuance account and pool; idempotent by id."""
    permit(Action.REGISTER_COMMUNITY)
    data = body(CommunityIn())
    community = ledger().register_community(data["name"], rules=data.get("rules"),
                                            community_id=data.get("community_id"))
    return CommunityOut().dump(community), 201


@bp.get("/<uuid:community_id>")
def read_community(community_id: UUID) -> ResponseReturnValue:
    """A community's name, rules and system accounts."""
    permit(Action.READ_COMMUNITY)
    return CommunityOut().dump(ledger().community(community_id))


@bp.patch("/<uuid:community_id>/rules")
def change_rules(community_id: UUID) -> ResponseReturnValue:
    """Adopt a new version of the rules; the body holds only the changed limits."""
    permit(Action.CHANGE_RULES)
    changes = body(RulesIn())
    return CommunityOut().dump(ledger().change_rules(community_id, changes))
