"""Request ids and the JSON access line: one per request, nothing secret or personal."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from web.request_log import ACCESS_LOGGER

FIELDS = {"time", "request_id", "method", "route", "path", "status", "duration_ms",
          "remote_addr", "pid", "role", "token_id"}


@pytest.fixture(autouse=True)
def access_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture the access lines (INFO on ``civic_ledger.access``)."""
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    return caplog


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The access lines logged so far, each parsed as the one JSON object it must be."""
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER]


def test_a_well_formed_request_id_is_kept_and_any_other_replaced(api):
    kept = api.get("/healthz", as_=None, headers={"X-Request-Id": "lb-7f3a:1.2"})
    assert kept.headers["X-Request-Id"] == "lb-7f3a:1.2"
    for bad in ("", "has space", "x" * 129, 'quote"d', "tab\there", "<b>"):
        made = api.get("/healthz", as_=None, headers={"X-Request-Id": bad}).headers
        assert re.fullmatch(r"[0-9a-f]{32}", made["X-Request-Id"]), bad
    fresh = {api.get("/healthz", as_=None).headers["X-Request-Id"] for _ in range(3)}
    assert len(fresh) == 3


@pytest.mark.parametrize(("method", "path", "as_", "body", "status"), [
    ("GET", "/v1/accounts/{ada}", None, None, 401),
    ("GET", "/no/such/route", "admin", None, 404),
    ("POST", "/v1/credits", "staff", {"minutes": "lots"}, 422),
    ("POST", "/v1/credits", "member", "credit", 403),
])
def test_every_problem_names_the_request_id_it_was_answered_with(api, method, path, as_,
                                                                 body, status):
    body = api.town.credit() if body == "credit" else body
    response = api.call(method, path.format(ada=api.town.ada), body, as_=as_,
                        headers={"X-Request-Id": "trace-42"})
    assert (response.status_code, response.mimetype) == (status, "application/problem+json")
    assert response.get_json()["request_id"] == "trace-42"
    assert response.headers["X-Request-Id"] == "trace-42"


def test_each_request_logs_one_json_line_with_the_route_template_and_the_caller(api, caplog):
    response = api.get(f"/v1/accounts/{api.town.ada}", as_="member")
    [line] = access_lines(caplog)
    assert set(line) == FIELDS
    principal = api.town.bank.tokens.authenticate(api.town.tokens["member"])
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert (line["method"], line["route"], line["path"], line["status"]) == (
        "GET", "/v1/accounts/{account_id}", f"/v1/accounts/{api.town.ada}", 200)
    assert (line["role"], line["token_id"]) == ("member", str(principal.token_id))
    assert line["duration_ms"] >= 0 and line["remote_addr"] == "127.0.0.1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])


def test_a_refused_or_anonymous_caller_is_logged_without_a_role(api, caplog):
    api.get(f"/v1/accounts/{api.town.ada}", as_=None)
    api.get("/v1/log/key", as_=None)
    api.get("/healthz", as_=None)
    assert [(x["status"], x["role"], x["token_id"]) for x in access_lines(caplog)] == [
        (401, None, None), (401, None, None), (200, None, None)]


def test_the_log_never_holds_a_token_a_body_a_query_or_personal_data(api, caplog):
    staff = api.town.tokens["staff"]
    api.post("/v1/members", {"community": str(api.town.community),
                             "profile": {"display_name": "Grace Hopper",
                                         "phone": "+44 20 7946 0000"}}, as_="staff")
    api.get(f"/v1/members/{api.town.ada}", as_="staff")  # answers Ada's profile
    api.get(f"/v1/accounts/{api.town.ada}/history?format=csv", as_="staff")
    api.get("/healthz", as_=None, headers={"Authorization": "Bearer cl_not_issued"})
    assert len(access_lines(caplog)) == 4
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (staff, "cl_not_issued", "Grace", "7946", "Ada", "+1 555", "csv"):
        assert secret not in text
