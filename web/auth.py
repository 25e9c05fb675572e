"""Who is calling, and the ledger they call: the request's collaborators.

A request names its caller with ``Authorization: Bearer <token>``; the token is
checked by the ledger's token store and the resulting principal is kept for
the rest of the request. *Whether* the principal may act is decided by the
pure policy in ``ledger.access``; this module only feeds it the request.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, TypeVar
from uuid import UUID

from flask import current_app, g, request

from domain.errors import NotFound, Unauthenticated
from ledger.access import Action, acting_as, allowed, authorise
from ledger.application import TimeBank
from ledger.tokens import Principal
from projections.queries import ReadModels

T = TypeVar("T")
EXTENSION = "civic_ledger"
READ_MODELS = "civic_ledger.read_models"


def ledger() -> TimeBank:
    """The application's time bank (``app.extensions["civic_ledger"]``)."""
    bank: TimeBank = current_app.extensions[EXTENSION]
    return bank


def read_models() -> ReadModels:
    """The application's read models (``app.extensions["civic_ledger.read_models"]``)."""
    models: ReadModels = current_app.extensions[READ_MODELS]
    return models


def principal() -> Principal:
    """The authenticated caller, or :class:`Unauthenticated`."""
    if "principal" not in g:
        g.principal = _authenticate(request.headers.get("Authorization", ""))
    found: Principal = g.principal
    return found


def permit(action: Action, accounts: Collection[UUID] = ()) -> Principal:
    """The caller, when the policy lets them perform ``action`` on ``accounts``."""
    return authorise(principal(), action, accounts)


def may(action: Action, accounts: Collection[UUID] = ()) -> bool:
    """True when the (authenticated) caller may perform ``action`` on ``accounts``."""
    return allowed(principal(), action, accounts)


def found(action: Action, look_up: Callable[[], T]) -> T:
    """What ``look_up`` finds by an id the caller sent, before authorising
    ``action`` on it, without letting the caller probe which ids exist.

    When nothing is found, only a caller who may perform ``action`` on any
    account learns so (404, ``NotFound``); every other caller gets the refusal
    (403) it gets for someone else's record, in the same words.
    """
    try:
        return look_up()
    except NotFound:
        permit(action)  # passes only a caller whose permission reaches any account
        raise


def _authenticate(header: str) -> Principal:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send Authorization: Bearer <token>", field="Authorization")
    found = ledger().tokens.authenticate(token.strip())
    if found is None:
        raise Unauthenticated("the bearer token is unknown or revoked", field="Authorization")
    return found


def authenticate_request() -> None:
    """A ``before_request`` hook: refuse an unauthenticated caller before anything else."""
    principal()


def act(action: Action, data: dict[str, Any], accounts: Collection[UUID] = (),
        member: UUID | None = None) -> dict[str, Any]:
    """Authorise ``action`` on ``accounts``; then how to record it, as keyword arguments.

    Takes ``channel`` and ``on_behalf_of`` out of the loaded ``data`` (the rest
    is the command itself) and returns ``actor``, ``channel`` and
    ``on_behalf_of`` as ``ledger.access.acting_as`` decides them.
    """
    who = permit(action, accounts)
    acting = acting_as(who, channel=data.pop("channel", None),
                       on_behalf_of=data.pop("on_behalf_of", None), member=member)
    return {"actor": acting.actor, "channel": acting.channel,
            "on_behalf_of": acting.on_behalf_of}  # asdict() copies deeply: slower
