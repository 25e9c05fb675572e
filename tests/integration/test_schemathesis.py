"""The API against its own contract: schemathesis fuzzes every operation of /openapi.json.

Requests are generated from the served OpenAPI document -- positive (what the
schemas allow) and negative (what they forbid) -- and sent as an administrator
straight to the WSGI app over memory storage. Every answer must be one the
document describes: no 5xx, a documented status code and content type, and a
body that matches the documented schema. Half of the path ids drawn are ids
that exist in the seeded town (a pending and a posted credit, an adopted and a
draft convention, a pledge, cases in two states, the partner's key), so that
the happy paths and the business-rule refusals are fuzzed, not only 404s.

Three gaps this test first found are pinned by tests of their own below: a
body that is not JSON (400) is documented, `format=csv` answers are documented
as text/csv, and integers too large to store are schema problems, not 500s.
``CIVIC_LEDGER_LONG=1`` raises the examples per operation and mode from 8 to
100 and draws them at random instead of from a fixed seed.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.generation import GenerationMode

from tests.web.conftest import Api, build_api, make_bank
from web.openapi import OPERATIONS as DOCUMENTED
from web.partner_client import public_key_of
from web.signatures import PARTNERS_EXTENSION

LONG = os.environ.get("CIVIC_LEDGER_LONG") == "1"
EXAMPLES = 100 if LONG else 8
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]
# schemathesis leaves out the operation that served the document itself
LABELS = sorted(f"{op.method.upper()} {op.path}" for op in DOCUMENTED
                if op.path != "/openapi.json")
# negative data needs something to make invalid: a path parameter, a query or a body
RUNS = sorted((f"{op.method.upper()} {op.path}", mode) for op in DOCUMENTED
              if op.path != "/openapi.json" for mode in GenerationMode
              if mode is GenerationMode.POSITIVE or "{" in op.path or op.query or op.request)
CSV_OPERATIONS = frozenset({"GET /v1/accounts/{account_id}/history",
                            "GET /v1/organisations/{organisation_id}/report"})
STORED_INTEGERS = {"GET /v1/accounts/{account_id}/balance": "log_index",
                   "GET /v1/accounts/{account_id}/history": "before"}
INT64 = 2**63


@dataclass
class Contract:
    """The loaded document, the administrator's header and ids that exist."""

    api: Api
    schema: Any
    headers: dict[str, str]
    known: dict[str, list[str]]


def arrange(api: Api) -> dict[str, list[str]]:
    """Resources in several states; their ids by path parameter name."""
    town = api.town

    def ok(path: str, body: Any = None) -> dict[str, Any]:
        response = api.post(path, body)
        assert response.status_code < 300, (path, response.get_json())
        found: dict[str, Any] = response.get_json()
        return found

    day = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    text = {"community": str(town.community), "scope": "community", "title": "Quiet",
            "effective_date": (day + dt.timedelta(days=30)).isoformat()}
    adopted = ok("/v1/conventions", {**text, "text": "Quiet after 22:00"})["id"]
    ok(f"/v1/conventions/{adopted}/adoption", {
        "meeting_date": (day - dt.timedelta(days=1)).isoformat(), "eligible": 40,
        "present": 25, "votes_for": 20, "votes_against": 3, "abstaining": 2})
    draft = ok("/v1/conventions", {**text, "text": "Green bins"})["id"]
    pledge = ok("/v1/pledges", {"convention": adopted, "member": str(town.ada)})["id"]
    admin = town.bank.tokens.authenticate(town.tokens["admin"]).actor
    cases = [ok("/v1/mediation/cases", {
        "community": str(town.community), "case_number": f"MED-2026-000{n}",
        "committee": "Elm PMC", "mediators": [admin], "hearing": "private",
        "parties": [{"kind": "member", "id": str(town.ada)},
                    {"kind": "non_member", "details": {"display_name": "Oskar"}}],
        "dispute_type": "neighbour_noise", "facts": "drums", "disputed_matters": "hours"})
        for n in (1, 2)]
    ok(f"/v1/mediation/cases/{cases[1]['id']}/acceptance")
    ok(f"/v1/mediation/cases/{cases[1]['id']}/start")
    api.app.extensions[PARTNERS_EXTENSION].add_key(
        town.org, "care-1", public_key_of(Ed25519PrivateKey.generate()))
    transfers = [ok("/v1/credits", town.credit(minutes=10, pending=pending))["id"]
                 for pending in (True, False)]
    return {"community_id": [str(town.community)],
            "account_id": [str(town.ada), str(town.org), str(town.pool)],
            "member_id": [str(town.ada), str(town.bo)],
            "organisation_id": [str(town.org)], "credit_id": transfers,
            "transfer_id": transfers, "convention_id": [adopted, draft],
            "pledge_id": [pledge], "case_id": [c["id"] for c in cases],
            "party_id": [p["id"] for p in cases[0]["parties"]], "key_id": ["care-1"]}


@pytest.fixture(scope="module")
def contract() -> Iterator[Contract]:
    """The document as schemathesis loads it from the app, over a seeded memory bank."""
    bank = make_bank("memory://", secrets.token_bytes(32))
    api = build_api(bank)
    known = arrange(api)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", api.app)
    yield Contract(api, schema, {"Authorization": f"Bearer {api.town.tokens['admin']}"}, known)
    bank.close()


def test_the_document_is_valid_openapi_and_every_operation_loads(contract):
    contract.schema.validate()
    loaded = [result.ok() for result in contract.schema.get_all_operations()]
    assert sorted(f"{op.method.upper()} {op.path}" for op in loaded) == LABELS


@pytest.mark.parametrize(("label", "mode"), RUNS, ids=[f"{lb} {m}" for lb, m in RUNS])
def test_every_answer_is_one_the_document_describes(contract, label, mode):
    method, path = label.split(" ", 1)
    operation = contract.schema[path][method]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not LONG,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, headers=contract.headers),
           data=st.data())
    def answers_as_documented(case: Any, data: st.DataObject) -> None:
        for name in list(case.path_parameters or {}):
            if name in contract.known and data.draw(st.booleans(), label=f"known {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(contract.known[name]))
        response = case.call()
        case.validate_response(response, checks=CHECKS)

    answers_as_documented()


def test_an_operation_with_a_body_documents_the_answer_to_one_that_is_not_json(contract):
    operation = contract.schema["/v1/credits"]["POST"]
    response = contract.api.client.post("/v1/credits", data=b"{not json",
                                        headers={**contract.headers,
                                                 "Content-Type": "application/json"})
    assert response.status_code == 400
    assert "400" in operation.definition.raw["responses"]


@pytest.mark.parametrize("label", sorted(CSV_OPERATIONS))
def test_a_csv_answer_is_documented(contract, label):
    method, path = label.split(" ", 1)
    documented = contract.schema[path][method].definition.raw["responses"]["200"]["content"]
    assert "text/csv" in documented


@pytest.mark.parametrize("label", sorted(STORED_INTEGERS))
def test_an_integer_too_large_to_store_is_a_schema_problem(contract, label):
    account = contract.known["account_id"][0]
    path = label.split(" ", 1)[1].replace("{account_id}", account)
    response = contract.api.get(f"{path}?{STORED_INTEGERS[label]}={INT64}")
    assert (response.status_code, response.get_json()["rule"]) == (422, "schema")
