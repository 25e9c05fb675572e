"""Partner postings: rows per second in bulk against credits per second one by one.

The same N service records (the workload of ``bench.credits``: no row trips a
rule) are posted by a partner organisation four ways, each in a fresh store:

* **single, application**: one signed request per record, through the ledger
  only — sign, ``PartnerDesk.verify`` (Ed25519, nonce), ``evidence_of``,
  ``PartnerDesk.post`` (in-flight claim, one save of the transfer, both
  accounts and the ``IdempotencyRecord`` with the signature and the body,
  claim released);
* **bulk, application**: the same, 1,000 records per request, atomic mode;
* **single, HTTP** and **bulk, HTTP**: the same requests through the Flask
  app (``test_client``: routing, marshmallow, JSON, the problem mapping; no
  network), signed by ``web.partner_client``.

Operations are *rows*; latencies are per request. The signing is inside the
timed loop (a partner pays it too), building the records is not.

:func:`measure_bulk_http` posts signed atomic batches through the production
server (``civic-ledger serve``, gunicorn) from client processes instead, each
client a partner organisation of its own, for a bounded time.
"""

from __future__ import annotations

import cProfile
import json
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench import Measurement, profile_report, timed_loop
from bench.credits import (Town, _scalar, check_all_posted, credit_fields, credit_requests,
                           most_credits, settle_town, storage_settings)
from bench.http import measure_load, production_server, request_bytes
from ledger.application import TimeBank
from ledger.batches import CreditRecord
from ledger.config import Settings, open_bank
from ledger.keys import KeyDirectory
from ledger.evidence import evidence_of
from ledger.httpsig import RequestParts
from ledger.idempotency import fingerprint
from ledger.partners import Claim, PartnerDesk
from ledger.storage import Database
from web.app import create_app
from web.partner_client import PartnerClient, public_key_of
from web.signatures import PARTNERS_EXTENSION

BATCH_ROWS = 1000
Call = Callable[[], Any]


def _records(bank: TimeBank, n: int) -> tuple[Any, list[dict[str, Any]]]:
    town = settle_town(bank, n)
    requests = credit_requests(town, n)
    return town, [{"id": str(r.transfer_id), "volunteer": str(r.credit_account_id),
                   "minutes": r.minutes, "category": r.category,
                   "service_date": r.service_date} for r in requests]


def _application_call(desk: PartnerDesk, client: PartnerClient, chunk: list[dict[str, Any]],
                      single: bool) -> Call:
    def call() -> None:
        payload = chunk[0] if single else {"mode": "atomic", "records": chunk}
        body = json.dumps(payload).encode()
        url = client.url("credits" if single else "batches")
        key = str(uuid4())
        headers = client.signed_headers("POST", url, "application/json", body, key)
        parts = RequestParts("POST", url, {name: [value] for name, value in headers.items()},
                             body)
        organisation = UUID(client.organisation_id)
        evidence = evidence_of(parts, desk.verify(organisation, parts))
        claim = Claim(organisation, key,
                      fingerprint("POST", urlsplit(url).path, "application/json", body))
        rows = [CreditRecord(row=i + 1, transfer_id=UUID(r["id"]),
                             volunteer=UUID(r["volunteer"]), minutes=r["minutes"],
                             category=r["category"], service_date=r["service_date"])
                for i, r in enumerate(chunk)]
        answer = desk.post(claim, evidence, rows, atomic=True, single=single,
                           respond=lambda results: (200, {"rows": len(results)}))
        if answer.status != 200:
            raise RuntimeError(f"posting refused: {answer.body}")
    return call


def _http_call(client: PartnerClient, chunk: list[dict[str, Any]], single: bool) -> Call:
    def call() -> None:
        answer = (client.post_credit(chunk[0]) if single
                  else client.post_batch(chunk, mode="atomic"))
        if answer.status not in (200, 201):
            raise RuntimeError(f"posting refused: {answer.status} {answer.body}")
    return call


def _flask_transport(app: Any) -> Any:
    test_client = app.test_client()

    def send(method: str, url: str, headers: Mapping[str, str], body: bytes,
             timeout: float) -> tuple[int, Mapping[str, str], bytes]:
        response = test_client.open(url, method=method, headers=dict(headers), data=body)
        return response.status_code, dict(response.headers), response.get_data()
    return send


def _prepared(url: str, n: int, mode: str, via: str) -> tuple[TimeBank, list[Call], Any,
                                                               list[dict[str, Any]]]:
    bank = TimeBank(Database.parse(url), os.urandom(32))
    app = create_app({"LEDGER": bank, "TESTING": True})
    desk: PartnerDesk = app.extensions[PARTNERS_EXTENSION]
    town, records = _records(bank, n)
    private = Ed25519PrivateKey.generate()
    desk.add_key(town.organisation_id, "bench-1", public_key_of(private))
    client = PartnerClient("http://localhost", town.organisation_id, private, "bench-1",
                           transport=_flask_transport(app))
    size = 1 if mode == "single" else BATCH_ROWS
    chunks = [records[i:i + size] for i in range(0, len(records), size)]
    calls = [(_application_call(desk, client, c, size == 1) if via == "application"
              else _http_call(client, c, size == 1)) for c in chunks]
    return bank, calls, town, records


def measure_partners(url: str, n: int, mode: str, via: str) -> Measurement:
    """Post ``n`` records ``mode`` (single or bulk) ``via`` application or HTTP;
    the settings say how many database rows each record wrote, table by table."""
    bank, calls, town, records = _prepared(url, n, mode, via)
    try:
        before = stored_rows(bank)
        timed = timed_loop(f"partners: {mode} ({via})", bank.database.backend, calls,
                           storage_settings(bank))
        after = stored_rows(bank)
        check_all_posted(bank, town, credit_requests_like(records))
    finally:
        bank.close()
    written = " + ".join(f"{(after[t] - before[t]) / n:g} {t}" for t in after)
    # A bulk call posts many rows: the rate is rows, not calls.
    return replace(timed, operations=n,
                   settings={**timed.settings, "database rows per record": written})


def stored_rows(bank: TimeBank) -> dict[str, int]:
    """Rows in the events table and the log's leaf and node tables."""
    recorder: Any = bank.recorder
    prefix = getattr(recorder, "_log_prefix", "")
    tables = {"events": f"{prefix}{recorder.events_table_name}",
              "log_leaves": f"{prefix}log_leaves",
              "log_nodes": f"{prefix}log_nodes"}
    with recorder.datastore.transaction(commit=False) as cursor:
        return {name: int(_scalar(cursor, f"SELECT COUNT(*) FROM {table}"))
                for name, table in tables.items()}


class _Minutes:
    def __init__(self, minutes: int) -> None:
        self.minutes = minutes


def credit_requests_like(records: list[dict[str, Any]]) -> list[Any]:
    """What ``check_all_posted`` needs of each record: its minutes."""
    return [_Minutes(r["minutes"]) for r in records]


def profile_bulk(url: str, n: int, top: int = 30) -> str:
    """cProfile of ``n`` rows posted in atomic batches through the application."""
    bank, calls, town, records = _prepared(url, n, "bulk", "application")
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        for call in calls:
            call()
        profiler.disable()
        check_all_posted(bank, town, credit_requests_like(records))
    finally:
        bank.close()
    return profile_report(
        profiler, f"cProfile of {n} partner rows in batches of {BATCH_ROWS} on {url}", top)


class BatchPoster:
    """One HTTP client's requests: signed ``POST /v1/partners/<org>/batches`` of
    ``BATCH_ROWS`` records (atomic), its own organisation's, rows shaped by
    :func:`bench.credits.credit_fields` so none trips a rule."""

    def __init__(self, town: Town, private_key: bytes, key_id: str) -> None:
        self.town, self.private_key, self.key_id, self.k = town, private_key, key_id, 0
        self.client: PartnerClient | None = None

    def __call__(self, rnd: random.Random) -> bytes:
        if self.client is None:  # keys do not pickle: made in the client process
            self.client = PartnerClient(
                "http://127.0.0.1", self.town.organisation_id,
                Ed25519PrivateKey.from_private_bytes(self.private_key), self.key_id)
        records = []
        for k in range(self.k, self.k + BATCH_ROWS):
            volunteer, minutes, service_date = credit_fields(self.town, k)
            records.append({"id": str(uuid4()), "volunteer": str(volunteer),
                            "minutes": minutes, "category": "elderly-companionship",
                            "service_date": service_date})
        self.k += BATCH_ROWS
        body = json.dumps({"mode": "atomic", "records": records}).encode()
        url = self.client.url("batches")
        headers = self.client.signed_headers("POST", url, "application/json", body,
                                             str(uuid4()))
        return request_bytes("POST", urlsplit(url).path, None, body, headers)


def measure_bulk_http(url: str, keys: str, seconds: float, clients: int = 2) -> Measurement:
    """Bulk rows per second through ``civic-ledger serve`` (gunicorn, 2 sync
    workers): ``clients`` processes, each a partner organisation posting signed
    atomic batches of ``BATCH_ROWS`` records to its own members."""
    KeyDirectory(Path(keys)).ensure()
    bank = open_bank(Settings(database_url=url, keys_dir=Path(keys)))
    try:
        posters = []
        for number in range(clients):
            town = settle_town(bank, most_credits(seconds, clients))
            private = Ed25519PrivateKey.generate()
            PartnerDesk(bank).add_key(town.organisation_id, f"bench-{number}",
                                      public_key_of(private))
            posters.append(BatchPoster(town, private.private_bytes_raw(), f"bench-{number}"))
        settings = storage_settings(bank)
    finally:
        bank.close()
    with production_server(url, Path(keys), workers=2) as server:
        return measure_load("HTTP: partner bulk batch", Database.parse(url).backend,
                            server, posters, seconds, frozenset({200, 201}),
                            {**settings, "server": "gunicorn, 2 workers x 4 threads, keep-alive"},
                            rows_per_request=BATCH_ROWS)
