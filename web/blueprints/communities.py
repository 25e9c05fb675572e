"""Communities: registering a time bank, changing its rules, its dashboard."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ledger.access import Action
from web.auth import ledger, permit, read_models
from web.read_schemas import DashboardOut
from web.schemas import CommunityIn, CommunityOut, RulesIn, body, shared

bp = Blueprint("communities", __name__, url_prefix="/v1/communities")


@bp.post("")
def register_community() -> ResponseReturnValue:
    """Register a community with its issuance account and pool; idempotent by id."""
    permit(Action.REGISTER_COMMUNITY)
    data = body(shared(CommunityIn))
    community = ledger().register_community(data["name"], rules=data.get("rules"),
                                            community_id=data.get("community_id"))
    return shared(CommunityOut).dump(community), 201


@bp.get("/<uuid:community_id>")
def read_community(community_id: UUID) -> ResponseReturnValue:
    """A community's name, rules and system accounts."""
    permit(Action.READ_COMMUNITY)
    return shared(CommunityOut).dump(ledger().community(community_id))


@bp.patch("/<uuid:community_id>/rules")
def change_rules(community_id: UUID) -> ResponseReturnValue:
    """Adopt a new version of the rules; the body holds only the changed limits."""
    permit(Action.CHANGE_RULES)
    changes = body(shared(RulesIn))
    return shared(CommunityOut).dump(ledger().change_rules(community_id, changes))


@bp.get("/<uuid:community_id>/dashboard")
def dashboard(community_id: UUID) -> ResponseReturnValue:
    """Members active in the last 90 days, minutes earned and redeemed per month,
    outstanding credits against recent redemptions, the pool, top categories."""
    permit(Action.READ_DASHBOARD)
    return shared(DashboardOut).dump(read_models().dashboard(community_id))
