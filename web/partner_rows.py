"""The rows of a partner batch: JSON records or a CSV file, checked row by row.

Why row by row: in per-item mode one malformed row must not sink the other 999,
so each record goes through the same ``PartnerCreditIn`` schema a single
posting uses, and a failure becomes that row's refusal (rule ``schema``, the
field, the messages) instead of a 422 for the whole request. Only what makes
the file unreadable as a whole — not UTF-8, unknown or missing columns, more
than 1,000 rows — is refused for the whole request.

CSV columns are the JSON record's names: ``id, volunteer, minutes, category,
service_date`` (required) and ``pending, beneficiary`` (optional; empty cells
mean false and none). Rows are numbered from 1 after the header line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from marshmallow import ValidationError

from ledger.batches import CreditRecord, Row, RowResult
from web.partner_schemas import MAX_BATCH_ROWS, PartnerCreditIn
from web.schemas import shared

REQUIRED_COLUMNS = ("id", "volunteer", "minutes", "category", "service_date")
COLUMNS = REQUIRED_COLUMNS + ("pending", "beneficiary")
_BOOLEANS = {"true": True, "false": False}


def credit_record(row: int, data: Mapping[str, Any]) -> CreditRecord:
    """A record loaded by ``PartnerCreditIn`` as the ledger takes it."""
    return CreditRecord(row=row, **data)


def loaded_rows(records: Sequence[Mapping[str, Any]]) -> list[Row]:
    """Each record loaded, or refused with its schema errors; numbered from 1."""
    schema = shared(PartnerCreditIn)
    rows: list[Row] = []
    for number, raw in enumerate(records, start=1):
        try:
            rows.append(credit_record(number, schema.load(raw)))
        except ValidationError as error:
            rows.append(_schema_refusal(number, raw, error))
    return rows


def _schema_refusal(number: int, raw: Mapping[str, Any], error: ValidationError) -> RowResult:
    messages = error.messages if isinstance(error.messages, dict) else {"_schema":
                                                                         error.messages}
    first = next(iter(messages), None)
    detail = "; ".join(f"{name}: {' '.join(map(str, m if isinstance(m, list) else [m]))}"
                       for name, m in messages.items())
    return RowResult(row=number, id=_uuid_or_none(raw.get("id")), outcome="refused",
                     rule="schema", field=None if first == "_schema" else str(first),
                     detail=detail)


def _uuid_or_none(value: Any) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


def csv_records(body: bytes) -> list[dict[str, Any]]:
    """The records of a CSV file, typed where the text is unambiguous; the schema
    then judges each one (a BOM from a spreadsheet is ignored)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError({"records": ["the CSV file must be UTF-8"]}) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise ValidationError({"records": [
            f"the header must name the columns {', '.join(COLUMNS)} (required: "
            f"{', '.join(REQUIRED_COLUMNS)}); unknown {unknown}, missing {missing}"]})
    records = [_typed(row) for row in reader]
    if not 1 <= len(records) <= MAX_BATCH_ROWS:
        raise ValidationError({"records": [f"a batch holds 1 to {MAX_BATCH_ROWS} rows, "
                                           f"not {len(records)}"]})
    return records


def _typed(row: dict[str | None, Any]) -> dict[str, Any]:
    typed: dict[str, Any] = {}
    for name, value in row.items():
        if name is None:  # more cells than columns: let the schema name it
            typed["_extra_cells"] = value
        elif value is None or (value == "" and name in ("pending", "beneficiary")):
            continue
        elif name == "minutes" and value.isascii() and value.isdigit():
            typed[name] = int(value)
        elif name == "pending":
            typed[name] = _BOOLEANS.get(value.strip().lower(), value)
        else:
            typed[name] = value
    return typed


__all__ = ["COLUMNS", "REQUIRED_COLUMNS", "credit_record", "csv_records", "loaded_rows"]
