"""Who may call what: every route against every role, and callers without a valid token.

The expected matrix (:data:`ALLOWED`) is written out row by row from the
``roles`` of the OpenAPI operations table (web/openapi.py, web/civic_openapi.py)
and the policy in ledger/access.py. Each route is called by each role with a
valid body and ids -- fresh resources per call, owned by the partner's
organisation or the member's account where ownership matters -- so that a
refusal can only come from the role check: a role in the row gets a 2xx
answer, any other role a 403 ``forbidden`` that appends nothing to the log, and
no token, an unknown token or a revoked token a 401. A route the app serves
that is missing from the table fails the suite, so no endpoint goes unchecked.

Callers: ``partner`` signs for Care NGO (the ``org`` its requests target) and
``other_partner`` for the Library; ``member`` is Ada (the member targeted),
``other_member`` is Bo.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from werkzeug.test import TestResponse

from domain.transfers import TransferRequest
from ledger.tokens import Role
from web.partner_client import PartnerClient, public_key_of
from web.signatures import PARTNERS_EXTENSION

from .conftest import Api, build_api, make_bank

Route = tuple[str, str]
Call = tuple[str, Any]  # (path with query, JSON body or None)
ROLES = ("admin", "staff", "auditor", "mediator", "partner", "other_partner", "member",
         "other_member")
EVERYONE = frozenset(ROLES)
ADMIN = frozenset({"admin"})
STAFF = ADMIN | {"staff"}
READERS = STAFF | {"auditor", "mediator"}
MEDIATION = STAFF | {"mediator"}
OWN_READERS = READERS | {"partner", "member"}
LOG = STAFF | {"auditor"}
CASE = "/v1/mediation/cases/{case_id}"
CASE_STEPS = ("acceptance", "start", "participants", "refusal", "withdrawal", "failure",
              "closure", "agreement", "signatures", "mediator-signature", "confirmation",
              "confirmation/decision", "visits", "breaches", "fulfilments")

ALLOWED: dict[Route, frozenset[str]] = {
    ("POST", "/v1/communities"): ADMIN,
    ("GET", "/v1/communities/{community_id}"): EVERYONE,
    ("PATCH", "/v1/communities/{community_id}/rules"): ADMIN,
    ("GET", "/v1/communities/{community_id}/dashboard"): READERS,
    ("POST", "/v1/members"): STAFF,
    ("GET", "/v1/members/{member_id}"): READERS | {"member"},
    ("POST", "/v1/members/{member_id}/erasure"): STAFF,
    ("POST", "/v1/organisations"): ADMIN,
    ("POST", "/v1/organisations/{organisation_id}/budget"): ADMIN,
    ("GET", "/v1/organisations/{organisation_id}/report"): LOG | {"partner"},
    ("POST", "/v1/credits"): STAFF | {"partner"},
    ("POST", "/v1/credits/{credit_id}/confirm"): STAFF | {"partner"},
    ("POST", "/v1/credits/{credit_id}/void"): STAFF | {"partner"},
    ("POST", "/v1/redemptions"): STAFF | {"member"},
    ("POST", "/v1/gifts"): STAFF | {"member"},
    ("POST", "/v1/donations"): STAFF | {"member"},
    ("GET", "/v1/transfers/{transfer_id}"): OWN_READERS,
    ("POST", "/v1/transfers/{transfer_id}/reversal"): STAFF,
    ("GET", "/v1/accounts/{account_id}"): OWN_READERS,
    ("GET", "/v1/accounts/{account_id}/history"): OWN_READERS,
    ("GET", "/v1/accounts/{account_id}/balance"): OWN_READERS,
    ("GET", "/v1/log/checkpoint"): LOG,
    ("GET", "/v1/log/key"): LOG,
    ("GET", "/v1/log/entries"): LOG,
    ("GET", "/v1/log/proofs/inclusion"): LOG,
    ("GET", "/v1/log/proofs/consistency"): LOG,
    ("GET", "/v1/partners/{organisation_id}/keys"): LOG | {"partner"},
    ("POST", "/v1/partners/{organisation_id}/keys"): ADMIN | {"partner"},
    ("POST", "/v1/partners/{organisation_id}/keys/{key_id}/revocation"): ADMIN | {"partner"},
    ("PUT", "/v1/partners/{organisation_id}/categories"): ADMIN,
    ("POST", "/v1/partners/{organisation_id}/credits/{credit_id}/confirm"): STAFF | {"member"},
    ("POST", "/v1/partners/{organisation_id}/credits/{credit_id}/contest"): STAFF | {"member"},
    ("POST", "/v1/conventions"): STAFF,
    ("GET", "/v1/conventions"): EVERYONE,
    ("GET", "/v1/conventions/{convention_id}"): EVERYONE,
    ("POST", "/v1/conventions/{convention_id}/versions"): STAFF,
    ("POST", "/v1/conventions/{convention_id}/adoption"): STAFF,
    ("POST", "/v1/conventions/{convention_id}/filing"): STAFF,
    ("POST", "/v1/conventions/{convention_id}/retirement"): STAFF,
    ("POST", "/v1/pledges"): STAFF | {"member"},
    ("GET", "/v1/pledges"): READERS | {"member"},
    ("GET", "/v1/pledges/{pledge_id}"): READERS | {"member"},
    ("POST", "/v1/pledges/{pledge_id}/withdrawal"): STAFF | {"member"},
    ("POST", "/v1/pledges/{pledge_id}/renewal"): STAFF | {"member"},
    ("POST", "/v1/pledges/{pledge_id}/check-ins"): ADMIN | {"member"},
    ("POST", "/v1/mediation/cases"): MEDIATION,
    ("GET", "/v1/mediation/cases"): READERS | {"member"},
    ("GET", CASE): READERS | {"member"},
    ("GET", f"{CASE}/history"): READERS | {"member"},
    ("GET", f"{CASE}/agreement"): READERS | {"member"},
    ("GET", "/v1/mediation/deadlines"): READERS,
    **{("POST", f"{CASE}/{step}"): MEDIATION for step in CASE_STEPS},
    ("POST", f"{CASE}/parties/{{party_id}}/erasure"): STAFF,
}
"""(method, path) -> the callers who may call it; every other caller gets 403."""

SIGNED: frozenset[Route] = frozenset({("POST", "/v1/partners/{organisation_id}/credits"),
                                      ("POST", "/v1/partners/{organisation_id}/batches")})
"""Signed by the partner's key (RFC 9421): every bearer caller gets 401."""
PUBLIC: frozenset[Route] = frozenset({("GET", "/healthz"), ("GET", "/metrics"),
                                      ("GET", "/openapi.json")})
ZONE = dt.timezone(dt.timedelta(hours=8))  # the default community time zone
STAGES = ("registered", "accepted", "mediating", "drafted", "agreed", "applied")


def routes_of(api: Api) -> set[Route]:
    """Every (method, path) the app serves, paths written as in the OpenAPI document."""
    found: set[Route] = set()
    for rule in api.app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        found |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def local_day(days: int = 0) -> str:
    """The community's date, ``days`` from today."""
    return (dt.datetime.now(ZONE).date() + dt.timedelta(days=days)).isoformat()


class Scene:
    """The seeded town plus fresh resources on demand, arranged as an administrator."""

    def __init__(self, api: Api) -> None:
        self.api, self.town = api, api.town
        self.numbers = itertools.count(1)
        self.mediators = [self.town.bank.tokens.authenticate(self.town.tokens[r]).actor
                          for r in ("admin", "staff", "mediator")]
        self.partner: PartnerClient | None = None
        self.credit(minutes=200)  # Ada has minutes to redeem, give and donate

    def ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """Call as an administrator and expect success."""
        response = self.api.call(method, path, body, as_="admin")
        assert response.status_code < 300, (path, response.get_json())
        found: dict[str, Any] = response.get_json()
        return found

    def member_of(self, caller: str) -> uuid.UUID:
        """Ada for member callers (her own, or not Bo's), else a fresh member."""
        if caller in ("member", "other_member"):
            return self.town.ada
        return self.town.bank.open_member(self.town.community).id

    def account_of(self, caller: str) -> uuid.UUID:
        """The Care NGO for partner callers, else Ada."""
        return self.town.org if "partner" in caller else self.town.ada

    def credit(self, pending: bool = False, minutes: int = 10) -> str:
        """The Care NGO credits Ada (service layer)."""
        view = self.town.bank.record(TransferRequest(
            transfer_id=uuid.uuid4(), kind="service_credit", debit_account_id=self.town.org,
            credit_account_id=self.town.ada, minutes=minutes, category="elderly-companionship",
            service_date="2026-11-20", pending=pending, actor="admin:setup",
            on_behalf_of=None, channel="api"))
        return str(view.id)

    def convention(self, adopted: bool = True) -> str:
        """A fresh convention of the town, adopted unless asked otherwise."""
        made = self.ok("POST", "/v1/conventions", {
            "community": str(self.town.community), "scope": "community", "title": "Quiet",
            "text": f"Quiet hours ({uuid.uuid4()})", "effective_date": local_day(30)})
        if adopted:
            self.ok("POST", f"/v1/conventions/{made['id']}/adoption", vote())
        return str(made["id"])

    def pledge(self, renewal_due: bool = False) -> str:
        """Ada's fresh pledge (due for renewal: a newer version was adopted)."""
        convention = self.convention()
        made = self.ok("POST", "/v1/pledges", {"convention": convention,
                                               "member": str(self.town.ada)})
        if renewal_due:
            newer = self.ok("POST", f"/v1/conventions/{convention}/versions", {
                "title": "Quiet", "text": f"Quieter ({uuid.uuid4()})",
                "effective_date": local_day(60)})
            self.ok("POST", f"/v1/conventions/{newer['id']}/adoption", vote())
        return str(made["id"])

    def case(self, stage: str = "registered") -> tuple[str, str]:
        """(case id, the non-member party's id) of a fresh case between Ada and a neighbour.

        ``stage`` is one of :data:`STAGES`, or ``withdrawn`` (from registered)."""
        made = self.ok("POST", *self.registration())
        case, neighbour = made["id"], made["parties"][1]["id"]
        url = f"/v1/mediation/cases/{case}"
        ada = str(self.town.ada)
        steps: dict[str, list[tuple[str, Any]]] = {
            "accepted": [("acceptance", None)], "mediating": [("start", None)],
            "drafted": [("agreement", {"terms": terms(neighbour, self.town.ada),
                                       "form": "written", "text": "Quiet after 22:00."})],
            "agreed": [("signatures", {"party": ada, "mark": "signature"}),
                       ("signatures", {"party": neighbour, "mark": "seal"}),
                       ("mediator-signature", None)],
            "applied": [("confirmation", {"applicants": [neighbour, ada],
                                          "court": "District court"})],
            "withdrawn": [("withdrawal", {"party": neighbour})]}
        path = [stage] if stage == "withdrawn" else STAGES[1:STAGES.index(stage) + 1]
        for reached in path:
            for step, body in steps[reached]:
                self.ok("POST", f"{url}/{step}", body)
        return case, neighbour

    def registration(self) -> Call:
        """A fresh case between Ada and a neighbour, every mediator-capable role named."""
        return "/v1/mediation/cases", {
            "community": str(self.town.community),
            "case_number": f"MED-2026-{next(self.numbers):04d}", "committee": "Elm PMC",
            "mediators": self.mediators, "hearing": "private",
            "parties": [{"kind": "member", "id": str(self.town.ada)},
                        {"kind": "non_member", "details": {"display_name": "Oskar"}}],
            "dispute_type": "neighbour_noise", "facts": "drums", "disputed_matters": "hours"}

    def partner_credit(self) -> str:
        """A pending credit the Care NGO posted, signed, for Ada."""
        if self.partner is None:
            private = Ed25519PrivateKey.generate()
            self.api.app.extensions[PARTNERS_EXTENSION].add_key(
                self.town.org, "care-1", public_key_of(private))
            self.partner = PartnerClient("http://localhost", self.town.org, private, "care-1",
                                         transport=transport(self.api),
                                         sleep=lambda seconds: None)
        answer = self.partner.post_credit(partner_record(self.town.ada, pending=True))
        assert answer.status == 201, answer.body
        return str(answer.body["id"])

    def partner_key(self) -> str:
        """A fresh trusted key of the Care NGO; its id."""
        key_id = f"key-{next(self.numbers)}"
        self.api.app.extensions[PARTNERS_EXTENSION].add_key(
            self.town.org, key_id, public_key_of(Ed25519PrivateKey.generate()))
        return key_id


def vote() -> dict[str, Any]:
    """A meeting's vote with a quorum, held yesterday."""
    return {"meeting_date": local_day(-1), "eligible": 40, "present": 25, "votes_for": 20,
            "votes_against": 3, "abstaining": 2}


def terms(obligor: str, beneficiary: uuid.UUID) -> list[dict[str, Any]]:
    """A recurring quiet-hours term and an apology due in three days."""
    common = {"obligor": obligor, "beneficiary": str(beneficiary), "method": "by hand"}
    return [{**common, "term_id": "quiet", "description": "No drums at night",
             "recurrence": {"kind": "daily", "from": "22:00", "to": "07:00"}},
            {**common, "term_id": "apology", "description": "Apologise",
             "deadline": local_day(3)}]


def partner_record(volunteer: uuid.UUID, **changes: Any) -> dict[str, Any]:
    """A partner's service record for ``volunteer``."""
    return {"id": str(uuid.uuid4()), "volunteer": str(volunteer), "minutes": 10,
            "category": "elderly-companionship", "service_date": "2026-11-20", **changes}


def transport(api: Api) -> Any:
    """The partner client's transport, through the Flask test client."""
    def send(method: str, url: str, headers: Mapping[str, str], body: bytes,
             timeout: float) -> tuple[int, Mapping[str, str], bytes]:
        response = api.client.open(url, method=method, headers=dict(headers), data=body)
        return response.status_code, dict(response.headers), response.get_data()
    return send


def move(**body: Any) -> dict[str, Any]:
    """A move of 10 minutes under a fresh id."""
    return {"id": str(uuid.uuid4()), "minutes": 10, **body}


def _case_step(step: str, stage: str, body: Callable[[Scene, str], Any]) -> Callable[..., Call]:
    def build(s: Scene, caller: str) -> Call:
        case, neighbour = s.case(stage)
        return f"/v1/mediation/cases/{case}/{step}", body(s, neighbour)
    return build


_NONE: Callable[[Scene, str], Any] = lambda s, n: None  # noqa: E731
REQUESTS: dict[Route, Callable[[Scene, str], Call]] = {
    ("POST", "/v1/communities"): lambda s, c: ("/v1/communities", {"name": "Birch Row"}),
    ("GET", "/v1/communities/{community_id}"):
        lambda s, c: (f"/v1/communities/{s.town.community}", None),
    ("PATCH", "/v1/communities/{community_id}/rules"):
        lambda s, c: (f"/v1/communities/{s.town.community}/rules", {"daily_earning_cap": 700}),
    ("GET", "/v1/communities/{community_id}/dashboard"):
        lambda s, c: (f"/v1/communities/{s.town.community}/dashboard", None),
    ("POST", "/v1/members"): lambda s, c: ("/v1/members", {"community": str(s.town.community)}),
    ("GET", "/v1/members/{member_id}"): lambda s, c: (f"/v1/members/{s.town.ada}", None),
    ("POST", "/v1/members/{member_id}/erasure"):
        lambda s, c: (f"/v1/members/{s.member_of(c)}/erasure", None),
    ("POST", "/v1/organisations"): lambda s, c: ("/v1/organisations", {
        "community": str(s.town.community), "name": "Bakery", "budget": 60}),
    ("POST", "/v1/organisations/{organisation_id}/budget"):
        lambda s, c: (f"/v1/organisations/{s.town.org}/budget", {"budget": 600}),
    ("GET", "/v1/organisations/{organisation_id}/report"):
        lambda s, c: (f"/v1/organisations/{s.town.org}/report", None),
    ("POST", "/v1/credits"): lambda s, c: ("/v1/credits", s.town.credit(minutes=10)),
    ("POST", "/v1/credits/{credit_id}/confirm"):
        lambda s, c: (f"/v1/credits/{s.credit(pending=True)}/confirm", None),
    ("POST", "/v1/credits/{credit_id}/void"):
        lambda s, c: (f"/v1/credits/{s.credit(pending=True)}/void", None),
    ("POST", "/v1/redemptions"): lambda s, c: ("/v1/redemptions", s.town.redemption(minutes=10)),
    ("POST", "/v1/gifts"):
        lambda s, c: ("/v1/gifts", move(**{"from": str(s.town.ada), "to": str(s.town.bo)})),
    ("POST", "/v1/donations"):
        lambda s, c: ("/v1/donations", move(**{"from": str(s.town.ada)})),
    ("GET", "/v1/transfers/{transfer_id}"): lambda s, c: (f"/v1/transfers/{s.credit()}", None),
    ("POST", "/v1/transfers/{transfer_id}/reversal"):
        lambda s, c: (f"/v1/transfers/{s.credit()}/reversal", {"reason": "typo"}),
    ("GET", "/v1/accounts/{account_id}"): lambda s, c: (f"/v1/accounts/{s.account_of(c)}", None),
    ("GET", "/v1/accounts/{account_id}/history"):
        lambda s, c: (f"/v1/accounts/{s.account_of(c)}/history?limit=5", None),
    ("GET", "/v1/accounts/{account_id}/balance"):
        lambda s, c: (f"/v1/accounts/{s.account_of(c)}/balance?log_index=3", None),
    ("GET", "/v1/log/checkpoint"): lambda s, c: ("/v1/log/checkpoint", None),
    ("GET", "/v1/log/key"): lambda s, c: ("/v1/log/key", None),
    ("GET", "/v1/log/entries"): lambda s, c: ("/v1/log/entries?start=0&limit=2", None),
    ("GET", "/v1/log/proofs/inclusion"):
        lambda s, c: ("/v1/log/proofs/inclusion?index=0&size=2", None),
    ("GET", "/v1/log/proofs/consistency"):
        lambda s, c: ("/v1/log/proofs/consistency?from=1&to=2", None),
    ("GET", "/v1/partners/{organisation_id}/keys"):
        lambda s, c: (f"/v1/partners/{s.town.org}/keys", None),
    ("POST", "/v1/partners/{organisation_id}/keys"):
        lambda s, c: (f"/v1/partners/{s.town.org}/keys", {
            "key_id": f"key-{next(s.numbers)}",
            "public_key": public_key_of(Ed25519PrivateKey.generate())}),
    ("POST", "/v1/partners/{organisation_id}/keys/{key_id}/revocation"):
        lambda s, c: (f"/v1/partners/{s.town.org}/keys/{s.partner_key()}/revocation", None),
    ("PUT", "/v1/partners/{organisation_id}/categories"):
        lambda s, c: (f"/v1/partners/{s.town.org}/categories",
                      {"categories": ["elderly-companionship"]}),
    ("POST", "/v1/partners/{organisation_id}/credits/{credit_id}/confirm"):
        lambda s, c: (f"/v1/partners/{s.town.org}/credits/{s.partner_credit()}/confirm", None),
    ("POST", "/v1/partners/{organisation_id}/credits/{credit_id}/contest"):
        lambda s, c: (f"/v1/partners/{s.town.org}/credits/{s.partner_credit()}/contest",
                      {"reason": "never happened"}),
    ("POST", "/v1/conventions"): lambda s, c: ("/v1/conventions", {
        "community": str(s.town.community), "scope": "community", "title": "Bins",
        "text": f"Green bin ({uuid.uuid4()})", "effective_date": local_day(30)}),
    ("GET", "/v1/conventions"): lambda s, c: ("/v1/conventions", None),
    ("GET", "/v1/conventions/{convention_id}"):
        lambda s, c: (f"/v1/conventions/{s.convention()}", None),
    ("POST", "/v1/conventions/{convention_id}/versions"):
        lambda s, c: (f"/v1/conventions/{s.convention()}/versions", {
            "title": "Quiet", "text": "Quieter", "effective_date": local_day(60)}),
    ("POST", "/v1/conventions/{convention_id}/adoption"):
        lambda s, c: (f"/v1/conventions/{s.convention(adopted=False)}/adoption", vote()),
    ("POST", "/v1/conventions/{convention_id}/filing"):
        lambda s, c: (f"/v1/conventions/{s.convention()}/filing", {
            "filed_with": "District office", "filed_on": local_day(), "reference": "F-1"}),
    ("POST", "/v1/conventions/{convention_id}/retirement"):
        lambda s, c: (f"/v1/conventions/{s.convention()}/retirement", {
            "reason": "replaced by the city's rules", "retired_on": local_day()}),
    ("POST", "/v1/pledges"): lambda s, c: ("/v1/pledges", {
        "convention": s.convention(), "member": str(s.town.ada)}),
    ("GET", "/v1/pledges"): lambda s, c: (f"/v1/pledges?member={s.town.ada}", None),
    ("GET", "/v1/pledges/{pledge_id}"): lambda s, c: (f"/v1/pledges/{s.pledge()}", None),
    ("POST", "/v1/pledges/{pledge_id}/withdrawal"):
        lambda s, c: (f"/v1/pledges/{s.pledge()}/withdrawal", {"reason": "moved_away"}),
    ("POST", "/v1/pledges/{pledge_id}/renewal"):
        lambda s, c: (f"/v1/pledges/{s.pledge(renewal_due=True)}/renewal", None),
    ("POST", "/v1/pledges/{pledge_id}/check-ins"):
        lambda s, c: (f"/v1/pledges/{s.pledge()}/check-ins", {"date": local_day(),
                                                              "kept": True}),
    ("POST", "/v1/mediation/cases"): lambda s, c: s.registration(),
    ("GET", "/v1/mediation/cases"): lambda s, c: (f"/v1/mediation/cases?party={s.town.ada}",
                                                  None),
    ("GET", CASE): lambda s, c: (f"/v1/mediation/cases/{s.case()[0]}", None),
    ("GET", f"{CASE}/history"): lambda s, c: (f"/v1/mediation/cases/{s.case()[0]}/history",
                                              None),
    ("GET", f"{CASE}/agreement"):
        lambda s, c: (f"/v1/mediation/cases/{s.case('drafted')[0]}/agreement", None),
    ("GET", "/v1/mediation/deadlines"): lambda s, c: ("/v1/mediation/deadlines?days=30", None),
    ("POST", f"{CASE}/acceptance"): _case_step("acceptance", "registered", _NONE),
    ("POST", f"{CASE}/start"): _case_step("start", "accepted", _NONE),
    ("POST", f"{CASE}/participants"): _case_step(
        "participants", "mediating",
        lambda s, n: {"participant": str(uuid.uuid4()), "consent": True}),
    ("POST", f"{CASE}/refusal"): _case_step("refusal", "registered",
                                            lambda s, n: {"party": n}),
    ("POST", f"{CASE}/withdrawal"): _case_step("withdrawal", "registered",
                                               lambda s, n: {"party": n}),
    ("POST", f"{CASE}/failure"): _case_step("failure", "mediating",
                                            lambda s, n: {"reason": "no common ground"}),
    ("POST", f"{CASE}/closure"): _case_step("closure", "withdrawn",
                                            lambda s, n: {"reason": "withdrawn"}),
    ("POST", f"{CASE}/agreement"): _case_step(
        "agreement", "mediating", lambda s, n: {"terms": terms(n, s.town.ada),
                                                "form": "oral", "text": "Quiet."}),
    ("POST", f"{CASE}/signatures"): _case_step(
        "signatures", "drafted", lambda s, n: {"party": str(s.town.ada), "mark": "signature"}),
    ("POST", f"{CASE}/mediator-signature"): _case_step("mediator-signature", "drafted", _NONE),
    ("POST", f"{CASE}/confirmation"): _case_step(
        "confirmation", "agreed",
        lambda s, n: {"applicants": [n, str(s.town.ada)], "court": "District court"}),
    ("POST", f"{CASE}/confirmation/decision"): _case_step(
        "confirmation/decision", "applied",
        lambda s, n: {"confirmed": True, "decided_on": local_day(), "reference": "R-1"}),
    ("POST", f"{CASE}/visits"): _case_step(
        "visits", "agreed", lambda s, n: {"visited_on": local_day(), "notes": "calm",
                                          "term_id": "quiet"}),
    ("POST", f"{CASE}/breaches"): _case_step(
        "breaches", "agreed", lambda s, n: {"term_id": "quiet", "breached_on": local_day(),
                                            "description": "drums at 23:40"}),
    ("POST", f"{CASE}/fulfilments"): _case_step(
        "fulfilments", "agreed", lambda s, n: {"term_id": "apology",
                                               "fulfilled_on": local_day()}),
    ("POST", f"{CASE}/parties/{{party_id}}/erasure"): lambda s, c: (
        "/v1/mediation/cases/{0}/parties/{1}/erasure".format(*s.case()), None),
}
"""(method, path) -> how to build a valid request for a caller: (path, body)."""



@pytest.fixture
def callers(api: Api) -> Api:
    """The API with two more bearer tokens: one nobody issued, one issued and revoked."""
    token, principal = api.town.bank.tokens.issue(Role.ADMIN, None)
    api.town.bank.tokens.revoke(principal.token_id)
    api.town.tokens.update({"revoked": token, "unknown": "cl_" + uuid.uuid4().hex})
    return api


def refusal(response: TestResponse, status: int, rule: str) -> str | None:
    """None when ``response`` is the RFC 9457 problem expected; else what it was."""
    body = response.get_json(silent=True) or {}
    if (response.status_code, response.mimetype, body.get("rule")) != (
            status, "application/problem+json", rule):
        return f"{response.status_code} {body.get('rule')}"
    if status == 401 and rule == "unauthenticated" \
            and not response.headers.get("WWW-Authenticate", "").startswith("Bearer"):
        return "401 without WWW-Authenticate: Bearer"
    return None


def unauthenticated(api: Api, method: str, call: Call, rule: str) -> list[str]:
    """What goes wrong when ``call`` is sent with no, an unknown or a revoked token."""
    path, body = call
    wrong = []
    for who in (None, "unknown", "revoked"):
        found = refusal(api.call(method, path, body, as_=who), 401, rule)
        if found:
            wrong.append(f"{who or 'no token'}: {found}, expected 401 {rule}")
    return wrong


def test_the_matrix_covers_every_route_the_app_serves(api):
    assert routes_of(api) - PUBLIC == set(ALLOWED) | SIGNED
    assert set(REQUESTS) == set(ALLOWED)


def test_the_matrix_names_the_roles_the_openapi_document_names(api):
    document = api.get("/openapi.json", as_=None).get_json()
    six = ("admin", "staff", "auditor", "mediator", "partner", "member")
    for method, path in sorted(ALLOWED):
        text = document["paths"][path][method.lower()]["description"].rpartition(
            "Roles: ")[2]
        named = set(six) if text.startswith("every role") else {
            role for role in six if re.search(rf"\b{role}\b", text)}
        assert {caller.removeprefix("other_") for caller in ALLOWED[(method, path)]} == named, (
            method, path, text)


@pytest.mark.parametrize("route", sorted(ALLOWED), ids=" ".join)
def test_only_the_roles_in_the_matrix_may_call_the_route(callers, route):
    api, (method, _) = callers, route
    scene = Scene(api)
    wrong = unauthenticated(api, method, REQUESTS[route](scene, "admin"), "unauthenticated")
    for caller in ROLES:
        path, body = REQUESTS[route](scene, caller)
        before = api.town.bank.recorder.max_notification_id()
        response = api.call(method, path, body, as_=caller)
        if caller in ALLOWED[route]:
            if not 200 <= response.status_code < 300:
                wrong.append(f"{caller}: {response.status_code} {response.get_json()}, "
                             "expected success")
            continue
        found = refusal(response, 403, "forbidden")
        if found:
            wrong.append(f"{caller}: {found}, expected 403 forbidden")
        elif api.town.bank.recorder.max_notification_id() != before:
            wrong.append(f"{caller}: refused, yet the log grew")
    assert wrong == [], "\n".join(wrong)


UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def seen(response: TestResponse) -> tuple[int, dict[str, Any]]:
    """What a caller learns from an answer: its status and body, less the request's id."""
    body = response.get_json(silent=True) or {}
    return response.status_code, {k: v for k, v in body.items()
                                  if k not in ("request_id", "instance")}


@pytest.mark.parametrize("route", sorted(r for r in ALLOWED if "{" in r[1]), ids=" ".join)
def test_an_unknown_id_tells_a_caller_no_more_than_someone_else_s_record(callers, route):
    """Ids cannot be probed: a caller who may act only on its own records, or not at
    all, gets for an id nobody has the very answer it gets for someone else's
    record (403, same words); only a caller allowed on every record learns that
    the id is unknown. Nothing is written either way."""
    api, (method, _) = callers, route
    scene = Scene(api)
    wrong = []
    for caller in ROLES:
        path, body = REQUESTS[route](scene, caller)
        unknown = UUID_TEXT.sub(lambda _: str(uuid.uuid4()), path)
        before = api.town.bank.recorder.max_notification_id()
        answer = seen(api.call(method, unknown, body, as_=caller))
        if api.town.bank.recorder.max_notification_id() != before:
            wrong.append(f"{caller}: an unknown id wrote to the log")
        other = f"other_{caller}"
        own_only = (caller in ALLOWED[route] and other in ROLES
                    and other not in ALLOWED[route])
        if caller in ALLOWED[route] and not own_only:
            if answer[0] == 403 or answer[0] >= 500:
                wrong.append(f"{caller}: {answer}, expected to learn the id is unknown")
            continue
        asking = other if own_only else caller
        known_path, known_body = REQUESTS[route](scene, asking)
        expected = seen(api.call(method, known_path, known_body, as_=asking))
        if expected[0] != 403 or answer != expected:
            wrong.append(f"{caller}: {answer} for an unknown id, but {expected} "
                         f"for a record that is not theirs ({asking})")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("route", sorted(SIGNED), ids=" ".join)
def test_signed_routes_take_no_bearer_token_only_the_partners_signature(callers, route):
    api, (method, path) = callers, route
    scene = Scene(api)
    scene.partner_credit()  # registers the Care NGO's key
    assert scene.partner is not None
    url = path.replace("{organisation_id}", str(api.town.org))
    body = ({"records": [partner_record(api.town.ada)]} if url.endswith("batches")
            else partner_record(api.town.ada))
    wrong = unauthenticated(api, method, (url, body), "signature_missing")
    for caller in ROLES:
        found = refusal(api.call(method, url, body, as_=caller), 401, "signature_missing")
        if found:
            wrong.append(f"{caller}: {found}, expected 401 signature_missing")
    assert wrong == [], "\n".join(wrong)
    signed = (scene.partner.post_batch(body["records"]) if url.endswith("batches")
              else scene.partner.post_credit(body))
    assert (signed.status, signed.replayed) == ((200 if url.endswith("batches") else 201),
                                                False), signed.body


def test_a_published_log_answers_everyone_even_without_a_token(master_key):
    bank = make_bank("memory://", master_key)
    try:
        api = build_api(bank, LOG_PUBLIC=True)
        scene = Scene(api)
        token, principal = bank.tokens.issue(Role.STAFF, None)
        bank.tokens.revoke(principal.token_id)
        api.town.tokens.update({"revoked": token, "unknown": "cl_" + uuid.uuid4().hex})
        log_routes = sorted(r for r in ALLOWED if r[1].startswith("/v1/log/"))
        assert len(log_routes) == 5
        for route in log_routes:
            path, _ = REQUESTS[route](scene, "admin")
            statuses = {who: api.get(path, as_=who).status_code
                        for who in (*ROLES, None, "unknown", "revoked")}
            assert set(statuses.values()) == {200}, (route, statuses)
    finally:
        bank.close()


def test_health_and_the_contract_answer_without_a_token(callers):
    for method, path in sorted(PUBLIC):
        for who in (None, "unknown", "revoked", "member"):
            assert callers.call(method, path, as_=who).status_code == 200, (path, who)
