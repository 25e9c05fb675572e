"""The verifiable log's queries and answers: entries, inclusion and
consistency proofs (docs/AUDIT.md). Rules as in ``web.schemas``: shape only.
"""

from __future__ import annotations

import base64
from typing import Any

from marshmallow import Schema, fields, validate

from web.schemas import INT64_MAX, Input


class LogEntriesQuery(Input):
    """A page of log entries."""

    start = fields.Integer(load_default=0, validate=validate.Range(min=0, max=INT64_MAX))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class InclusionQuery(Input):
    """Which leaf, in which tree size."""

    index = fields.Integer(required=True, validate=validate.Range(min=0, max=INT64_MAX))
    size = fields.Integer(required=True, validate=validate.Range(min=1, max=INT64_MAX))


class ConsistencyQuery(Input):
    """Between which two tree sizes."""

    from_ = fields.Integer(required=True, data_key="from",
                           validate=validate.Range(min=1, max=INT64_MAX))
    to = fields.Integer(required=True, validate=validate.Range(min=1, max=INT64_MAX))


class Base64(fields.Field):
    """Bytes as standard base64 text."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else base64.b64encode(value).decode("ascii")


class LogEntryOut(Schema):
    """One leaf: its index and the exact leaf input (RFC 9162), base64."""

    index = fields.Integer()
    data = Base64(metadata={"description": "leaf data, see docs/AUDIT.md"})


class LogEntriesOut(Schema):
    """Entries in index order."""

    entries = fields.List(fields.Nested(LogEntryOut))


class InclusionOut(Schema):
    """An RFC 9162 inclusion proof."""

    index = fields.Integer()
    size = fields.Integer()
    leaf_hash = Base64()
    proof = fields.List(Base64())


class ConsistencyOut(Schema):
    """An RFC 9162 consistency proof."""

    from_ = fields.Integer(data_key="from")
    to = fields.Integer()
    proof = fields.List(Base64())
