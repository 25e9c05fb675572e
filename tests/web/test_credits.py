"""POST /v1/credits and its confirm/void: posting, pending, idempotency, roles."""

from __future__ import annotations

from uuid import uuid4


def test_staff_records_a_posted_credit_that_moves_minutes(api, town):
    response = api.post("/v1/credits", town.credit(), as_="staff")
    assert response.status_code == 201
    body = response.get_json()
    assert body["state"] == "posted" and body["kind"] == "service_credit"
    assert body["minutes"] == 90 and body["created"] is True
    assert body["actor"].startswith("staff:") and body["channel"] == "api"
    assert body["debit_account"] == str(town.org) and body["credit_account"] == str(town.ada)
    assert (town.balance("ada"), town.balance("org")) == (90, -90)


def test_replayed_credit_answers_201_with_the_original_and_created_false(api, town):
    credit = town.credit()
    first = api.post("/v1/credits", credit, as_="staff")
    again = api.post("/v1/credits", credit, as_="staff")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == {**first.get_json(), "created": False,
                                "log_indexes": []}
    assert town.balance("ada") == 90


def test_same_credit_id_with_a_different_payload_is_a_conflict_naming_the_field(
        api, town, problem):
    credit = town.credit()
    api.post("/v1/credits", credit, as_="staff")
    response = api.post("/v1/credits", {**credit, "minutes": 91}, as_="staff")
    problem(response, 422, "idempotency_conflict", "minutes")
    response = api.post("/v1/credits", {**credit, "payer": str(town.other_org)}, as_="staff")
    problem(response, 422, "idempotency_conflict", "payer")
    assert town.balance("ada") == 90


def test_partner_records_credits_paid_by_its_own_organisation(api, town):
    response = api.post("/v1/credits", town.credit(), as_="partner")
    assert response.status_code == 201
    assert response.get_json()["actor"].startswith("partner:")


def test_partner_paying_from_another_organisation_is_forbidden_and_writes_nothing(
        api, town, problem):
    before = town.state()
    response = api.post("/v1/credits", town.credit(payer=str(town.other_org)), as_="partner")
    problem(response, 403, "forbidden")
    assert town.state() == before


def test_members_and_auditors_may_not_record_credits(api, town, problem):
    for role in ("member", "auditor", "mediator"):
        problem(api.post("/v1/credits", town.credit(), as_=role), 403, "forbidden")


def test_credit_without_a_token_is_unauthenticated(api, town, problem):
    response = api.post("/v1/credits", town.credit(), as_=None)
    problem(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_credit_beyond_the_budget_is_refused_and_writes_nothing(api, town, problem):
    api.post("/v1/credits", town.credit(minutes=480), as_="staff")
    before = town.state()
    response = api.post("/v1/credits", town.credit(minutes=121, volunteer=str(town.bo)),
                        as_="staff")
    problem(response, 422, "minimum_balance", "minutes")
    assert town.state() == before


def test_credit_to_an_unknown_volunteer_is_not_found(api, town, problem):
    response = api.post("/v1/credits", town.credit(volunteer=str(uuid4())), as_="staff")
    problem(response, 404, "not_found", "volunteer")


def test_staff_may_record_a_paper_credit_and_partners_may_not(api, town, problem):
    paper = api.post("/v1/credits", town.credit(channel="paper"), as_="staff")
    assert paper.status_code == 201 and paper.get_json()["channel"] == "paper"
    response = api.post("/v1/credits", town.credit(channel="paper"), as_="partner")
    problem(response, 403, "forbidden", "channel")


def test_pending_credit_reserves_minutes_until_confirmed(api, town):
    credit = town.credit(pending=True, minutes=120)
    pending = api.post("/v1/credits", credit, as_="partner").get_json()
    assert pending["state"] == "pending" and pending["expires_at"] is not None
    ada = api.get(f"/v1/accounts/{town.ada}", as_="member").get_json()
    assert (ada["balance"], ada["pending_in"]) == (0, 120)
    confirmed = api.post(f"/v1/credits/{credit['id']}/confirm", as_="partner")
    assert confirmed.status_code == 200 and confirmed.get_json()["state"] == "posted"
    ada = api.get(f"/v1/accounts/{town.ada}", as_="member").get_json()
    assert (ada["balance"], ada["pending_in"]) == (120, 0)


def test_voided_credit_releases_its_reservation_and_cannot_be_confirmed(api, town, problem):
    credit = town.credit(pending=True, minutes=120)
    api.post("/v1/credits", credit, as_="staff")
    voided = api.post(f"/v1/credits/{credit['id']}/void", {"reason": "no-show"}, as_="staff")
    assert voided.status_code == 200
    assert voided.get_json()["state"] == "voided"
    assert voided.get_json()["void_reason"] == "no-show"
    assert town.state()["org"][:3] == (0, 0, 0) and town.state()["ada"][:3] == (0, 0, 0)
    response = api.post(f"/v1/credits/{credit['id']}/confirm", as_="staff")
    problem(response, 409, "invalid_transition", "id")
    history = api.get(f"/v1/accounts/{town.ada}/history", as_="member").get_json()
    assert history["entries"][0]["event"] == "PendingReleased"
    assert history["entries"][0]["reason"] == "no-show"


def test_partner_may_not_confirm_or_void_another_organisations_credit(api, town, problem):
    credit = town.credit(pending=True)
    api.post("/v1/credits", credit, as_="partner")
    for step in ("confirm", "void"):
        response = api.post(f"/v1/credits/{credit['id']}/{step}", as_="other_partner")
        problem(response, 403, "forbidden")
    assert town.state()["ada"][:3] == (0, 90, 0)


def test_confirming_or_voiding_an_unknown_credit_is_not_found(api, town, problem):
    for step in ("confirm", "void"):
        problem(api.post(f"/v1/credits/{uuid4()}/{step}", as_="staff"), 404, "not_found")


def test_voiding_a_posted_credit_is_a_conflict(api, town, problem):
    credit = town.credit()
    api.post("/v1/credits", credit, as_="staff")
    problem(api.post(f"/v1/credits/{credit['id']}/void", as_="staff"), 409,
            "invalid_transition")
    assert town.balance("ada") == 90
