"""Pledges over HTTP: made online by members or through staff, withdrawn, renewed when a
new version is adopted, checked in by the member; members read only their own."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import uuid4

VOTE = {"meeting_date": "2026-03-01", "eligible": 40, "present": 25, "votes_for": 20,
        "votes_against": 3, "abstaining": 2}
COMMUNITY_ZONE = dt.timezone(dt.timedelta(hours=8))  # the default community time zone


def adopted(api: Any, previous: str | None = None) -> str:
    """An adopted convention (a new version of ``previous`` when given); its id."""
    path = f"/v1/conventions/{previous}/versions" if previous else "/v1/conventions"
    body = {"title": "Quiet hours", "text": f"Quiet 22:00-07:00 ({uuid4()})",
            "effective_date": "2026-04-01"}
    if previous is None:
        body.update(community=str(api.town.community), scope="community")
    made = api.post(path, body, as_="staff").get_json()
    assert api.post(f"/v1/conventions/{made['id']}/adoption", VOTE,
                    as_="staff").status_code == 200
    return str(made["id"])


def pledged(api: Any, convention: str, as_: str = "member", **changes: Any) -> dict[str, Any]:
    """Ada's pledge (online, by herself unless changed)."""
    response = api.post("/v1/pledges", {"convention": convention,
                                        "member": str(api.town.ada), **changes}, as_=as_)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_a_member_pledges_online_and_reads_it_back(api, town):
    made = pledged(api, adopted(api))
    assert (made["status"], made["channel"], made["member"], made["created"]) == (
        "active", "online", str(town.ada), True)
    read = api.get(f"/v1/pledges/{made['id']}", as_="member").get_json()
    assert {k: read[k] for k in ("id", "status", "channel", "pledged_at", "actor")} == {
        k: made[k] for k in ("id", "status", "channel", "pledged_at", "actor")}


def test_pledging_again_answers_the_same_pledge(api):
    convention = adopted(api)
    first, again = pledged(api, convention), pledged(api, convention)
    assert (again["id"], again["created"], again["log_indexes"]) == (first["id"], False, [])


def test_staff_record_a_paper_pledge_with_its_form_number(api):
    made = pledged(api, adopted(api), as_="staff", channel="paper",
                   paper_form_number="F-0042")
    assert (made["channel"], made["paper_form_number"]) == ("paper", "F-0042")
    assert made["actor"].startswith("staff:")


def test_a_member_may_not_pledge_for_another_or_through_the_service_window(api, town,
                                                                           problem):
    convention = adopted(api)
    problem(api.post("/v1/pledges", {"convention": convention, "member": str(town.bo)},
                     as_="member"), 403, "forbidden")
    problem(api.post("/v1/pledges", {"convention": convention, "member": str(town.ada),
                                     "channel": "service_window"}, as_="member"),
            422, "staff_channel", "actor")


def test_a_pledge_to_a_draft_is_refused_naming_the_convention(api, town, problem):
    made = api.post("/v1/conventions", {
        "community": str(town.community), "scope": "community", "title": "t", "text": "x",
        "effective_date": "2026-04-01"}, as_="staff").get_json()
    problem(api.post("/v1/pledges", {"convention": made["id"], "member": str(town.ada)},
                     as_="member"), 422, "convention_not_adopted", "convention")


def test_a_member_lists_their_own_pledges_and_not_anothers(api, town, problem):
    made = pledged(api, adopted(api))
    mine = api.get(f"/v1/pledges?member={town.ada}", as_="member").get_json()["pledges"]
    assert [p["id"] for p in mine] == [made["id"]]
    problem(api.get(f"/v1/pledges?member={town.bo}", as_="member"), 403, "forbidden")
    problem(api.get("/v1/pledges", as_="member"), 403, "forbidden")


def test_auditors_read_any_pledge_and_other_members_none(api, problem):
    made = pledged(api, adopted(api))
    assert api.get(f"/v1/pledges/{made['id']}", as_="auditor").status_code == 200
    problem(api.get(f"/v1/pledges/{made['id']}", as_="other_member"), 403, "forbidden")
    problem(api.get(f"/v1/pledges/{uuid4()}", as_="staff"), 404, "not_found")


def test_a_member_withdraws_with_a_reason_code_and_not_with_free_text(api, problem):
    made = pledged(api, adopted(api))
    problem(api.post(f"/v1/pledges/{made['id']}/withdrawal",
                     {"reason": "my neighbour is noisy"}, as_="member"), 422, "schema",
            "reason")
    response = api.post(f"/v1/pledges/{made['id']}/withdrawal", {"reason": "moved_away"},
                        as_="member")
    assert (response.status_code, response.get_json()["status"]) == (200, "withdrawn")
    problem(api.post(f"/v1/pledges/{made['id']}/withdrawal", {"reason": "other"},
                     as_="member"), 409, "invalid_transition")


def test_pledges_to_a_superseded_version_are_due_for_renewal_and_renewed_once(api, town):
    old = adopted(api)
    made = pledged(api, old)
    new = adopted(api, previous=old)
    assert api.get(f"/v1/pledges/{made['id']}", as_="member").get_json()[
        "status"] == "renewal_due"
    assert api.get(f"/v1/conventions/{old}", as_="member").get_json()["pledges"][
        "renewal_due"] == 1
    renewed = api.post(f"/v1/pledges/{made['id']}/renewal", as_="member")
    assert renewed.status_code == 201
    assert (renewed.get_json()["convention"], renewed.get_json()["renews"]) == (new,
                                                                                made["id"])
    again = api.post(f"/v1/pledges/{made['id']}/renewal", {}, as_="member")
    assert (again.status_code, again.get_json()["created"]) == (201, False)


def test_a_pledge_not_due_for_renewal_is_not_renewed(api, problem):
    made = pledged(api, adopted(api))
    problem(api.post(f"/v1/pledges/{made['id']}/renewal", as_="member"), 409,
            "invalid_transition", "status")


def test_the_member_checks_in_for_a_day_of_the_communitys_calendar(api):
    made = pledged(api, adopted(api))
    today = dt.datetime.now(COMMUNITY_ZONE).date().isoformat()
    response = api.post(f"/v1/pledges/{made['id']}/check-ins",
                        {"date": today, "kept": True, "note": "quiet all week"},
                        as_="member")
    assert response.status_code == 201
    assert response.get_json()["check_ins"] == [{"date": today, "kept": True,
                                                 "note": "quiet all week"}]


def test_check_ins_are_the_members_own_and_not_for_the_future(api, problem):
    made = pledged(api, adopted(api))
    tomorrow = (dt.datetime.now(COMMUNITY_ZONE).date() + dt.timedelta(days=1)).isoformat()
    problem(api.post(f"/v1/pledges/{made['id']}/check-ins", {"date": tomorrow, "kept": True},
                     as_="staff"), 403, "forbidden")
    problem(api.post(f"/v1/pledges/{made['id']}/check-ins", {"date": tomorrow, "kept": True},
                     as_="member"), 422, "check_in_date", "date")
