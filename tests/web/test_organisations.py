"""Organisations: administrators open them and set their budgets."""

from __future__ import annotations

from uuid import uuid4


def test_admin_opens_an_organisation_with_a_budget(api, town):
    body = {"id": str(uuid4()), "community": str(town.community), "name": "Food Bank",
            "budget": 1200}
    response = api.post("/v1/organisations", body)
    assert response.status_code == 201
    account = response.get_json()
    assert (account["id"], account["kind"], account["label"]) == (body["id"], "organisation",
                                                                  "Food Bank")
    assert account["limits"]["budget"] == 1200 and account["available"] == 1200


def test_only_administrators_open_organisations(api, town, problem):
    body = {"community": str(town.community), "name": "X", "budget": 0}
    for role in ("staff", "partner"):
        problem(api.post("/v1/organisations", body, as_=role), 403, "forbidden")


def test_negative_budget_is_a_schema_problem(api, town, problem):
    body = {"community": str(town.community), "name": "X", "budget": -1}
    problem(api.post("/v1/organisations", body), 422, "schema", "budget")


def test_admin_raises_a_budget(api, town):
    response = api.post(f"/v1/organisations/{town.org}/budget", {"budget": 900})
    assert response.status_code == 200
    assert response.get_json()["limits"]["budget"] == 900


def test_budget_below_what_was_issued_is_refused(api, town, problem):
    api.post("/v1/credits", town.credit(minutes=300), as_="staff")
    response = api.post(f"/v1/organisations/{town.org}/budget", {"budget": 299})
    problem(response, 422, "minimum_balance", "budget")
    assert api.get(f"/v1/accounts/{town.org}").get_json()["limits"]["budget"] == 600


def test_partner_may_not_set_its_own_budget(api, town, problem):
    response = api.post(f"/v1/organisations/{town.org}/budget", {"budget": 10_000},
                        as_="partner")
    problem(response, 403, "forbidden")


def test_budget_of_an_unknown_organisation_is_not_found(api, problem):
    problem(api.post(f"/v1/organisations/{uuid4()}/budget", {"budget": 1}), 404, "not_found")
