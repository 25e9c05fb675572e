"""The stored form of an event's fields, written by orjson, byte for byte as
the library's JSON transcoder writes it.

An event's stored bytes are permanent: the verifiable log hashes them, so an
encoder may never write the same event differently. ``eventsourcing``'s
:class:`~eventsourcing.persistence.JSONTranscoder` calls a Python hook for
every UUID and datetime and builds a new C encoder per event; it was a tenth
of a service credit's CPU. :class:`CompactTranscoder` turns the values the
library would hand to its hooks into the library's own ``{"_type_": ...,
"_data_": ...}`` objects first (by the transcodings registered on it, as the
hook does) and lets orjson write the rest. orjson writes
compact JSON in UTF-8, escaping exactly the characters ``json`` does with
``ensure_ascii=False`` (tested over arbitrary text in
``tests/property/test_transcoder.py``). Anything outside the plain shapes it
is sure of (floats, enums, unregistered types, integers beyond 64 bits,
non-string keys) goes to the library's encoder unchanged, and reading is the library's.
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder


class _NotPlain(Exception):
    """A value the fast path leaves to the library's encoder."""


_SCALARS = frozenset({str, int, bool, type(None)})


class CompactTranscoder(JSONTranscoder):
    """The library's JSON transcoder with a faster writer for plain events."""

    def encode(self, obj: Any) -> bytes:
        """The same bytes as ``JSONTranscoder.encode(obj)``."""
        try:
            return orjson.dumps(self._plain(obj))
        except (_NotPlain, TypeError):  # orjson.JSONEncodeError is a TypeError
            return super().encode(obj)

    def _plain(self, value: Any) -> Any:
        """``value`` with every value of a registered type in the form the
        library's hook gives it (``{"_type_": name, "_data_": ...}``, found the
        way the hook finds it: by exact type); :class:`_NotPlain` at the first
        value whose JSON orjson might write differently from ``json``."""
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is dict:  # orjson refuses keys that are not text (json would convert them)
            return {key: item if type(item) in _SCALARS else self._plain(item)
                    for key, item in value.items()}
        if kind is list or kind is tuple:
            return [self._plain(item) for item in value]
        transcoding = self.types.get(kind)
        if transcoding is None:
            raise _NotPlain
        return {"_type_": transcoding.name, "_data_": self._plain(transcoding.encode(value))}
