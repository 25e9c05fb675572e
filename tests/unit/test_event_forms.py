"""Stored events are permanent and hashed into the log: the fields of the
entries every movement writes, and their order in the stored JSON, never change
(``Account.Debited`` and ``Account.Credited`` are explicit event classes that
must keep the form the ``@event`` methods before them wrote)."""

from __future__ import annotations

import datetime as dt
import json
from uuid import uuid4

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, Mapper, UUIDAsHex

from domain.accounts import Account, AccountKind
from domain.rules import CommunityRules
from ledger.transcoder import CompactTranscoder

ENTRY_FIELDS = ["timestamp", "transfer_id", "minutes", "counterparty_id", "kind", "pending",
                "service_date", "category", "earning"]


def mapper() -> Mapper:
    """The application's mapper: the compact transcoder with its transcodings."""
    transcoder = CompactTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


@pytest.mark.parametrize("side", ["debit", "credit"])
def test_a_movements_entries_keep_their_topic_fields_and_order(side: str) -> None:
    account = Account.open(account_id=uuid4(), community_id=uuid4(),
                           kind=AccountKind.ORGANISATION if side == "debit"
                           else AccountKind.MEMBER)
    if side == "debit":
        account.set_budget(600)
    move = getattr(account, side)
    move(transfer_id=uuid4(), minutes=60, counterparty_id=uuid4(), kind="service_credit",
         pending=False, rules=CommunityRules(), service_date="2026-11-25",
         category="elderly-companionship", earning=0 if side == "debit" else 60)
    stored = mapper().to_stored_event(account.collect_events()[-1])
    name = "Debited" if side == "debit" else "Credited"
    assert stored.topic == f"domain.accounts:Account.{name}"
    assert list(json.loads(stored.state)) == ENTRY_FIELDS
    event = mapper().to_domain_event(stored)
    assert (event.minutes, event.service_date, event.pending) == (60, "2026-11-25", False)
    assert event.timestamp.tzinfo == dt.UTC
