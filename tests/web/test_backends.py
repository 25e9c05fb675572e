"""The credit and redemption path through HTTP on every storage backend."""

from __future__ import annotations


def test_credit_replay_and_redemption_work_on_every_backend(backend_api, problem):
    api, town = backend_api, backend_api.town
    credit = town.credit(minutes=120)
    first = api.post("/v1/credits", credit, as_="partner")
    assert first.status_code == 201 and first.get_json()["state"] == "posted"
    again = api.post("/v1/credits", credit, as_="partner")
    assert again.get_json() == {**first.get_json(), "created": False,
                                "log_indexes": []}
    problem(api.post("/v1/credits", {**credit, "minutes": 121}, as_="partner"), 422,
            "idempotency_conflict", "minutes")
    redemption = api.post("/v1/redemptions", town.redemption(minutes=45), as_="member")
    assert redemption.status_code == 201
    ada = api.get(f"/v1/accounts/{town.ada}", as_="member").get_json()
    assert ada["balance"] == 75
    assert [e["kind"] for e in api.get(f"/v1/accounts/{town.ada}/history?limit=2",
                                       as_="member").get_json()["entries"]] == [
        "redemption", "service_credit"]


def test_pending_credit_and_reversal_work_on_every_backend(backend_api):
    api, town = backend_api, backend_api.town
    credit = town.credit(pending=True)
    api.post("/v1/credits", credit, as_="staff")
    assert api.post(f"/v1/credits/{credit['id']}/confirm", as_="staff").status_code == 200
    reversal = api.post(f"/v1/transfers/{credit['id']}/reversal", as_="staff")
    assert reversal.status_code == 201
    assert (town.balance("ada"), town.balance("org")) == (0, 0)
