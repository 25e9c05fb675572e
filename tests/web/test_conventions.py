"""Conventions over HTTP: drafting, adopting, filing, new versions, retiring, reading.

Staff and administrators write; every role reads. Each endpoint has a happy path
and a refusal with its status, rule and field.
"""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import uuid4

TEXT = "Quiet hours 22:00-07:00. Kitchen waste in the green bin."
VOTE = {"meeting_date": "2026-03-01", "eligible": 40, "present": 25, "votes_for": 20,
        "votes_against": 3, "abstaining": 2}


def draft(api: Any, **changes: Any) -> dict[str, Any]:
    """A draft of version 1, made by staff."""
    response = api.post("/v1/conventions", {
        "community": str(api.town.community), "scope": "building", "scope_ref": "Building 7",
        "title": "Building 7 convention", "text": TEXT, "effective_date": "2026-03-15",
        **changes}, as_="staff")
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def adopted(api: Any) -> dict[str, Any]:
    """An adopted version 1."""
    made = draft(api)
    response = api.post(f"/v1/conventions/{made['id']}/adoption", VOTE, as_="staff")
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_staff_draft_a_convention_with_the_hash_of_its_text(api):
    made = draft(api)
    assert (made["status"], made["version"], made["created"]) == ("draft", 1, True)
    assert made["text_sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()
    assert made["log_indexes"] and made["lineage"] == made["id"]


def test_drafting_again_under_the_same_id_answers_the_draft_or_a_conflict(api, problem):
    convention_id = str(uuid4())
    first = draft(api, id=convention_id)
    again = draft(api, id=convention_id)
    assert (again["created"], again["log_indexes"], again["id"]) == (False, [], first["id"])
    changed = api.post("/v1/conventions", {
        "id": convention_id, "community": str(api.town.community), "scope": "building",
        "scope_ref": "Building 7", "title": "Another title", "text": TEXT,
        "effective_date": "2026-03-15"}, as_="staff")
    problem(changed, 422, "idempotency_conflict", "title")


def test_members_auditors_and_mediators_may_not_draft(api, town, problem):
    for role in ("member", "auditor", "mediator", "partner"):
        problem(api.post("/v1/conventions", {"community": str(town.community)}, as_=role),
                403, "forbidden")


def test_a_draft_with_an_unknown_field_or_scope_is_a_schema_problem(api, town, problem):
    response = api.post("/v1/conventions", {
        "community": str(town.community), "scope": "street", "title": "t", "text": "x",
        "effective_date": "2026-03-15", "colour": "red"}, as_="staff")
    body = problem(response, 422, "schema")
    assert set(body["errors"]) == {"scope", "colour"}


def test_a_meetings_vote_adopts_a_draft(api):
    made = adopted(api)
    assert made["status"] == "adopted" and made["adoption"]["present"] == 25


def test_adoption_without_a_quorum_is_refused_and_changes_nothing(api, problem):
    made = draft(api)
    response = api.post(f"/v1/conventions/{made['id']}/adoption",
                        {**VOTE, "eligible": 50}, as_="staff")
    problem(response, 422, "quorum_not_met", "present")
    assert api.get(f"/v1/conventions/{made['id']}", as_="auditor").get_json()[
        "status"] == "draft"


def test_a_new_version_supersedes_the_old_and_every_role_reads_both(api):
    old = adopted(api)
    new = api.post(f"/v1/conventions/{old['id']}/versions", {
        "title": old["title"], "text": TEXT + " Dogs on a lead.",
        "effective_date": "2026-04-01"}, as_="staff")
    assert new.status_code == 201 and new.get_json()["version"] == 2
    adoption = api.post(f"/v1/conventions/{new.get_json()['id']}/adoption", VOTE,
                        as_="admin")
    assert len(adoption.get_json()["log_indexes"]) == 2
    read = api.get(f"/v1/conventions/{old['id']}", as_="member").get_json()
    assert read["status"] == "superseded" and read["text"] == TEXT
    assert [v["status"] for v in read["versions"]] == ["superseded", "adopted"]
    assert read["pledges"] == {"active": 0, "renewal_due": 0, "lapsed": 0, "withdrawn": 0,
                               "renewed": 0}


def test_only_an_adopted_convention_is_amended(api, problem):
    made = draft(api)
    response = api.post(f"/v1/conventions/{made['id']}/versions", {
        "title": "t", "text": "x", "effective_date": "2026-04-01"}, as_="staff")
    problem(response, 409, "invalid_transition", "previous_version_id")


def test_filing_is_recorded_once(api, problem):
    made = adopted(api)
    filing = {"filed_with": "Riverside Street Office", "filed_on": "2026-03-05",
              "reference": "RS-2026-17"}
    response = api.post(f"/v1/conventions/{made['id']}/filing", filing, as_="staff")
    assert response.status_code == 200 and response.get_json()["filing"] == filing
    problem(api.post(f"/v1/conventions/{made['id']}/filing", filing, as_="staff"), 409,
            "invalid_transition", "filed_on")


def test_a_convention_is_retired_and_a_retired_one_cannot_be_retired_again(api, problem):
    made = adopted(api)
    body = {"reason": "building demolished", "retired_on": "2026-06-01"}
    response = api.post(f"/v1/conventions/{made['id']}/retirement", body, as_="staff")
    assert response.get_json()["status"] == "retired"
    problem(api.post(f"/v1/conventions/{made['id']}/retirement", body, as_="staff"), 409,
            "invalid_transition")


def test_every_role_lists_conventions_with_hashes_and_without_texts(api, town):
    made = adopted(api)
    listed = api.get(f"/v1/conventions?community={town.community}&status=adopted",
                     as_="partner").get_json()["conventions"]
    assert [(c["id"], c["text_sha256"]) for c in listed] == [(made["id"],
                                                              made["text_sha256"])]
    assert "text" not in listed[0]


def test_listing_by_an_unknown_status_is_a_schema_problem(api, problem):
    problem(api.get("/v1/conventions?status=pending", as_="staff"), 422, "schema", "status")


def test_an_unknown_convention_is_not_found(api, problem):
    problem(api.get(f"/v1/conventions/{uuid4()}", as_="member"), 404, "not_found")
    problem(api.post(f"/v1/conventions/{uuid4()}/adoption", VOTE, as_="staff"), 404,
            "not_found")
