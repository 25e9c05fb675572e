"""GET /v1/accounts/<id> and its history: balances in minutes, and who may read them."""

from __future__ import annotations

from uuid import uuid4

import pytest


def test_member_reads_their_own_balances_and_limits(api, town):
    api.post("/v1/credits", town.credit(pending=True, minutes=30), as_="staff")
    api.post("/v1/credits", town.credit(minutes=90), as_="staff")
    response = api.get(f"/v1/accounts/{town.ada}", as_="member")
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("id", "kind", "balance", "pending_in", "pending_out")} == {
        "id": str(town.ada), "kind": "member", "balance": 90, "pending_in": 30,
        "pending_out": 0}
    assert body["limits"]["max_balance"] == 1200 and body["available"] == 90
    assert body["community"] == str(town.community) and body["erased"] is False


def test_organisation_account_shows_budget_and_what_is_left(api, town):
    api.post("/v1/credits", town.credit(minutes=100), as_="partner")
    body = api.get(f"/v1/accounts/{town.org}", as_="partner").get_json()
    assert (body["balance"], body["available"], body["limits"]["budget"]) == (-100, 500, 600)


def test_issuance_account_is_unbounded(api, town):
    body = api.get(f"/v1/accounts/{town.issuance}", as_="auditor").get_json()
    assert body["available"] is None and body["limits"]["min_balance"] is None


@pytest.mark.parametrize(("role", "account"), [("other_member", "ada"), ("member", "bo"),
                                               ("member", "org"), ("partner", "other_org"),
                                               ("partner", "ada")])
def test_members_and_partners_may_not_read_other_accounts(api, town, role, account, problem):
    problem(api.get(f"/v1/accounts/{getattr(town, account)}", as_=role), 403, "forbidden")
    problem(api.get(f"/v1/accounts/{getattr(town, account)}/history", as_=role), 403,
            "forbidden")


@pytest.mark.parametrize("role", ["admin", "staff", "auditor", "mediator"])
def test_staff_and_auditors_read_every_account(api, town, role):
    assert api.get(f"/v1/accounts/{town.bo}", as_=role).status_code == 200
    assert api.get(f"/v1/accounts/{town.org}/history", as_=role).status_code == 200


def test_unknown_account_is_a_404_problem(api, problem):
    problem(api.get(f"/v1/accounts/{uuid4()}"), 404, "not_found")
    problem(api.get(f"/v1/accounts/{uuid4()}/history"), 404, "not_found")


def test_history_pages_newest_first_until_next_is_null(api, town):
    for minutes in (10, 20, 30):
        api.post("/v1/credits", town.credit(minutes=minutes), as_="staff")
    first = api.get(f"/v1/accounts/{town.ada}/history?limit=2", as_="member").get_json()
    assert [e["minutes"] for e in first["entries"]] == [30, 20]
    assert first["next"] == first["entries"][-1]["entry_no"]
    assert [e["balance_after"] for e in first["entries"]] == [60, 30]
    rest = api.get(f"/v1/accounts/{town.ada}/history?before={first['next']}&limit=50",
                   as_="member").get_json()
    assert [e["event"] for e in rest["entries"]] == ["Credited", "ProfileRecorded", "Opened"]
    assert rest["next"] is None
    assert "ciphertext" not in rest["entries"][1]


def test_unknown_or_missing_tokens_are_unauthenticated(api, town, problem):
    path = f"/v1/accounts/{town.ada}"
    problem(api.get(path, as_=None), 401, "unauthenticated")
    for header in ("Bearer clt_nope", "Basic YWRhOnB3", "Bearer "):
        response = api.get(path, as_=None, headers={"Authorization": header})
        problem(response, 401, "unauthenticated", "Authorization")


def test_a_revoked_token_is_unauthenticated(api, town, problem):
    token, principal = town.bank.tokens.issue("member", town.ada)
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get(f"/v1/accounts/{town.ada}", as_=None, headers=headers).status_code == 200
    town.bank.tokens.revoke(principal.token_id)
    problem(api.get(f"/v1/accounts/{town.ada}", as_=None, headers=headers), 401,
            "unauthenticated")
