"""The API through Flask's test client, with a token for every role.

``api`` is an app over in-memory storage holding a small town (see
:func:`seed`); ``backend_api`` is the same on every storage backend. The
town is arranged through the service layer, so each test exercises only the
HTTP behaviour it names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ledger.application import TimeBank
from ledger.checkpoints import generate_signer_key, parse_signer_key
from ledger.partners import PartnerDesk
from ledger.storage import Database
from ledger.tokens import Role
from web import create_app
from web.partner_client import PartnerClient

from .partner_kit import desk_of, partner_client


SIGNER_KEY, LOG_VKEY = generate_signer_key("web.test/log")


def make_bank(url: str, master_key: bytes) -> TimeBank:
    """A time bank with a log signing key."""
    return TimeBank(Database.parse(url), master_key, log_signer=parse_signer_key(SIGNER_KEY))


@dataclass
class Town:
    """Ids of a community's accounts and a bearer token per role."""

    bank: TimeBank
    community: UUID
    other_community: UUID
    org: UUID
    other_org: UUID
    ada: UUID
    bo: UUID
    issuance: UUID
    pool: UUID
    tokens: dict[str, str] = field(default_factory=dict)

    def credit(self, **changes: Any) -> dict[str, Any]:
        """A valid service-credit body (org pays Ada 90 minutes)."""
        return {"id": str(uuid4()), "payer": str(self.org), "volunteer": str(self.ada),
                "minutes": 90, "category": "elderly-companionship",
                "service_date": "2026-11-20", "pending": False, **changes}

    def redemption(self, **changes: Any) -> dict[str, Any]:
        """A valid redemption body (Ada pays the org 30 minutes)."""
        return {"id": str(uuid4()), "member": str(self.ada), "provider": str(self.org),
                "minutes": 30, "category": "transport", "service_date": "2026-11-21",
                **changes}

    def state(self) -> dict[str, tuple[int, int, int, int]]:
        """(balance, pending_in, pending_out, version) of every account."""
        names = ("org", "other_org", "ada", "bo", "issuance", "pool")
        views = {name: self.bank.account(getattr(self, name)) for name in names}
        return {name: (v.balance, v.pending_in, v.pending_out, v.version)
                for name, v in views.items()}

    def balance(self, name: str) -> int:
        """Posted balance of one account of the town."""
        return self.bank.account(getattr(self, name)).balance


class Api:
    """The test client, calling as a role: ``api.post(path, body, as_="staff")``."""

    def __init__(self, app: Flask, town: Town) -> None:
        self.app = app
        self.town = town
        self.client: FlaskClient = app.test_client()

    def call(self, method: str, path: str, body: Any = None, as_: str | None = "admin",
             **kwargs: Any) -> TestResponse:
        """One request; ``as_=None`` sends no token."""
        headers = dict(kwargs.pop("headers", {}))
        if as_ is not None:
            headers["Authorization"] = f"Bearer {self.town.tokens[as_]}"
        if body is not None:
            kwargs["json"] = body
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, as_: str | None = "admin", **kwargs: Any) -> TestResponse:
        """GET as a role."""
        return self.call("GET", path, as_=as_, **kwargs)

    def post(self, path: str, body: Any = None, as_: str | None = "admin",
             **kwargs: Any) -> TestResponse:
        """POST a JSON body as a role."""
        return self.call("POST", path, body, as_=as_, **kwargs)


def seed(bank: TimeBank) -> Town:
    """Elm Street: two organisations (budget 600 each), Ada and Bo; Oak Lane apart."""
    community = bank.register_community("Elm Street", rules={"member_max_balance": 1200})
    other = bank.register_community("Oak Lane")
    org = bank.open_organisation(community["id"], "Care NGO", budget=600)
    other_org = bank.open_organisation(community["id"], "Library", budget=600)
    ada = bank.open_member(community["id"], profile={"display_name": "Ada", "phone": "+1 555"})
    bo = bank.open_member(community["id"], profile={"display_name": "Bo"})
    town = Town(bank=bank, community=community["id"], other_community=other["id"],
                org=org.id, other_org=other_org.id, ada=ada.id, bo=bo.id,
                issuance=community["issuance_account"], pool=community["pool_account"])
    subjects: dict[str, tuple[Role, UUID | None]] = {
        "admin": (Role.ADMIN, None), "staff": (Role.STAFF, None),
        "auditor": (Role.AUDITOR, None), "mediator": (Role.MEDIATOR, None),
        "partner": (Role.PARTNER, org.id), "other_partner": (Role.PARTNER, other_org.id),
        "member": (Role.MEMBER, ada.id), "other_member": (Role.MEMBER, bo.id)}
    for name, (role, subject) in subjects.items():
        town.tokens[name], _ = bank.tokens.issue(role, subject)
    return town


def build_api(bank: TimeBank, **config: Any) -> Api:
    """An app over ``bank`` holding the seeded town."""
    town = seed(bank)
    return Api(create_app({"LEDGER": bank, "TESTING": True, **config}), town)


@pytest.fixture
def api(master_key: bytes) -> Iterator[Api]:
    """The API over in-memory storage."""
    bank = make_bank("memory://", master_key)
    yield build_api(bank)
    bank.close()


@pytest.fixture
def town(api: Api) -> Town:
    """The seeded town behind ``api``."""
    return api.town


@pytest.fixture
def backend_api(database_url: str, master_key: bytes) -> Iterator[Api]:
    """The API on each storage backend (memory, SQLite, PostgreSQL)."""
    bank = make_bank(database_url, master_key)
    yield build_api(bank)
    bank.close()


def assert_problem(response: TestResponse, status: int, rule: str,
                   field: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status, rule and field."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem: dict[str, Any] = response.get_json(force=True)
    assert {"type", "title", "status", "detail", "rule", "field"} <= set(problem)
    assert problem["status"] == status and problem["rule"] == rule
    if field is not None:
        assert problem["field"] == field, problem
    return problem


@pytest.fixture
def problem() -> Callable[..., dict[str, Any]]:
    """``problem(response, status, rule, field=None)``: assert an RFC 9457 problem."""
    return assert_problem


@pytest.fixture
def desk(api: Any) -> PartnerDesk:
    """The app's partner desk (a module may define its own)."""
    return desk_of(api)


@pytest.fixture
def partner(api: Any, town: Any) -> PartnerClient:
    """A signing client for the town's organisation (a module may define its own)."""
    return partner_client(api, town.org)
