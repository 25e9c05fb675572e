"""Communities and their rules: administrators register and change; everyone reads."""

from __future__ import annotations

from uuid import uuid4


def test_admin_registers_a_community_with_its_own_rules(api):
    body = {"id": str(uuid4()), "name": "Birch Row", "rules": {"daily_earning_cap": 300}}
    response = api.post("/v1/communities", body)
    assert response.status_code == 201
    community = response.get_json()
    assert community["id"] == body["id"] and community["rules"]["daily_earning_cap"] == 300
    assert community["rules"]["version"] == 1
    assert {"issuance_account", "pool_account"} <= set(community)
    again = api.post("/v1/communities", body)
    assert again.status_code == 201
    assert again.get_json() == {**community, "log_indexes": []}


def test_registering_with_an_out_of_range_rule_is_refused(api, problem):
    response = api.post("/v1/communities", {"name": "X", "rules": {"member_max_balance": 0}})
    problem(response, 422, "invalid_rules", "member_max_balance")


def test_only_administrators_register_communities(api, problem):
    for role in ("staff", "partner", "member", "auditor"):
        problem(api.post("/v1/communities", {"name": "X"}, as_=role), 403, "forbidden")


def test_every_role_reads_a_community(api, town):
    for role in ("member", "partner", "auditor", "mediator", "staff"):
        response = api.get(f"/v1/communities/{town.community}", as_=role)
        assert response.status_code == 200
        assert response.get_json()["rules"]["member_max_balance"] == 1200


def test_unknown_community_is_a_404_problem(api, problem):
    problem(api.get(f"/v1/communities/{uuid4()}"), 404, "not_found")


def test_admin_changes_rules_into_a_new_version(api, town):
    response = api.call("PATCH", f"/v1/communities/{town.community}/rules",
                        {"member_max_balance": 2400})
    assert response.status_code == 200
    rules = response.get_json()["rules"]
    assert (rules["version"], rules["member_max_balance"]) == (2, 2400)
    account = api.get(f"/v1/accounts/{town.ada}").get_json()
    assert account["limits"]["max_balance"] == 2400


def test_rule_changes_are_checked_by_shape_and_by_the_rules(api, town, problem):
    path = f"/v1/communities/{town.community}/rules"
    problem(api.call("PATCH", path, {"colour": 1}), 422, "schema", "colour")
    problem(api.call("PATCH", path, {"daily_earning_cap": -1}), 422, "invalid_rules",
            "daily_earning_cap")
    assert api.get(f"/v1/communities/{town.community}").get_json()["rules"]["version"] == 1


def test_only_administrators_change_rules(api, town, problem):
    response = api.call("PATCH", f"/v1/communities/{town.community}/rules",
                        {"daily_earning_cap": 60}, as_="staff")
    problem(response, 403, "forbidden")
