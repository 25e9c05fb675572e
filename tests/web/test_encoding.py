"""The orjson provider answers what Flask's default provider would mean, and
reads bodies exactly as Flask's does."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from decimal import Decimal
from uuid import uuid4

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from web.encoding import OrjsonProvider


@dataclasses.dataclass
class Point:
    """A dataclass, as a view might return one."""

    x: int
    label: str


def providers() -> tuple[DefaultJSONProvider, OrjsonProvider]:
    """Flask's provider and ours, both with the app's unsorted keys."""
    app = Flask(__name__)
    flask_default, ours = DefaultJSONProvider(app), OrjsonProvider(app)
    flask_default.sort_keys = ours.sort_keys = False
    return flask_default, ours


def test_answers_mean_the_same_as_flasks() -> None:
    flask_default, ours = providers()
    value = {"text": "Grüße \u2028 日本 \"q\" \\ \n", "id": uuid4(), "n": -2 ** 63, "big": 2 ** 70,
             "at": dt.datetime(2026, 11, 26, 8, 0, tzinfo=dt.UTC), "day": dt.date(2026, 11, 26),
             "money": Decimal("1.50"), "point": Point(1, "a"), "list": [1, None, True, 0.5]}
    assert json.loads(ours.dumps(value)) == json.loads(flask_default.dumps(value))
    assert list(json.loads(ours.dumps(value))) == list(value)  # keys as given


def test_a_response_is_compact_json_with_flasks_trailing_newline() -> None:
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    with app.app_context():
        response = app.json.response({"b": 1, "a": "é"})
    assert response.mimetype == "application/json"
    assert response.get_data() == '{"b":1,"a":"é"}\n'.encode()


def test_bodies_orjson_refuses_are_read_as_flask_reads_them() -> None:
    flask_default, ours = providers()
    for document in ('{"minutes": 100000000000000000000000}', '{"minutes": NaN}', "[1, 2]"):
        mine, theirs = ours.loads(document), flask_default.loads(document)
        if isinstance(theirs, dict) and isinstance(theirs["minutes"], float):
            assert math.isnan(mine["minutes"]) and math.isnan(theirs["minutes"])
        else:
            assert mine == theirs
    for broken in ("{", '{"a": }', ""):
        for provider in (ours, flask_default):
            try:
                provider.loads(broken)
            except ValueError:
                continue
            raise AssertionError(f"{broken!r} was read")
