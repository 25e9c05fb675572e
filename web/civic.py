"""The civic records service and queries a request uses, and who may see what of a case.

``CIVIC_TIMEZONE`` (app configuration; else the ``CIVIC_LEDGER_TIMEZONE``
environment variable; else ``+08:00``) is the community's time zone: the
calendar in which meetings, check-ins, signatures and the 30-day confirmation
window are counted. It is read once, with the first civic request, when the
service is made and kept in ``app.extensions`` (nothing happens at import time).
"""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

from flask import current_app

from ledger.access import Action
from ledger.civic import CivicRecords
from projections.civic_queries import CivicQueries
from web.auth import found, ledger, may, permit, read_models

CIVIC_EXTENSION = "civic_ledger.civic_records"


def civic() -> CivicRecords:
    """The application's civic records service (made with the first civic request)."""
    records: CivicRecords | None = current_app.extensions.get(CIVIC_EXTENSION)
    if records is None:
        zone = (current_app.config.get("CIVIC_TIMEZONE")
                or os.environ.get("CIVIC_LEDGER_TIMEZONE"))
        records = CivicRecords(ledger(), zone)
        current_app.extensions[CIVIC_EXTENSION] = records
    return records


def civic_queries() -> CivicQueries:
    """Questions answered from the civic read models."""
    return CivicQueries(read_models())


def member_parties(case: dict[str, Any]) -> list[UUID]:
    """The accounts of a case's member parties (who may read it as their own)."""
    return [UUID(str(p["id"])) for p in case["parties"] if p["kind"] == "member"]


def readable_case(case_id: UUID) -> dict[str, Any]:
    """The case, once the caller may read it, revealing what the caller may see."""
    members = member_parties(found(Action.READ_CASE, lambda: civic().cases.case(case_id)))
    permit(Action.READ_CASE, members)
    return civic().cases.case(case_id, reveal_text=may(Action.READ_CASE_TEXT, members),
                              reveal_parties=may(Action.READ_PARTY_DETAILS, members))
