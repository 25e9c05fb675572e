"""Statements, as-of balances, organisation reports and the dashboard over HTTP."""

from __future__ import annotations

import csv
import io


def test_statement_has_running_balances_and_the_acting_staff(api, town):
    api.post("/v1/credits", town.credit(minutes=90), as_="staff")
    api.post("/v1/redemptions", town.redemption(minutes=30), as_="member")
    entries = api.get(f"/v1/accounts/{town.ada}/history", as_="member").get_json()["entries"]
    redemption, credit = entries[0], entries[1]
    assert (redemption["kind"], redemption["minutes"], redemption["balance_after"]) == (
        "redemption", 30, 60)
    assert (credit["kind"], credit["balance_after"], credit["counterparty"]) == (
        "service_credit", 90, str(town.org))
    assert credit["actor"].startswith("staff:") and credit["channel"] == "api"
    assert redemption["log_index"] > credit["log_index"]


def test_statement_as_csv_for_spreadsheets(api, town):
    api.post("/v1/credits", town.credit(minutes=90), as_="staff")
    response = api.get(f"/v1/accounts/{town.ada}/history?format=csv", as_="member")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0]["kind"] == "service_credit" and rows[0]["balance_after"] == "90"


def test_balance_as_of_a_log_index_and_a_time(api, town):
    first = api.post("/v1/credits", town.credit(minutes=90), as_="staff").get_json()
    api.post("/v1/credits", town.credit(minutes=20), as_="staff")
    between = max(first["log_indexes"])
    asof = api.get(f"/v1/accounts/{town.ada}/balance?log_index={between}",
                   as_="member").get_json()
    assert asof["balance"] == 90
    before = api.get(f"/v1/accounts/{town.ada}/balance?log_index=0", as_="member").get_json()
    assert before["balance"] == 0
    now = api.get(f"/v1/accounts/{town.ada}/balance", as_="member").get_json()
    assert now["balance"] == 110


def test_bad_as_of_parameters_are_named(api, town, problem):
    problem(api.get(f"/v1/accounts/{town.ada}/balance?at=yesterday"), 422, "schema", "at")
    problem(api.get(f"/v1/accounts/{town.ada}/balance?log_index=-1"), 422, "schema",
            "log_index")


def test_organisation_report_by_month_category_and_volunteer(api, town):
    api.post("/v1/credits", town.credit(minutes=90), as_="partner")
    api.post("/v1/credits", town.credit(minutes=30, volunteer=str(town.bo),
                                        service_date="2026-10-02"), as_="partner")
    report = api.get(f"/v1/organisations/{town.org}/report", as_="partner").get_json()
    assert report["budget_used"] == 120 and report["total_minutes"] == 120
    assert [(r["month"], r["volunteer"], r["minutes"]) for r in report["rows"]] == [
        ("2026-10", str(town.bo), 30), ("2026-11", str(town.ada), 90)]
    text = api.get(f"/v1/organisations/{town.org}/report?format=csv",
                   as_="partner").get_data(as_text=True)
    assert text.splitlines()[0] == "month,category,volunteer,minutes,transfers"


def test_a_partner_reads_only_its_own_report(api, town, problem):
    problem(api.get(f"/v1/organisations/{town.other_org}/report", as_="partner"), 403,
            "forbidden")


def test_reversed_credit_leaves_the_report(api, town):
    credit = api.post("/v1/credits", town.credit(minutes=90), as_="partner").get_json()
    api.post(f"/v1/transfers/{credit['id']}/reversal", as_="staff")
    report = api.get(f"/v1/organisations/{town.org}/report", as_="staff").get_json()
    assert report["total_minutes"] == 0 and report["budget_used"] == 0


def test_dashboard_shows_liability_against_recent_redemptions(api, town):
    api.post("/v1/credits", town.credit(minutes=90, service_date="2026-11-20"), as_="staff")
    api.post("/v1/redemptions", town.redemption(minutes=30, service_date="2026-11-21"),
             as_="member")
    board = api.get(f"/v1/communities/{town.community}/dashboard", as_="auditor").get_json()
    assert board["members"] == 2 and board["outstanding_minutes"] == 60
    assert {"month": "2026-11", "earned": 90, "redeemed": 30} in board["months"]
    assert board["top_categories"][0] == {"category": "elderly-companionship", "minutes": 90}
    assert board["pool_balance"] == 0


def test_members_cannot_read_the_dashboard(api, town, problem):
    problem(api.get(f"/v1/communities/{town.community}/dashboard", as_="member"), 403,
            "forbidden")
