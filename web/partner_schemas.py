"""Partner organisations' request and response bodies (docs/PARTNERS.md).

A signed posting names no payer: the organisation in the URL pays, so a
partner cannot post for another. Rules as in ``web.schemas``: shape only.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from web.schemas import Input, IsoDate, StrictBoolean, minutes, text


BATCH_MODES = ["atomic", "per-item"]


MAX_BATCH_ROWS = 1000


class PartnerCreditIn(Input):
    """One service record of a partner (a signed posting, or one batch row)."""

    id = fields.UUID(required=True, attribute="transfer_id")
    volunteer = fields.UUID(required=True)
    minutes = minutes(required=True)
    category = text(100, required=True)
    service_date = IsoDate(required=True)
    pending = StrictBoolean(load_default=False)
    beneficiary = fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "the member the service was for; they may confirm or contest"})


class PartnerBatchIn(Input):
    """Up to 1,000 service records; `atomic` writes all or nothing, `per-item` each
    row that passes."""

    mode = fields.String(load_default="atomic", validate=validate.OneOf(BATCH_MODES))
    records = fields.List(fields.Dict(), required=True,
                          validate=validate.Length(1, MAX_BATCH_ROWS))


class PartnerBatchQuery(Input):
    """How a CSV batch is posted."""

    mode = fields.String(load_default="atomic", validate=validate.OneOf(BATCH_MODES))


class PartnerKeyIn(Input):
    """A public key to trust: raw Ed25519, base64; `replaces` rotates an old key out."""

    key_id = text(128, required=True)
    public_key = text(64, required=True)
    replaces = text(128)
    reason = fields.String(load_default="rotated", validate=validate.Length(0, 200))


class KeyRevocationIn(Input):
    """Optional body of a key revocation."""

    reason = fields.String(load_default="", validate=validate.Length(0, 200))


class PartnerCategoriesIn(Input):
    """The categories a partner may record; empty allows any."""

    categories = fields.List(text(100), required=True)


class ContestIn(Input):
    """Why a pending partner credit is contested."""

    reason = text(500, required=True)


class PartnerKeyOut(Schema):
    """One key of a partner's keyring (public keys are not secret)."""

    key_id = fields.String()
    public_key = fields.String()
    added_at = fields.DateTime()
    revoked = fields.Boolean()
    reason = fields.String()


class PartnerKeyringOut(Schema):
    """A partner organisation's keys and allowed categories (empty: any)."""

    organisation = fields.UUID(attribute="organisation_id")
    categories = fields.List(fields.String())
    keys = fields.List(fields.Nested(PartnerKeyOut))
    version = fields.Integer()
    log_indexes = fields.List(fields.Integer())


class BatchRowOut(Schema):
    """One row's outcome: created, exists, refused (with rule, field, detail) or
    not_written (an atomic batch refused for other rows)."""

    row = fields.Integer(metadata={"description": "1-based; a CSV header is not a row"})
    id = fields.String(allow_none=True)
    outcome = fields.String()
    state = fields.String(allow_none=True)
    rule = fields.String(allow_none=True)
    field = fields.String(allow_none=True)
    detail = fields.String(allow_none=True)


class BatchOut(Schema):
    """What a batch did, row by row."""

    mode = fields.String()
    rows = fields.Integer()
    created = fields.Integer()
    exists = fields.Integer()
    refused = fields.Integer()
    results = fields.List(fields.Nested(BatchRowOut))
    log_indexes = fields.List(fields.Integer())
