"""The API's blueprints, one per resource, and how they are mounted.

Every ``/v1`` blueprint authenticates its caller before anything else, so an
anonymous request is answered 401 whatever else is wrong with it.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from web.auth import authenticate_request
from web.blueprints import (
    accounts,
    communities,
    conventions,
    credits,
    donations,
    gifts,
    health,
    log,
    mediation,
    members,
    metrics,
    openapi,
    organisations,
    partners,
    pledges,
    redemptions,
    transfers,
)

PUBLIC: tuple[Blueprint, ...] = (health.bp, metrics.bp, openapi.bp,
                                 log.bp,  # log guards itself
                                 partners.signed)  # signed by the partner instead
GUARDED: tuple[Blueprint, ...] = (communities.bp, members.bp, organisations.bp, credits.bp,
                                  redemptions.bp, gifts.bp, donations.bp, transfers.bp,
                                  accounts.bp, partners.bp,
                                  conventions.bp, pledges.bp, mediation.bp)  # civic


def register(app: Flask) -> None:
    """Mount every blueprint on ``app``."""
    for blueprint in PUBLIC:
        app.register_blueprint(blueprint)
    for blueprint in GUARDED:
        app.register_blueprint(blueprint)
        app.before_request_funcs.setdefault(blueprint.name, []).append(authenticate_request)
