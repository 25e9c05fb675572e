"""Bodies of the read models: statements, balances as of a moment, partner
reports and community dashboards (``projections.queries``).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from web.schemas import INT64_MAX, Input, Primitive


class AsOfQuery(Input):
    """A past moment: a time (ISO 8601 with offset) or a log index."""

    at = fields.AwareDateTime(load_default=None)
    log_index = fields.Integer(load_default=None, validate=validate.Range(min=0, max=INT64_MAX))


class StatementQuery(Input):
    """A page of a statement, newest first."""

    before = fields.Integer(load_default=None, validate=validate.Range(min=1, max=INT64_MAX))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class ReportQuery(Input):
    """JSON or CSV."""

    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class StatementEntryOut(Schema):
    """One statement line: a movement (or a change of the account) and the balances after it."""

    entry_no = fields.Integer()
    at = fields.String()
    log_index = fields.Integer(metadata={"description": "leaf index of the event in the log"})
    event = fields.String()
    transfer_id = fields.String(allow_none=True)
    kind = fields.String(allow_none=True)
    direction = fields.String(allow_none=True)
    phase = fields.String(allow_none=True, metadata={
        "description": "posted, pending, settled (pending became posted) or released"})
    minutes = fields.Integer(allow_none=True)
    counterparty = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    service_date = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    on_behalf_of = fields.String(allow_none=True)
    channel = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    balance_after = fields.Integer()
    pending_in_after = fields.Integer()
    pending_out_after = fields.Integer()


class StatementOut(Schema):
    """A page of a statement, newest first; `next` is the `before` of the next page, or null."""

    account = fields.String()
    entries = fields.List(fields.Nested(StatementEntryOut))
    next = fields.Integer(allow_none=True)


class AsOfOut(Schema):
    """Balances after the last entry at or before the moment asked for."""

    account = fields.String()
    as_of = fields.Dict(keys=fields.String(), values=Primitive())
    balance = fields.Integer()
    pending_in = fields.Integer()
    pending_out = fields.Integer()
    entry_no = fields.Integer(allow_none=True)
    log_index = fields.Integer(allow_none=True)


class ReportRowOut(Schema):
    """Minutes credited by an organisation in one month and category to one volunteer."""

    month = fields.String()
    category = fields.String()
    volunteer = fields.String()
    minutes = fields.Integer()
    transfers = fields.Integer()


class OrganisationReportOut(Schema):
    """An organisation's credits by month, category and volunteer, and its budget."""

    organisation = fields.String()
    budget = fields.Integer()
    budget_used = fields.Integer()
    pending = fields.Integer()
    total_minutes = fields.Integer()
    rows = fields.List(fields.Nested(ReportRowOut))


class MonthOut(Schema):
    """Minutes earned and redeemed in one month (by service date)."""

    month = fields.String()
    earned = fields.Integer()
    redeemed = fields.Integer()


class CategoryOut(Schema):
    """Minutes credited in one category."""

    category = fields.String()
    minutes = fields.Integer()


class DashboardOut(Schema):
    """A community at a glance, for its coordinators."""

    members = fields.Integer()
    active_members_90_days = fields.Integer()
    months = fields.List(fields.Nested(MonthOut))
    outstanding_minutes = fields.Integer(metadata={
        "description": "credits held by members: what the community owes in services"})
    redeemed_minutes_90_days = fields.Integer(metadata={
        "description": "redemptions in the last 90 days: the capacity actually offered"})
    outstanding_days_of_redemption = fields.Integer(allow_none=True, metadata={
        "description": "outstanding minutes as days of redemption at the last 90 days' "
                       "pace; null when nothing was redeemed"})
    pool_balance = fields.Integer()
    top_categories = fields.List(fields.Nested(CategoryOut))
