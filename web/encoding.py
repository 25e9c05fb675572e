"""JSON out of the API, by orjson.

Flask's default provider runs the standard library's encoder with a Python
hook and builds a new encoder per response. The answers mean the same: keys in
the order given (the app turns Flask's sorting off), compact separators and
the trailing newline Flask writes; text is written as UTF-8 rather than
``\\u`` escapes; anything orjson does not write itself (dates, decimals,
objects with ``__html__``) goes through Flask's own conversion.

Request bodies are still read by the standard library: orjson reads an
integer beyond 64 bits as a float, which would turn an absurd number of
minutes into a different absurd number instead of refusing it.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider, writing with orjson where it can."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Compact JSON (indented or sorted output is left to Flask's encoder)."""
        if kwargs.get("indent") or kwargs.get("sort_keys", self.sort_keys):
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(obj, default=self.default, option=_OPTIONS).decode()
        except TypeError:  # e.g. an integer beyond 64 bits: Flask's encoder writes it
            return super().dumps(obj, **kwargs)
