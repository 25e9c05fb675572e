"""The shapes of request and response bodies, as marshmallow schemas.

Input schemas check *shape* only — types, ranges, formats — and reject unknown
fields; every business rule (limits, account kinds, eligibility) stays in
``domain/`` so it is stated once. A failure becomes a 422 problem naming the
field (``web.problems``). Loaded data uses the ledger's own names through
``attribute`` (``payer`` -> ``debit_account_id``), so a view can hand it on
unchanged. Output schemas dump the ledger's views; ``web.openapi`` turns both
into the published document, so the contract is written once.

Amounts are whole minutes (JSON integers; ``90.0`` is refused).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

from flask import g, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from domain.rules import CommunityRules
from domain.transfers import Channel

MAX_SAFE_INTEGER = 2**53 - 1  # the largest integer every JSON client reads exactly
CHANNELS = [c.value for c in Channel]


class StrictBoolean(fields.Boolean):
    """Only JSON ``true`` or ``false``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean (use true or false).")
        return value


class IsoDate(fields.Date):
    """A calendar date, loaded as its ISO text (``YYYY-MM-DD``)."""

    # Loaded as text on purpose (events and requests keep the ISO form), so the
    # return type differs from marshmallow's Date.
    def _deserialize(  # type: ignore[override]
            self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        date: dt.date = super()._deserialize(value, attr, data, **kwargs)
        return date.isoformat()

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value if isinstance(value, str) or value is None else value.isoformat()


class Primitive(fields.Raw):
    """Any JSON value; ids and times inside it become text."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return _primitive(value)


def _primitive(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _primitive(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_primitive(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def minutes(**kwargs: Any) -> fields.Integer:
    """Whole minutes: a JSON integer, at least ``minimum``."""
    minimum = kwargs.pop("minimum", 1)
    return fields.Integer(strict=True, validate=validate.Range(minimum, MAX_SAFE_INTEGER),
                          **kwargs)


def text(max_length: int, **kwargs: Any) -> fields.String:
    """Non-empty text of at most ``max_length`` characters."""
    return fields.String(validate=validate.Length(1, max_length), **kwargs)


def channel() -> fields.String:
    """How the command reached us; only staff may choose other than ``api``."""
    return fields.String(validate=validate.OneOf(CHANNELS))


class Input(Schema):
    """A request body: unknown fields are refused."""

    class Meta:
        unknown = RAISE


# Rule changes: every changeable limit, optional, as whole minutes.
RulesIn = Input.from_dict({name: fields.Integer(strict=True) for name in CommunityRules.names()},
                          name="RulesIn")


class CommunityIn(Input):
    """A new community; `rules` overrides the default limits."""

    id = fields.UUID(attribute="community_id")
    name = text(200, required=True)
    rules = fields.Nested(RulesIn)


class ProfileIn(Input):
    """A member's personal fields, stored encrypted and erasable."""

    display_name = text(200)
    phone = text(50)
    address = text(500)


class MemberIn(Input):
    """A new member of a community."""

    id = fields.UUID(attribute="account_id")
    community = fields.UUID(required=True, attribute="community_id")
    profile = fields.Nested(ProfileIn)


class OrganisationIn(Input):
    """A partner organisation; `budget` is how many minutes it may issue."""

    id = fields.UUID(attribute="account_id")
    community = fields.UUID(required=True, attribute="community_id")
    name = text(200, required=True)
    budget = minutes(minimum=0, required=True)


class BudgetIn(Input):
    """An organisation's new budget in minutes."""

    budget = minutes(minimum=0, required=True)


class _MoveIn(Input):
    """What every recorded transfer carries."""

    id = fields.UUID(required=True, attribute="transfer_id")
    minutes = minutes(required=True)
    channel = channel()
    on_behalf_of = fields.UUID()


class CreditIn(_MoveIn):
    """A service credit: `payer` (an organisation or the issuance account) pays `volunteer`."""

    payer = fields.UUID(required=True, attribute="debit_account_id")
    volunteer = fields.UUID(required=True, attribute="credit_account_id")
    category = text(100, required=True)
    service_date = IsoDate(required=True)
    pending = StrictBoolean(load_default=False)


class RedemptionIn(_MoveIn):
    """A redemption: `member` pays `provider` for a service."""

    member = fields.UUID(required=True, attribute="debit_account_id")
    provider = fields.UUID(required=True, attribute="credit_account_id")
    category = text(100, required=True)
    service_date = IsoDate(required=True)


class GiftIn(_MoveIn):
    """A gift between members (or from the community pool)."""

    from_ = fields.UUID(required=True, data_key="from", attribute="debit_account_id")
    to = fields.UUID(required=True, attribute="credit_account_id")
    category = text(100, load_default="")
    service_date = IsoDate()


class DonationIn(GiftIn):
    """A donation into a pool; `to` defaults to the giver's community pool."""

    to = fields.UUID(attribute="credit_account_id")


class ConfirmIn(Input):
    """Optional body of a confirmation."""

    channel = channel()


class VoidIn(Input):
    """Optional body of a void."""

    reason = text(500, load_default="voided")


class ReversalIn(Input):
    """Optional body of a reversal."""

    reason = text(500)
    channel = channel()
    on_behalf_of = fields.UUID()


INT64_MAX = 2**63 - 1  # the largest integer either database stores


# -- responses -----------------------------------------------------------------------


class CommunityOut(Schema):
    """A community, its rules (whole minutes) and its system accounts."""

    id = fields.UUID()
    name = fields.String()
    rules = fields.Dict(keys=fields.String(), values=fields.Integer())
    issuance_account = fields.UUID()
    pool_account = fields.UUID()
    log_indexes = fields.List(fields.Integer(), metadata={
        "description": "leaf indexes in the verifiable log of the events this write "
                       "appended (empty on a replay or a read)"})


class AccountOut(Schema):
    """An account's balances and limits in whole minutes; `available` is null when unbounded."""

    id = fields.UUID()
    kind = fields.String()
    community = fields.UUID(attribute="community_id")
    label = fields.String()
    balance = fields.Integer()
    pending_in = fields.Integer()
    pending_out = fields.Integer()
    available = fields.Integer(allow_none=True)
    limits = fields.Dict(keys=fields.String(), values=Primitive())
    erased = fields.Boolean()
    version = fields.Integer()
    log_indexes = fields.List(fields.Integer(), metadata={
        "description": "leaf indexes in the verifiable log of the events this write "
                       "appended (empty on a replay or a read)"})


class MemberOut(Schema):
    """A member; `profile` only for those allowed to read personal data, null once erased."""

    id = fields.UUID(attribute="account.id")
    erased = fields.Boolean()
    profile = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    account = fields.Nested(AccountOut)
    log_indexes = fields.List(fields.Integer(), attribute="account.log_indexes")


class TransferOut(Schema):
    """A transfer; `created` is false when a retried request returned the original."""

    id = fields.UUID()
    kind = fields.String()
    state = fields.String()
    community = fields.UUID(attribute="community_id")
    debit_account = fields.UUID()
    credit_account = fields.UUID()
    minutes = fields.Integer()
    category = fields.String()
    service_date = IsoDate()
    expires_at = fields.DateTime(allow_none=True)
    actor = fields.String()
    on_behalf_of = fields.UUID(allow_none=True)
    channel = fields.String()
    rules_version = fields.Integer()
    reverses = fields.UUID(allow_none=True)
    reversed_by = fields.UUID(allow_none=True)
    reversal_reason = fields.String(allow_none=True)
    void_reason = fields.String(allow_none=True)
    recorded_at = fields.DateTime()
    created = fields.Boolean()
    log_indexes = fields.List(fields.Integer(), metadata={
        "description": "leaf indexes in the verifiable log of the events this write "
                       "appended (empty on a replay or a read)"})


class HealthOut(Schema):
    """Liveness, the storage backend in use, and each read model's lag."""

    status = fields.String()
    storage = fields.String()
    projections = fields.Dict(keys=fields.String(),
                              values=fields.Dict(keys=fields.String(), values=Primitive()))


class ProblemOut(Schema):
    """An RFC 9457 problem; `rule` and `field` name what was refused."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    rule = fields.String()
    field = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


# -- reading the request -----------------------------------------------------------


S = TypeVar("S", bound=Schema)


@cache
def shared(schema: type[S]) -> S:
    """The one instance of a schema class that every request uses.

    Building a schema copies all its fields, which cost more than loading or
    dumping with it; an instance keeps nothing between calls, so one serves
    all requests (and threads)."""
    return schema()


def body(schema: Schema) -> dict[str, Any]:
    """The request's JSON body loaded through ``schema`` (an empty body is ``{}``).

    Remembers the schema's ledger-name -> request-name map, so that a refusal
    naming ``debit_account_id`` is reported against ``payer`` (``web.problems``).
    """
    g.request_fields = _request_names(schema)
    raw = request.get_json() if request.get_data(cache=True) else {}
    loaded: dict[str, Any] = schema.load(raw)
    return loaded


@cache  # one entry per shared schema instance
def _request_names(schema: Schema) -> dict[str, str]:
    """Ledger name -> request name of every field of ``schema`` (read only)."""
    return {f.attribute or name: f.data_key or name for name, f in schema.fields.items()}


def query(schema: Schema) -> dict[str, Any]:
    """The query string loaded through ``schema``."""
    loaded: dict[str, Any] = schema.load(request.args.to_dict())
    return loaded
