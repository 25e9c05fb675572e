"""Bulk partner postings: JSON batches and CSV files, atomic and per-item.

Limits hold exactly inside one batch (rows are checked in order against the
accounts as the earlier rows left them); a refused row writes nothing; an
atomic batch with any refused row writes nothing at all; results carry 1-based
row numbers (a CSV header is not a row).
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest




def row(volunteer: Any, minutes: int = 60, day: str = "2026-11-20", **more: Any
        ) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "volunteer": str(volunteer), "minutes": minutes,
            "category": "elderly-companionship", "service_date": day, **more}


def as_csv(rows: list[dict[str, Any]], columns: tuple[str, ...] = (
        "id", "volunteer", "minutes", "category", "service_date")) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def outcomes(answer: Any) -> list[tuple[int, str, str | None]]:
    return [(r["row"], r["outcome"], r["rule"]) for r in answer.body["results"]]


# -- exact limits inside one batch --------------------------------------------------


def test_the_daily_cap_holds_exactly_within_one_batch(partner, town):
    town.bank.set_budget(town.org, 2000)
    rows = [row(town.ada, 480), row(town.ada, 240), row(town.ada, 1),
            row(town.ada, 1, day="2026-11-21")]
    answer = partner.post_batch(rows, mode="per-item")
    assert answer.status == 200
    assert outcomes(answer) == [(1, "created", None), (2, "created", None),
                                (3, "refused", "daily_earning_cap"), (4, "created", None)]
    assert answer.body["results"][2]["field"] == "minutes"
    assert (answer.body["created"], answer.body["refused"]) == (3, 1)
    assert town.balance("ada") == 721


def test_the_budget_holds_exactly_within_one_batch(partner, town):
    rows = [row(town.ada, 300), row(town.bo, 300), row(town.bo, 1, day="2026-11-21")]
    answer = partner.post_batch(rows, mode="per-item")
    assert outcomes(answer) == [(1, "created", None), (2, "created", None),
                                (3, "refused", "minimum_balance")]
    assert town.balance("org") == -600


def test_an_atomic_batch_with_one_refused_row_writes_nothing(partner, town, problem):
    before = town.state()
    rows = [row(town.ada, 300), row(town.bo, 300), row(town.bo, 1, day="2026-11-21")]
    answer = partner.post_batch(rows, mode="atomic")
    assert (answer.status, answer.body["rule"], answer.body["field"]) == (
        422, "batch_refused", "records")
    assert [(r["row"], r["outcome"]) for r in answer.body["results"]] == [
        (1, "not_written"), (2, "not_written"), (3, "refused")]
    assert town.state() == before


def test_an_atomic_batch_writes_every_row_in_one_commit(partner, town):
    answer = partner.post_batch([row(town.ada, 60), row(town.bo, 30)])
    assert answer.status == 200 and answer.body["mode"] == "atomic"
    assert answer.body["created"] == 2 and len(answer.body["log_indexes"]) == 2 * 3 + 1
    assert (town.balance("ada"), town.balance("bo"), town.balance("org")) == (60, 30, -90)


def test_a_per_item_batch_reports_each_refusal_with_its_row_and_reason(partner, town, desk):
    desk.allow_categories(town.org, ["elderly-companionship"])
    rows = [row(town.ada), row(town.ada, category="gardening"), row(uuid.uuid4()),
            row(town.org), {"id": "not-a-uuid", "volunteer": str(town.bo)},
            row(town.bo, 481)]
    rows.append(dict(rows[0]))
    answer = partner.post_batch(rows, mode="per-item")
    assert [(r["row"], r["outcome"], r["rule"], r["field"])
            for r in answer.body["results"]] == [
        (1, "created", None, None),
        (2, "refused", "category_not_allowed", "category"),
        (3, "refused", "not_found", "volunteer"),
        (4, "refused", "distinct_accounts", "volunteer"),
        (5, "refused", "schema", "id"),
        (6, "refused", "max_minutes_per_record", "minutes"),
        (7, "refused", "duplicate_row_id", "id")]
    assert town.balance("ada") == 60 and town.balance("org") == -60


def test_a_per_item_batch_where_every_row_is_refused_writes_nothing(partner, town):
    before = town.state()
    answer = partner.post_batch([row(town.ada, 481)], mode="per-item",
                                idempotency_key="nothing")
    assert answer.status == 200 and answer.body["refused"] == 1
    assert town.state() == before
    assert answer.body["log_indexes"] == []


def test_a_row_already_posted_under_its_id_is_reported_as_existing(partner, town):
    first = row(town.ada)
    partner.post_credit(first)
    answer = partner.post_batch([first, row(town.bo)], mode="per-item")
    assert outcomes(answer) == [(1, "exists", None), (2, "created", None)]
    assert town.balance("ada") == 60


def test_a_batch_retry_returns_the_stored_results(partner, town):
    rows = [row(town.ada), row(town.ada, 2000)]
    first = partner.post_batch(rows, mode="per-item", idempotency_key="batch-1")
    again = partner.post_batch(rows, mode="per-item", idempotency_key="batch-1")
    assert again.replayed and again.body["results"] == first.body["results"]
    assert town.balance("ada") == 60


def test_more_than_1000_records_are_refused_as_a_whole(partner, town):
    answer = partner.post_batch([row(town.ada)] * 1001)
    assert (answer.status, answer.body["rule"], answer.body["field"]) == (
        422, "schema", "records")


# -- CSV ----------------------------------------------------------------------------------


@pytest.fixture
def crowd(town: Any) -> list[Any]:
    """50 more members of Elm Street and a budget for a thousand half hours."""
    town.bank.set_budget(town.org, 1000 * 30)
    return [town.bank.open_member(town.community).id for _ in range(50)]


def test_a_1000_row_csv_posts_in_one_request(partner, town, crowd):
    rows = [row(crowd[k % 50], 30, day=f"2026-10-{1 + k // 50:02d}") for k in range(1000)]
    answer = partner.post_csv(as_csv(rows), mode="atomic")
    assert answer.status == 200, answer.body
    assert (answer.body["rows"], answer.body["created"]) == (1000, 1000)
    assert [r["row"] for r in answer.body["results"]] == list(range(1, 1001))
    assert town.balance("org") == -30000
    assert town.bank.account(crowd[7]).balance == 600


def test_csv_rows_are_numbered_after_the_header_and_checked_one_by_one(partner, town):
    rows = [row(town.ada), row(town.bo, pending="true", beneficiary=str(town.ada)),
            {**row(town.bo), "minutes": "1.5"}, {**row(town.bo), "service_date": "2026-13-01"},
            {**row(town.bo), "pending": "maybe"}]
    body = as_csv(rows, ("id", "volunteer", "minutes", "category", "service_date",
                         "pending", "beneficiary"))
    answer = partner.post_csv(body, mode="per-item")
    assert [(r["row"], r["outcome"], r["field"]) for r in answer.body["results"]] == [
        (1, "created", None), (2, "created", None), (3, "refused", "minutes"),
        (4, "refused", "service_date"), (5, "refused", "pending")]
    assert answer.body["results"][1]["state"] == "pending"


def test_a_csv_with_unknown_or_missing_columns_is_refused_as_a_whole(partner, town):
    body = b"id,volunteer,minutes,category,payer\n"
    answer = partner.post_csv(body)
    assert (answer.status, answer.body["rule"], answer.body["field"]) == (
        422, "schema", "records")
    assert "payer" in answer.body["detail"] and "service_date" in answer.body["detail"]


def test_a_csv_with_extra_cells_refuses_that_row(partner, town):
    body = as_csv([row(town.ada)]) + b"a,b,c,d,e,f\n"
    answer = partner.post_csv(body, mode="per-item")
    assert outcomes(answer)[0] == (1, "created", None)
    assert outcomes(answer)[1][1:] == ("refused", "schema")


def test_an_unknown_mode_is_a_schema_refusal(partner, town):
    answer = partner.post_csv(as_csv([row(town.ada)]), mode="some")
    assert (answer.status, answer.body["field"]) == (422, "mode")


def test_a_batch_in_another_media_type_is_415(api, partner, town, problem):
    body = b"<records/>"
    headers = partner.signed_headers("POST", partner.url("batches"), "application/xml", body,
                                     "xml")
    response = api.client.post(partner.url("batches"), headers=headers, data=body)
    problem(response, 415, "unsupported_media_type")
