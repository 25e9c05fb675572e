"""GET /v1/transfers/<id> and reversals: who may see and undo a movement."""

from __future__ import annotations

from uuid import uuid4

import pytest


@pytest.fixture
def credit(api, town):
    """A posted credit: the org paid Ada 90 minutes."""
    return api.post("/v1/credits", town.credit(), as_="partner").get_json()


@pytest.mark.parametrize("role", ["admin", "staff", "auditor", "mediator", "partner", "member"])
def test_staff_auditors_and_both_sides_may_read_a_transfer(api, credit, role):
    response = api.get(f"/v1/transfers/{credit['id']}", as_=role)
    assert response.status_code == 200
    assert response.get_json() == {**credit, "created": True, "log_indexes": []}


@pytest.mark.parametrize("role", ["other_member", "other_partner"])
def test_others_may_not_read_a_transfer(api, credit, role, problem):
    problem(api.get(f"/v1/transfers/{credit['id']}", as_=role), 403, "forbidden")


def test_unknown_transfer_is_a_404_problem(api, problem):
    problem(api.get(f"/v1/transfers/{uuid4()}"), 404, "not_found")


def test_reversal_restores_balances_and_shows_in_history(api, town, credit):
    response = api.post(f"/v1/transfers/{credit['id']}/reversal", {"reason": "typo"},
                        as_="staff")
    assert response.status_code == 201
    reversal = response.get_json()
    assert reversal["kind"] == "reversal" and reversal["reverses"] == credit["id"]
    assert reversal["debit_account"] == str(town.ada)
    original = api.get(f"/v1/transfers/{credit['id']}").get_json()
    assert original["reversed_by"] == reversal["id"]
    assert (town.balance("ada"), town.balance("org")) == (0, 0)
    entries = api.get(f"/v1/accounts/{town.ada}/history", as_="member").get_json()["entries"]
    assert [(e["event"], e["kind"], e["direction"]) for e in entries[:2]] == [
        ("Debited", "reversal", "debit"), ("Credited", "service_credit", "credit")]


def test_asking_for_a_reversal_twice_reverses_once(api, town, credit):
    first = api.post(f"/v1/transfers/{credit['id']}/reversal", as_="staff")
    again = api.post(f"/v1/transfers/{credit['id']}/reversal", as_="staff")
    assert again.status_code == 201
    assert again.get_json() == {**first.get_json(), "created": False,
                                "log_indexes": []}
    assert town.balance("ada") == 0


@pytest.mark.parametrize("role", ["partner", "member", "auditor"])
def test_only_staff_and_administrators_reverse(api, town, credit, role, problem):
    problem(api.post(f"/v1/transfers/{credit['id']}/reversal", as_=role), 403, "forbidden")
    assert town.balance("ada") == 90


def test_a_reversal_cannot_be_reversed(api, credit, problem):
    reversal = api.post(f"/v1/transfers/{credit['id']}/reversal", as_="staff").get_json()
    problem(api.post(f"/v1/transfers/{reversal['id']}/reversal", as_="staff"), 409,
            "invalid_transition")


def test_a_pending_credit_is_voided_not_reversed(api, town, problem):
    pending = town.credit(pending=True)
    api.post("/v1/credits", pending, as_="staff")
    problem(api.post(f"/v1/transfers/{pending['id']}/reversal", as_="staff"), 409,
            "invalid_transition")


def test_reversing_an_unknown_transfer_is_not_found(api, problem):
    problem(api.post(f"/v1/transfers/{uuid4()}/reversal", as_="staff"), 404, "not_found")
