"""Members: opening with an encrypted profile, reading it, erasing it."""

from __future__ import annotations

from uuid import uuid4

PROFILE = {"display_name": "Cy", "phone": "+1 555 0100", "address": "1 Elm Street"}


def test_staff_opens_a_member_with_a_profile(api, town):
    member_id = str(uuid4())
    response = api.post("/v1/members", {"id": member_id, "community": str(town.community),
                                        "profile": PROFILE}, as_="staff")
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"] == member_id and body["profile"] == PROFILE
    assert body["erased"] is False and body["account"]["kind"] == "member"


def test_opening_a_member_again_with_the_same_id_answers_the_same_member(api, town):
    request = {"id": str(uuid4()), "community": str(town.community)}
    first = api.post("/v1/members", request, as_="staff")
    again = api.post("/v1/members", request, as_="staff")
    assert again.status_code == 201 and again.get_json() == first.get_json()


def test_members_and_partners_may_not_open_members(api, town, problem):
    for role in ("member", "partner", "auditor"):
        response = api.post("/v1/members", {"community": str(town.community)}, as_=role)
        problem(response, 403, "forbidden")


def test_opening_a_member_in_an_unknown_community_is_not_found(api, problem):
    response = api.post("/v1/members", {"community": str(uuid4())}, as_="staff")
    problem(response, 404, "not_found", "community")


def test_member_reads_their_own_profile(api, town):
    body = api.get(f"/v1/members/{town.ada}", as_="member").get_json()
    assert body["profile"] == {"display_name": "Ada", "phone": "+1 555"}


def test_auditors_and_mediators_read_a_member_without_personal_data(api, town):
    for role in ("auditor", "mediator"):
        response = api.get(f"/v1/members/{town.ada}", as_=role)
        assert response.status_code == 200
        assert "profile" not in response.get_json()
        assert response.get_json()["account"]["id"] == str(town.ada)


def test_member_may_not_read_another_member(api, town, problem):
    problem(api.get(f"/v1/members/{town.bo}", as_="member"), 403, "forbidden")


def test_unknown_member_is_a_404_problem(api, problem):
    problem(api.get(f"/v1/members/{uuid4()}", as_="staff"), 404, "not_found")


def test_erasure_removes_personal_data_but_keeps_balance_and_history(api, town):
    api.post("/v1/credits", town.credit(minutes=45), as_="staff")
    response = api.post(f"/v1/members/{town.ada}/erasure", as_="staff")
    assert response.status_code == 200
    body = response.get_json()
    assert body["erased"] is True and body["profile"] is None
    assert body["account"]["balance"] == 45 and body["account"]["erased"] is True
    assert api.get(f"/v1/members/{town.ada}", as_="staff").get_json()["profile"] is None
    entries = api.get(f"/v1/accounts/{town.ada}/history").get_json()["entries"]
    assert [e["event"] for e in entries[:2]] == ["Erased", "Credited"]


def test_erased_member_takes_no_new_movements(api, town, problem):
    api.post(f"/v1/members/{town.ada}/erasure", as_="admin")
    before = town.state()
    problem(api.post("/v1/credits", town.credit(), as_="staff"), 422, "account_erased")
    assert town.state() == before


def test_only_staff_and_administrators_erase(api, town, problem):
    for role in ("member", "auditor", "partner"):
        problem(api.post(f"/v1/members/{town.ada}/erasure", as_=role), 403, "forbidden")
    assert api.get(f"/v1/members/{town.ada}", as_="staff").get_json()["profile"] is not None


def test_erasing_an_unknown_member_is_not_found(api, problem):
    problem(api.post(f"/v1/members/{uuid4()}/erasure", as_="staff"), 404, "not_found")
