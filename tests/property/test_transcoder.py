"""The compact transcoder writes every value exactly as the library's JSON
transcoder does: stored event bytes are hashed into the log, so one encoder
writing the same event differently would be a different history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.transcoder import CompactTranscoder


def registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    """The transcodings the application registers."""
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


LIBRARY, COMPACT = registered(JSONTranscoder()), registered(CompactTranscoder())

leaves = (st.text() | st.integers() | st.booleans() | st.none() | st.uuids()
          | st.datetimes(timezones=st.none() | st.just(dt.UTC))
          | st.floats(allow_nan=False) | st.decimals(allow_nan=False, allow_infinity=False))
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                      | st.tuples(inner, inner)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                      max_leaves=12)
events = st.dictionaries(st.text(max_size=12), values, max_size=8)


@settings(max_examples=400, deadline=None)
@given(events)
def test_compact_bytes_are_the_librarys_bytes(event: dict[str, Any]) -> None:
    assert COMPACT.encode(event) == LIBRARY.encode(event)


@settings(max_examples=200, deadline=None)
@given(events)
def test_what_the_compact_transcoder_writes_reads_back_the_same(event: dict[str, Any]) -> None:
    assert COMPACT.decode(COMPACT.encode(event)) == LIBRARY.decode(LIBRARY.encode(event))


def test_the_values_it_hands_back_to_the_library_still_encode_the_same() -> None:
    awkward = {"big": 2 ** 70, "float": 0.1, "decimal": Decimal("1.50"), 1: "int key",
               "tuple": (UUID(int=1), dt.datetime(2026, 11, 26, tzinfo=dt.UTC)),
               "text": "\u2028\x00\x7f\"\\é😀"}
    assert COMPACT.encode(awkward) == LIBRARY.encode(awkward)
