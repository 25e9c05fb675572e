"""Request shapes: every malformed body is a 422 problem naming the field, and writes nothing."""

from __future__ import annotations

import pytest

BAD_CREDITS = [
    ("unknown field", {"colour": "blue"}, "colour"),
    ("float minutes", {"minutes": 90.5}, "minutes"),
    ("whole float minutes", {"minutes": 90.0}, "minutes"),
    ("negative minutes", {"minutes": -5}, "minutes"),
    ("zero minutes", {"minutes": 0}, "minutes"),
    ("text minutes", {"minutes": "90"}, "minutes"),
    ("boolean minutes", {"minutes": True}, "minutes"),
    ("bad uuid", {"payer": "not-a-uuid"}, "payer"),
    ("bad id", {"id": "42"}, "id"),
    ("bad date", {"service_date": "2026-02-30"}, "service_date"),
    ("date and time", {"service_date": "2026-11-20T10:00:00"}, "service_date"),
    ("text pending", {"pending": "yes"}, "pending"),
    ("unknown channel", {"channel": "fax"}, "channel"),
    ("empty category", {"category": ""}, "category"),
]


@pytest.mark.parametrize(("case", "changes", "field"), BAD_CREDITS, ids=[c[0] for c in BAD_CREDITS])
def test_malformed_credit_is_a_schema_problem_naming_the_field_and_writes_nothing(
        api, town, problem, case, changes, field):
    before = town.state()
    response = api.post("/v1/credits", town.credit(**changes), as_="staff")
    body = problem(response, 422, "schema", field)
    assert field in body["errors"] and body["errors"][field]
    assert town.state() == before


def test_missing_required_field_is_named(api, town, problem):
    credit = town.credit()
    del credit["volunteer"]
    body = problem(api.post("/v1/credits", credit, as_="staff"), 422, "schema", "volunteer")
    assert body["errors"] == {"volunteer": ["Missing data for required field."]}


def test_nested_field_errors_are_named_by_their_path(api, problem):
    response = api.post("/v1/communities", {"name": "X", "rules": {"daily_earning_cap": 1.5}})
    problem(response, 422, "schema", "rules.daily_earning_cap")


def test_a_body_that_is_not_an_object_is_a_schema_problem_without_a_field(api, problem):
    body = problem(api.post("/v1/credits", [1, 2], as_="staff"), 422, "schema")
    assert body["field"] is None


def test_unreadable_json_is_a_400_problem(api, problem):
    response = api.post("/v1/credits", as_="staff", data="{not json",
                        content_type="application/json")
    problem(response, 400, "bad_request")


def test_a_body_that_is_not_json_is_a_415_problem(api, problem):
    response = api.post("/v1/credits", as_="staff", data="minutes=90",
                        content_type="application/x-www-form-urlencoded")
    problem(response, 415, "unsupported_media_type")


def test_history_query_is_checked_too(api, town, problem):
    response = api.get(f"/v1/accounts/{town.ada}/history?limit=0")
    problem(response, 422, "schema", "limit")
    response = api.get(f"/v1/accounts/{town.ada}/history?before=soon")
    problem(response, 422, "schema", "before")


def test_an_oversized_body_is_a_413_problem(api, problem):
    response = api.post("/v1/credits", as_="staff", data="[" + "1," * 600_000 + "1]",
                        content_type="application/json")
    problem(response, 413, "request_entity_too_large")
