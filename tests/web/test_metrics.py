"""GET /metrics: what the app counts, and the ledger's figures read at each scrape.

The text is parsed with ``prometheus_client``'s own parser, so a test fails when
the exposition is not the format Prometheus reads. The database-derived gauges
run on every storage backend (``backend_api``).
"""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from projections.folds import PROJECTIONS
from web.metrics import Metrics

from .conftest import Api


def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape: (name, sorted labels) -> value."""
    response = api.get("/metrics", as_=None)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for s in family.samples}


def sample(samples: dict[Any, float], name: str, **labels: str) -> float:
    """One sample's value; 0 when absent (a labelled series not yet observed)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests(samples: dict[Any, float], method: str, route: str, status: int) -> float:
    """How many requests the latency histogram counted for this series."""
    return sample(samples, "civic_ledger_http_request_duration_seconds_count",
                  method=method, route=route, status=str(status))


def test_metrics_answer_anyone_and_name_no_one(api):
    for who in (None, "member", "partner"):
        assert api.get("/metrics", as_=who).status_code == 200
    api.post("/v1/members", {"community": str(api.town.community),
                             "profile": {"display_name": "Grace Hopper"}}, as_="staff")
    text = api.get("/metrics", as_=None).get_data(as_text=True)
    for secret in (*api.town.tokens.values(), "Grace", str(api.town.ada)):
        assert secret not in text


def test_each_request_is_counted_by_method_route_template_and_status(api):
    before = scrape(api)
    api.get(f"/v1/accounts/{api.town.ada}")
    api.get(f"/v1/accounts/{api.town.bo}")
    api.get(f"/v1/accounts/{api.town.ada}", as_=None)
    api.get("/no/such/route")
    after = scrape(api)
    route = "/v1/accounts/{account_id}"
    assert requests(after, "GET", route, 200) - requests(before, "GET", route, 200) == 2
    assert requests(after, "GET", route, 401) - requests(before, "GET", route, 401) == 1
    assert requests(after, "GET", "unmatched", 404) - requests(before, "GET", "unmatched",
                                                               404) == 1
    assert not any(str(api.town.ada) in str(key) for key in after)  # templates, not paths
    assert requests(after, "GET", "/metrics", 200) == requests(before, "GET", "/metrics",
                                                               200) + 1


def test_a_method_no_route_knows_is_one_bounded_label(api):
    api.call("BREW", "/healthz", as_=None)
    assert requests(scrape(api), "other", "unmatched", 405) == 1  # no rule matched


def test_successful_writes_are_counted_by_command_and_refusals_are_not(api):
    kind = {"kind": "credits.record_credit"}
    before = sample(scrape(api), "civic_ledger_writes_total", **kind)
    body = api.town.credit()
    assert api.post("/v1/credits", body, as_="staff").status_code == 201
    assert api.post("/v1/credits", body, as_="staff").status_code == 201  # a replay
    assert api.post("/v1/credits", api.town.credit(minutes=0), as_="staff").status_code == 422
    assert api.post("/v1/credits", api.town.credit(), as_="member").status_code == 403
    assert api.post(f"/v1/members/{api.town.bo}/erasure", as_="staff").status_code == 200
    after = scrape(api)
    assert sample(after, "civic_ledger_writes_total", **kind) - before == 2
    assert sample(after, "civic_ledger_writes_total", kind="members.erase_member") == 1


def test_projection_lag_and_the_log_size_are_read_from_the_database_at_each_scrape(
        backend_api):
    api, bank = backend_api, backend_api.town.bank
    first = scrape(api)
    health = api.get("/healthz", as_=None).get_json()["projections"]
    for name, position in health.items():
        assert sample(first, "civic_ledger_projection_lag_events", projection=name) \
            == position["lag"] > 0
        assert sample(first, "civic_ledger_projection_failed", projection=name) == 0
    assert sample(first, "civic_ledger_log_leaves") == bank.audit_log.size() > 0
    api.get(f"/v1/accounts/{api.town.ada}")  # catches the read models up
    assert api.post("/v1/credits", api.town.credit(), as_="staff").status_code == 201
    second = scrape(api)
    assert sample(second, "civic_ledger_projection_lag_events", projection="accounts") == 3
    assert sample(second, "civic_ledger_log_leaves") == \
        sample(first, "civic_ledger_log_leaves") + 3  # Debited, Credited, Recorded


def test_a_stopped_projection_is_reported_failed(api, monkeypatch):
    reports = next(p for p in PROJECTIONS if p.name == "reports")

    def broken(seen: Any, rows: Any) -> None:
        raise RuntimeError("bug in the report fold")

    monkeypatch.setitem(reports.handlers, "Transfer.Recorded", broken)  # type: ignore[index]
    api.post("/v1/credits", api.town.credit(), as_="staff")
    api.get(f"/v1/accounts/{api.town.ada}")
    samples = scrape(api)
    assert sample(samples, "civic_ledger_projection_failed", projection="reports") == 1
    assert sample(samples, "civic_ledger_projection_failed", projection="accounts") == 0


def test_a_metrics_directory_must_be_the_one_exported_to_the_workers(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with pytest.raises(ValueError, match="PROMETHEUS_MULTIPROC_DIR"):
        Metrics(str(tmp_path))


def test_a_server_removes_the_metrics_left_by_a_master_that_was_killed(tmp_path,
                                                                       monkeypatch):
    import os
    import subprocess
    import sys
    import tempfile

    from web.server import METRICS_PREFIX, metrics_directory

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    orphan = tmp_path / f"{METRICS_PREFIX}{gone}-abc"
    live = tmp_path / f"{METRICS_PREFIX}{os.getppid()}-def"  # our parent still runs
    for folder in (orphan, live):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"x")
    with metrics_directory() as directory:
        assert directory.startswith(str(tmp_path / f"{METRICS_PREFIX}{os.getpid()}-"))
        assert not orphan.exists() and live.exists()
    assert not os.path.exists(directory) and live.exists()
