"""Residents' conventions: drafting, adopting by a meeting's vote, filing, new versions.

A convention's text never changes once adopted: an amendment is a new version
(``POST /v1/conventions/<id>/versions``) whose adoption supersedes the old one;
pledges to the old version then fall due for renewal. Staff and administrators
write; every role reads (conventions are public texts, with pledge counts only).
"""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ledger.access import Action
from web.auth import permit
from web.civic import civic, civic_queries
from web.civic_schemas import (
    AdoptionIn,
    ConventionIn,
    ConventionOut,
    ConventionQuery,
    ConventionsOut,
    ConventionVersionIn,
    FilingIn,
    RetirementIn,
)
from web.schemas import body, query, shared

bp = Blueprint("conventions", __name__, url_prefix="/v1/conventions")


@bp.post("")
def draft_convention() -> ResponseReturnValue:
    """Draft version 1 of a convention; idempotent by `id`."""
    who = permit(Action.MANAGE_CONVENTION)
    data = body(shared(ConventionIn))
    return shared(ConventionOut).dump(civic().conventions.draft(**data, actor=who.actor)), 201


@bp.post("/<uuid:convention_id>/versions")
def draft_version(convention_id: UUID) -> ResponseReturnValue:
    """Draft the next version of an adopted convention; idempotent by `id`."""
    who = permit(Action.MANAGE_CONVENTION)
    data = body(shared(ConventionVersionIn))
    view = civic().conventions.draft_version(convention_id, **data, actor=who.actor)
    return shared(ConventionOut).dump(view), 201


@bp.post("/<uuid:convention_id>/adoption")
def adopt(convention_id: UUID) -> ResponseReturnValue:
    """Adopt a draft by the meeting's vote; a later version supersedes the one it amends."""
    who = permit(Action.MANAGE_CONVENTION)
    vote = body(shared(AdoptionIn))
    return shared(ConventionOut).dump(civic().conventions.adopt(convention_id, vote,
                                                          actor=who.actor))


@bp.post("/<uuid:convention_id>/filing")
def file_convention(convention_id: UUID) -> ResponseReturnValue:
    """Record the filing of the adopted text with the local government."""
    who = permit(Action.MANAGE_CONVENTION)
    data = body(shared(FilingIn))
    return shared(ConventionOut).dump(civic().conventions.file(convention_id, **data,
                                                         actor=who.actor))


@bp.post("/<uuid:convention_id>/retirement")
def retire(convention_id: UUID) -> ResponseReturnValue:
    """End a draft or adopted convention without a successor (its pledges lapse)."""
    who = permit(Action.MANAGE_CONVENTION)
    data = body(shared(RetirementIn))
    return shared(ConventionOut).dump(civic().conventions.retire(convention_id, **data,
                                                           actor=who.actor))


@bp.get("")
def list_conventions() -> ResponseReturnValue:
    """Every version with its text hash and pledge counts (texts left out)."""
    permit(Action.READ_CONVENTION)
    asked = query(shared(ConventionQuery))
    return shared(ConventionsOut).dump({"conventions": civic_queries().conventions(**asked)})


@bp.get("/<uuid:convention_id>")
def read_convention(convention_id: UUID) -> ResponseReturnValue:
    """One version: text, hash, adoption, filing, pledge counts, every version of it."""
    permit(Action.READ_CONVENTION)
    return shared(ConventionOut).dump(civic_queries().convention(convention_id))
