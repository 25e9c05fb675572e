"""The stored form of an event's fields, written by orjson, byte for byte as
the library's JSON transcoder writes it.

An event's stored bytes are permanent: the verifiable log hashes them, so an
encoder may never write the same event differently. ``eventsourcing``'s
:class:`~eventsourcing.persistence.JSONTranscoder` calls a Python hook for
every UUID and datetime and builds a new C encoder per event; it was a tenth
of a service credit's CPU. :class:`CompactTranscoder` turns the values the
library would hand to its hooks into the library's own ``{"_type_": ...,
"_data_": ...}`` objects first and lets orjson write the rest. orjson writes
compact JSON in UTF-8, escaping exactly the characters ``json`` does with
``ensure_ascii=False`` (tested over arbitrary text in
``tests/property/test_transcoder.py``). Anything outside the plain shapes it
is sure of (floats, decimals, enums, integers beyond 64 bits, non-string
keys) goes to the library's encoder unchanged, and reading is the library's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder


class _NotPlain(Exception):
    """A value the fast path leaves to the library's encoder."""


_SCALARS = frozenset({str, int, bool, type(None)})


def _plain(value: Any) -> Any:
    """``value`` with every UUID and datetime in the library's transcoded form;
    :class:`_NotPlain` at the first value whose JSON orjson might write
    differently from ``json``."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is UUID:
        return {"_type_": "uuid_hex", "_data_": value.hex}
    if kind is dt.datetime:
        return {"_type_": "datetime_iso", "_data_": value.isoformat()}
    if kind is dict:  # orjson refuses keys that are not text (json would convert them)
        return {key: item if type(item) in _SCALARS else _plain(item)
                for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_plain(item) for item in value]
    raise _NotPlain


class CompactTranscoder(JSONTranscoder):
    """The library's JSON transcoder with a faster writer for plain events."""

    def encode(self, obj: Any) -> bytes:
        """The same bytes as ``JSONTranscoder.encode(obj)``."""
        try:
            return orjson.dumps(_plain(obj))
        except (_NotPlain, TypeError):  # orjson.JSONEncodeError is a TypeError
            return super().encode(obj)
