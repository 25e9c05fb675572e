"""The application as a whole: factory, health, the OpenAPI document, error shapes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from uuid import uuid4

import pytest

from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.keys import KeyDirectory, KeyMissing
from ledger.storage import Database
from web import create_app
from web.app import SWEEPER_EXTENSION


def test_health_answers_without_a_token(api):
    response = api.get("/healthz", as_=None)
    assert response.status_code == 200
    health = response.get_json()
    assert (health["status"], health["storage"]) == ("ok", "memory")
    assert set(health["projections"]) == {"accounts", "reports", "conventions", "mediation"}
    behind = health["projections"]["accounts"]["lag"]
    assert behind == api.town.bank.recorder.max_notification_id() > 0
    api.get(f"/v1/accounts/{api.town.ada}")  # a read catches the read models up
    health = api.get("/healthz", as_=None).get_json()
    assert health["projections"]["accounts"]["lag"] == 0


def test_openapi_documents_every_route_with_its_methods(api):
    document = api.get("/openapi.json", as_=None).get_json()
    routes: dict[str, set[str]] = {}
    for rule in api.app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(
            m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    documented = {path: set(operations) for path, operations in document["paths"].items()}
    assert documented == routes


def test_openapi_references_resolve_and_describe_bodies_and_problems(api):
    document = api.get("/openapi.json", as_=None).get_json()
    assert document["openapi"].startswith("3.1")
    schemas = document["components"]["schemas"]
    for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)):
        assert ref in schemas
    credit = document["paths"]["/v1/credits"]["post"]
    assert credit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreditIn"}
    assert set(credit["responses"]) >= {"201", "401", "403", "404", "422"}
    assert "created" in credit["description"]
    assert schemas["CreditIn"]["additionalProperties"] is False
    assert schemas["CreditIn"]["properties"]["minutes"]["type"] == "integer"
    assert {"id", "payer", "volunteer", "minutes"} <= set(schemas["CreditIn"]["required"])
    problem = credit["responses"]["422"]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/ProblemOut"}


def test_unknown_route_and_wrong_method_are_problems(api, problem):
    problem(api.get("/v1/nothing-here"), 404, "not_found")
    problem(api.get("/v1/accounts/not-a-uuid"), 404, "not_found")
    response = api.call("DELETE", "/v1/credits")
    problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_an_unexpected_error_is_logged_and_answered_without_internals(master_key, caplog,
                                                                      problem):
    bank = TimeBank(Database.parse("memory://"), master_key)
    app = create_app({"LEDGER": bank, "TESTING": True})

    def explode() -> str:
        raise RuntimeError("secret connection string postgres://root:hunter2@db")

    app.add_url_rule("/explode", view_func=explode)
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/explode")
    body = problem(response, 500, "internal_error")
    assert "hunter2" not in response.get_data(as_text=True) and body["field"] is None
    assert any("hunter2" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    bank.close()


def test_factory_opens_the_ledger_named_by_its_configuration(tmp_path):
    keys = KeyDirectory(tmp_path / "keys")
    keys.ensure()
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
                      "KEYS_DIR": str(keys.path)})
    try:
        assert app.test_client().get("/healthz").get_json()["storage"] == "sqlite"
        assert SWEEPER_EXTENSION not in app.extensions
    finally:
        app.extensions["civic_ledger"].close()


def test_factory_without_a_database_url_reads_the_environment(tmp_path, monkeypatch):
    KeyDirectory(tmp_path / "keys").ensure()
    monkeypatch.setenv("CIVIC_LEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    monkeypatch.setenv("CIVIC_LEDGER_KEYS_DIR", str(tmp_path / "keys"))
    app = create_app()
    try:
        assert app.extensions["civic_ledger"].database.sqlite_path.endswith("env.sqlite")
    finally:
        app.extensions["civic_ledger"].close()


def test_factory_refuses_to_start_without_keys(tmp_path):
    with pytest.raises(KeyMissing):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite'}",
                    "KEYS_DIR": str(tmp_path / "no-keys")})


def test_expiry_sweeper_starts_with_the_first_request_and_voids_expired_credits(master_key):
    now = [dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)]
    bank = TimeBank(Database.parse("memory://"), master_key, clock=lambda: now[0])
    community = bank.register_community("Elm Street")
    ada = bank.open_member(community["id"])
    pending = bank.record(TransferRequest(
        transfer_id=uuid4(), kind="service_credit", debit_account_id=community[
            "issuance_account"], credit_account_id=ada.id, minutes=30, category="care",
        service_date="2026-11-20", pending=True, actor="staff:test", on_behalf_of=None,
        channel="api"))
    app = create_app({"LEDGER": bank, "EXPIRY_SWEEP_SECONDS": 0.02})
    sweeper = app.extensions[SWEEPER_EXTENSION]
    try:
        assert not sweeper.running
        now[0] = pending.expires_at + dt.timedelta(seconds=1)
        app.test_client().get("/healthz")
        assert sweeper.running
        deadline = time.monotonic() + 10
        while bank.transfer(pending.id).state != "voided" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert bank.transfer(pending.id).void_reason == "expired"
    finally:
        sweeper.stop()
        bank.close()
    assert not sweeper.running
