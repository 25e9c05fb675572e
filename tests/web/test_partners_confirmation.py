"""Pending partner credits: confirmed by the volunteer, the beneficiary or a coordinator,
contested (voided with a reason), or confirmed automatically after the window.

Also the key-management routes (bearer tokens): who may add, rotate and
revoke keys and narrow the categories.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from web.blueprints.partners import SWEEPER_EXTENSION
from web.partner_client import PartnerClient, public_key_of

from .conftest import build_api, make_bank
from .partner_kit import partner_client


@pytest.fixture
def pending(partner: PartnerClient, town: Any) -> str:
    """A pending credit: the org pays Ada 90 minutes for a visit to Bo."""
    answer = partner.post_credit({
        "id": str(uuid.uuid4()), "volunteer": str(town.ada), "minutes": 90,
        "category": "elderly-companionship", "service_date": "2026-11-20",
        "pending": True, "beneficiary": str(town.bo)})
    assert answer.status == 201 and answer.body["state"] == "pending"
    return str(answer.body["id"])


def path(town: Any, credit: str, action: str) -> str:
    return f"/v1/partners/{town.org}/credits/{credit}/{action}"


@pytest.mark.parametrize("who", ["member", "other_member", "staff", "admin"])
def test_the_volunteer_the_beneficiary_or_a_coordinator_confirms(api, town, pending, who):
    response = api.post(path(town, pending, "confirm"), as_=who)
    assert response.status_code == 200 and response.get_json()["state"] == "posted"
    assert town.balance("ada") == 90


@pytest.mark.parametrize("who", ["partner", "auditor", "mediator"])
def test_others_may_not_confirm_a_partner_credit(api, town, pending, who, problem):
    problem(api.post(path(town, pending, "confirm"), as_=who), 403, "forbidden")
    assert town.balance("ada") == 0


def test_a_member_who_is_neither_volunteer_nor_beneficiary_may_not_confirm(
        api, town, partner, problem):
    answer = partner.post_credit({"id": str(uuid.uuid4()), "volunteer": str(town.ada),
                                  "minutes": 30, "category": "errands",
                                  "service_date": "2026-11-20", "pending": True})
    problem(api.post(path(town, answer.body["id"], "confirm"), as_="other_member"), 403,
            "forbidden")


def test_a_contested_credit_is_voided_with_its_reason(api, town, pending):
    response = api.post(path(town, pending, "contest"), {"reason": "the visit never happened"},
                        as_="other_member")
    assert response.status_code == 200
    assert response.get_json()["state"] == "voided"
    assert response.get_json()["void_reason"] == "contested: the visit never happened"
    assert town.state()["ada"][:3] == (0, 0, 0) and town.state()["org"][:3] == (0, 0, 0)


def test_a_contest_needs_a_reason(api, town, pending, problem):
    problem(api.post(path(town, pending, "contest"), {}, as_="staff"), 422, "schema", "reason")


def test_a_posted_credit_cannot_be_contested(api, town, pending, problem):
    api.post(path(town, pending, "confirm"), as_="staff")
    problem(api.post(path(town, pending, "contest"), {"reason": "late"}, as_="member"), 409,
            "invalid_transition")
    assert town.balance("ada") == 90


def test_a_credit_of_another_organisation_is_not_found_under_this_one(api, town, pending,
                                                                      problem):
    problem(api.post(f"/v1/partners/{town.other_org}/credits/{pending}/confirm", as_="staff"),
            404, "not_found")


def test_pending_partner_credits_are_confirmed_after_the_window(town, desk, pending):
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=6)
    assert desk.credits.auto_confirm(soon) == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=7, minutes=1)
    assert desk.credits.auto_confirm(later) == [uuid.UUID(pending)]
    view = town.bank.transfer(uuid.UUID(pending))
    assert view.state == "posted" and town.balance("ada") == 90
    assert desk.credits.auto_confirm(later) == []


def test_an_expired_pending_credit_is_never_auto_confirmed(town, desk, pending):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=15)  # expiry: 14 days
    assert desk.credits.auto_confirm(later) == []
    assert town.bank.transfer(uuid.UUID(pending)).state == "pending"


def test_auto_confirm_takes_candidates_from_a_read_model(town, desk, pending):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)
    assert desk.credits.auto_confirm(later, candidates=[]) == []
    assert desk.credits.auto_confirm(later, candidates=[uuid.UUID(pending)]) == [uuid.UUID(pending)]


def test_the_server_sweeper_confirms_due_partner_credits(master_key):
    bank = make_bank("memory://", master_key)
    try:
        api = build_api(bank, PARTNER_AUTO_CONFIRM_DAYS=0, PARTNER_CONFIRM_SWEEP_SECONDS=3600)
        town = api.town
        partner = partner_client(api, town.org)
        answer = partner.post_credit({
            "id": str(uuid.uuid4()), "volunteer": str(town.ada), "minutes": 30,
            "category": "errands", "service_date": "2026-11-20", "pending": True})
        sweeper = api.app.extensions[SWEEPER_EXTENSION]
        assert sweeper._thread is not None  # started by the first request
        assert sweeper.sweep() == 1 and sweeper.sweep() == 0
        assert town.bank.transfer(uuid.UUID(answer.body["id"])).state == "posted"
        sweeper.stop()
    finally:
        bank.close()


# -- keys (bearer) ---------------------------------------------------------------------


def test_an_admin_registers_rotates_and_revokes_a_partner_key(api, town):
    keys = "/v1/partners/{}/keys".format(town.org)
    first = public_key_of(Ed25519PrivateKey.generate())
    second = public_key_of(Ed25519PrivateKey.generate())
    response = api.post(keys, {"key_id": "care/2026-1", "public_key": first})
    assert response.status_code == 201 and response.get_json()["keys"][0]["revoked"] is False
    again = api.post(keys, {"key_id": "care/2026-1", "public_key": first})
    assert again.status_code == 201 and again.get_json()["log_indexes"] == []
    rotated = api.post(keys, {"key_id": "care/2026-2", "public_key": second,
                              "replaces": "care/2026-1"}).get_json()
    assert [(k["key_id"], k["revoked"]) for k in rotated["keys"]] == [
        ("care/2026-1", True), ("care/2026-2", False)]
    revoked = api.post(f"{keys}/care/2026-2/revocation", {"reason": "retired"})
    assert revoked.status_code == 200 and revoked.get_json()["keys"][1]["reason"] == "retired"
    assert api.get(keys, as_="auditor").get_json()["version"] == 5  # registered + 4


def test_a_partner_manages_its_own_keys_only(api, town, problem):
    key = public_key_of(Ed25519PrivateKey.generate())
    own = api.post(f"/v1/partners/{town.org}/keys", {"key_id": "k", "public_key": key},
                   as_="partner")
    assert own.status_code == 201
    problem(api.post(f"/v1/partners/{town.other_org}/keys", {"key_id": "k", "public_key": key},
                     as_="partner"), 403, "forbidden")
    problem(api.get(f"/v1/partners/{town.other_org}/keys", as_="partner"), 403, "forbidden")


def test_a_key_id_or_public_key_is_never_reused(api, town, problem):
    key = public_key_of(Ed25519PrivateKey.generate())
    keys = f"/v1/partners/{town.org}/keys"
    api.post(keys, {"key_id": "k1", "public_key": key})
    api.post(f"{keys}/k1/revocation")
    problem(api.post(keys, {"key_id": "k2", "public_key": key}), 422, "public_key_reused",
            "public_key")
    problem(api.post(keys, {"key_id": "k1", "public_key": public_key_of(
        Ed25519PrivateKey.generate())}), 422, "key_id_taken", "key_id")
    problem(api.post(keys, {"key_id": "k3", "public_key": "bm90IGEga2V5"}), 422,
            "invalid_partner_key", "public_key")


def test_only_an_admin_narrows_the_categories(api, town, problem):
    categories = f"/v1/partners/{town.org}/categories"
    problem(api.call("PUT", categories, {"categories": ["errands"]}, as_="partner"), 403,
            "forbidden")
    response = api.call("PUT", categories, {"categories": ["errands", "transport"]})
    assert response.status_code == 200
    assert response.get_json()["categories"] == ["errands", "transport"]


def test_keys_belong_to_organisations_only(api, town, problem):
    key = public_key_of(Ed25519PrivateKey.generate())
    problem(api.post(f"/v1/partners/{town.ada}/keys", {"key_id": "k", "public_key": key}),
            422, "account_kind", "organisation")
