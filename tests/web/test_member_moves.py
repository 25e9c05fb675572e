"""Redemptions, gifts and donations: members move their own time; staff act for them."""

from __future__ import annotations

import datetime as dt
from uuid import uuid4

import pytest


@pytest.fixture
def earned(api, town):
    """Ada has earned 300 minutes."""
    api.post("/v1/credits", town.credit(payer=str(town.issuance), minutes=300), as_="staff")
    return town


def test_member_redeems_from_their_own_account(api, earned):
    response = api.post("/v1/redemptions", earned.redemption(), as_="member")
    assert response.status_code == 201
    body = response.get_json()
    assert body["kind"] == "redemption" and body["on_behalf_of"] is None
    assert body["actor"].startswith("member:")
    assert (earned.balance("ada"), earned.balance("org")) == (270, 30)


def test_staff_redeeming_for_a_member_records_whom_they_acted_for(api, earned):
    response = api.post("/v1/redemptions", earned.redemption(channel="service_window"),
                        as_="staff")
    body = response.get_json()
    assert response.status_code == 201
    assert body["on_behalf_of"] == str(earned.ada) and body["channel"] == "service_window"


def test_staff_may_not_name_another_member_as_the_one_they_act_for(api, earned, problem):
    response = api.post("/v1/redemptions", earned.redemption(on_behalf_of=str(earned.bo)),
                        as_="staff")
    problem(response, 422, "on_behalf_of_member", "on_behalf_of")


def test_member_may_not_redeem_from_another_members_account(api, earned, problem):
    before = earned.state()
    response = api.post("/v1/redemptions", earned.redemption(member=str(earned.ada)),
                        as_="other_member")
    problem(response, 403, "forbidden")
    assert earned.state() == before


def test_member_may_not_claim_to_act_on_behalf_of_anyone_or_use_a_staff_channel(
        api, earned, problem):
    response = api.post("/v1/redemptions", earned.redemption(on_behalf_of=str(earned.ada)),
                        as_="member")
    problem(response, 403, "forbidden", "on_behalf_of")
    response = api.post("/v1/redemptions", earned.redemption(channel="paper"), as_="member")
    problem(response, 403, "forbidden", "channel")


def test_redemption_beyond_the_balance_is_refused_and_writes_nothing(api, earned, problem):
    before = earned.state()
    response = api.post("/v1/redemptions", earned.redemption(minutes=301), as_="member")
    problem(response, 422, "minimum_balance", "minutes")
    assert earned.state() == before


def test_replayed_redemption_lands_once_and_a_changed_one_conflicts(api, earned, problem):
    redemption = earned.redemption()
    first = api.post("/v1/redemptions", redemption, as_="member")
    again = api.post("/v1/redemptions", redemption, as_="member")
    assert again.status_code == 201
    assert again.get_json() == {**first.get_json(), "created": False, "log_indexes": []}
    response = api.post("/v1/redemptions", {**redemption, "category": "meals"}, as_="member")
    problem(response, 422, "idempotency_conflict", "category")
    assert earned.balance("ada") == 270


def test_member_gives_minutes_to_another_member(api, earned):
    gift = {"id": str(uuid4()), "from": str(earned.ada), "to": str(earned.bo), "minutes": 100}
    response = api.post("/v1/gifts", gift, as_="member")
    assert response.status_code == 201
    assert response.get_json()["service_date"] == dt.datetime.now(dt.UTC).date().isoformat()
    assert (earned.balance("ada"), earned.balance("bo")) == (200, 100)
    assert api.post("/v1/gifts", gift, as_="member").get_json()["created"] is False


def test_gift_to_an_organisation_is_refused_by_the_rules(api, earned, problem):
    gift = {"id": str(uuid4()), "from": str(earned.ada), "to": str(earned.org), "minutes": 10,
            "service_date": "2026-11-20"}
    problem(api.post("/v1/gifts", gift, as_="member"), 422, "account_kind")
    assert earned.balance("ada") == 300


def test_member_may_not_give_from_another_members_account(api, earned, problem):
    gift = {"id": str(uuid4()), "from": str(earned.ada), "to": str(earned.bo), "minutes": 10}
    problem(api.post("/v1/gifts", gift, as_="other_member"), 403, "forbidden")


def test_donation_goes_to_the_community_pool_by_default(api, earned):
    donation = {"id": str(uuid4()), "from": str(earned.ada), "minutes": 50}
    response = api.post("/v1/donations", donation, as_="member")
    assert response.status_code == 201
    assert response.get_json()["credit_account"] == str(earned.pool)
    assert (earned.balance("ada"), earned.balance("pool")) == (250, 50)
    assert api.post("/v1/donations", donation, as_="member").get_json()["created"] is False


def test_staff_grant_from_the_pool_reaches_a_member(api, earned):
    api.post("/v1/donations", {"id": str(uuid4()), "from": str(earned.ada), "minutes": 50},
             as_="member")
    grant = {"id": str(uuid4()), "from": str(earned.pool), "to": str(earned.bo),
             "minutes": 20, "category": "hardship"}
    assert api.post("/v1/gifts", grant, as_="staff").status_code == 201
    assert (earned.balance("pool"), earned.balance("bo")) == (30, 20)


def test_donation_from_an_unknown_account_is_not_found(api, earned, problem):
    donation = {"id": str(uuid4()), "from": str(uuid4()), "minutes": 5}
    problem(api.post("/v1/donations", donation, as_="staff"), 404, "not_found")


def test_donation_to_a_member_is_refused_by_the_rules(api, earned, problem):
    donation = {"id": str(uuid4()), "from": str(earned.ada), "to": str(earned.bo),
                "minutes": 5}
    problem(api.post("/v1/donations", donation, as_="member"), 422, "account_kind")
