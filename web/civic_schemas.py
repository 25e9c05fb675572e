"""Request and response shapes of conventions and pledges (mediation: ``web.mediation_schemas``).

As in ``web.schemas``: inputs check *shape* (types, enumerations, unknown
fields refused) and load under the ledger's names where they differ (``member``
-> ``member_account_id``), so a refusal naming the ledger's field is reported
under the request's. Lengths, dates in the future, quorum, deadlines and every
other rule are the domain's (``domain.conventions``, ``domain.mediation``).
Outputs dump the primitive views of ``ledger.civic`` and
``projections.civic_queries``; ``web.openapi`` publishes both.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from domain.conventions import (
    ConventionScope,
    ConventionStatus,
    PledgeChannel,
    WithdrawalReason,
)
from web.schemas import MAX_SAFE_INTEGER, Input, IsoDate, Primitive, StrictBoolean


def one_of(values: Any, **kwargs: Any) -> fields.String:
    """Text that is one of an enumeration's values."""
    return fields.String(validate=validate.OneOf([v.value for v in values]), **kwargs)


def _count(**kwargs: Any) -> fields.Integer:
    """A whole number, zero or more (a JSON integer)."""
    return fields.Integer(strict=True, validate=validate.Range(0, MAX_SAFE_INTEGER), **kwargs)


class Instant(fields.DateTime):
    """An ISO 8601 instant, whether the view holds a datetime or its text."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value if isinstance(value, str) or value is None else value.isoformat()


LOG_INDEXES = fields.List(fields.Integer(), metadata={
    "description": "leaf indexes in the verifiable log of the events this write appended "
                   "(empty on a replay or a read)"})

# -- conventions ---------------------------------------------------------------------


class ConventionIn(Input):
    """Version 1 of a convention, as a draft; `scope_ref` names the building or village."""

    id = fields.UUID(attribute="convention_id")
    community = fields.UUID(required=True, attribute="community_id")
    scope = one_of(ConventionScope, required=True)
    scope_ref = fields.String(load_default="")
    title = fields.String(required=True)
    text = fields.String(required=True)
    effective_date = IsoDate(required=True)


class ConventionVersionIn(Input):
    """A draft amending an adopted version (same community, scope and lineage)."""

    id = fields.UUID(attribute="convention_id")
    title = fields.String(required=True)
    text = fields.String(required=True)
    effective_date = IsoDate(required=True)


class AdoptionIn(Input):
    """The residents' meeting and its vote (quorum: more than half present, more than
    half of those in favour)."""

    meeting_date = IsoDate(required=True)
    eligible = _count(required=True)
    present = _count(required=True)
    votes_for = _count(required=True)
    votes_against = _count(required=True)
    abstaining = _count(required=True)


class FilingIn(Input):
    """Where and when the adopted text was filed."""

    filed_with = fields.String(required=True)
    filed_on = IsoDate(required=True)
    reference = fields.String(required=True)


class RetirementIn(Input):
    """Ending a convention without a successor."""

    reason = fields.String(required=True)
    retired_on = IsoDate(required=True)


class ConventionQuery(Input):
    """Which conventions."""

    community = fields.UUID(load_default=None)
    status = one_of(ConventionStatus, load_default=None)


class PledgeCountsOut(Schema):
    """Pledges to this version: open ones by what they mean now, and closed ones."""

    active = fields.Integer()
    renewal_due = fields.Integer()
    lapsed = fields.Integer()
    withdrawn = fields.Integer()
    renewed = fields.Integer()


class VersionOut(Schema):
    """One version of a convention."""

    id = fields.UUID()
    version = fields.Integer()
    status = fields.String()
    text_sha256 = fields.String()
    effective_date = IsoDate()


class ConventionOut(Schema):
    """A convention version; reads add `pledges`, `versions` and `log`."""

    id = fields.UUID()
    community = fields.UUID()
    lineage = fields.UUID()
    version = fields.Integer()
    previous_version = fields.UUID(allow_none=True)
    scope = fields.String()
    scope_ref = fields.String()
    title = fields.String()
    text = fields.String()
    text_sha256 = fields.String(metadata={"description": "SHA-256 of the UTF-8 text"})
    effective_date = IsoDate()
    status = fields.String(metadata={"description": "draft, adopted, superseded, retired"})
    adoption = fields.Dict(keys=fields.String(), values=Primitive(), allow_none=True)
    filing = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    superseded_by = fields.UUID(allow_none=True)
    superseded_on = IsoDate(allow_none=True)
    retired_on = IsoDate(allow_none=True)
    retirement_reason = fields.String(allow_none=True)
    pledges = fields.Nested(PledgeCountsOut)
    versions = fields.List(fields.Nested(VersionOut))
    log = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True),
                      metadata={"description": "log indexes: drafted, adopted, filed, "
                                               "ended (superseded or retired)"})
    created = fields.Boolean()
    log_indexes = LOG_INDEXES


class ConventionsOut(Schema):
    """Convention versions, without their texts."""

    conventions = fields.List(fields.Nested(ConventionOut))


# -- pledges ---------------------------------------------------------------------------


class PledgeIn(Input):
    """A member pledges a version: online themself, or through staff at the service
    window or on a numbered paper form."""

    convention = fields.UUID(required=True, attribute="convention_id")
    member = fields.UUID(required=True, attribute="member_account_id")
    channel = one_of(PledgeChannel, load_default="online")
    paper_form_number = fields.String(load_default=None)


class RenewalIn(Input):
    """How the renewal (a pledge to the version now adopted) reached us."""

    channel = one_of(PledgeChannel, load_default="online")
    paper_form_number = fields.String(load_default=None)


class WithdrawalIn(Input):
    """A reason code, never free text about anyone."""

    reason = one_of(WithdrawalReason, required=True)


class CheckInIn(Input):
    """The member's own report for one day of the community's calendar."""

    date = IsoDate(required=True)
    kept = StrictBoolean(required=True)
    note = fields.String(load_default="")


class PledgeQuery(Input):
    """A member's pledges, or a version's."""

    member = fields.UUID(load_default=None)
    convention = fields.UUID(load_default=None)


class CheckInOut(Schema):
    """One self-report."""

    date = IsoDate()
    kept = fields.Boolean()
    note = fields.String()


class PledgeOut(Schema):
    """A pledge; `status` is active, renewal_due, renewed, withdrawn or lapsed."""

    id = fields.UUID()
    member = fields.UUID()
    community = fields.UUID()
    convention = fields.UUID()
    convention_title = fields.String()
    convention_version = fields.Integer()
    status = fields.String()
    channel = fields.String()
    actor = fields.String()
    paper_form_number = fields.String(allow_none=True)
    pledged_at = Instant()
    renews = fields.UUID(allow_none=True)
    renewed_by = fields.UUID(allow_none=True)
    withdrawn_reason = fields.String(allow_none=True)
    check_in_count = fields.Integer()
    kept_days = fields.Integer()
    check_ins = fields.List(fields.Nested(CheckInOut))
    log_index = fields.Integer(metadata={"description": "log index of the pledge"})
    created = fields.Boolean()
    log_indexes = LOG_INDEXES


class PledgesOut(Schema):
    """Pledges, oldest first."""

    pledges = fields.List(fields.Nested(PledgeOut))
