"""The civic records rows of the OpenAPI operations table (``web.openapi``).

Plain keyword rows (``web.openapi`` makes them ``Operation``s), so that this
module need not import ``web.openapi``, which imports it.
"""

from __future__ import annotations

from typing import Any

from web import civic_schemas as c
from web import mediation_schemas as m

WRITE = (401, 403, 404, 409, 422, 503)
READ = (401, 403, 404, 422, 503)
STAFF = "admin, staff"
MEDIATION = "admin, staff, mediator"
CASE_READERS = ("admin, staff, mediator, auditor (no personal data); member (a party: "
                "texts, not other parties' details)")
CASE = "/v1/mediation/cases/{case_id}"
SEALED = " Free text is stored encrypted with the case's key (docs/CIVIC.md)."
AS_MEDIATOR = " The caller must be a mediator named on the case."


def _op(method: str, path: str, summary: str, status: int, response: Any,
        request: Any = None, **more: Any) -> dict[str, Any]:
    return {"method": method, "path": path, "summary": summary, "status": status,
            "response": response, "request": request, **more}


def _case_step(path: str, summary: str, request: Any = None, status: int = 200,
               description: str = "") -> dict[str, Any]:
    return _op("post", f"{CASE}/{path}", summary, status, m.CaseOut, request,
               roles=MEDIATION, errors=WRITE, description=description)


CIVIC_OPERATIONS: tuple[dict[str, Any], ...] = (
    _op("post", "/v1/conventions", "Draft a convention", 201, c.ConventionOut, c.ConventionIn,
        roles=STAFF, errors=WRITE, description="Idempotent by `id` (`created` false)."),
    _op("get", "/v1/conventions", "List conventions", 200, c.ConventionsOut,
        query=c.ConventionQuery, roles="every role",
        description="Every version with its text hash and pledge counts."),
    _op("get", "/v1/conventions/{convention_id}", "Read a convention", 200, c.ConventionOut,
        roles="every role", description="Text, hash, adoption, filing, pledge counts, "
        "every version of the convention and the log indexes of its events."),
    _op("post", "/v1/conventions/{convention_id}/versions", "Draft a new version", 201,
        c.ConventionOut, c.ConventionVersionIn, roles=STAFF, errors=WRITE,
        description="Amends an adopted version. Idempotent by `id`."),
    _op("post", "/v1/conventions/{convention_id}/adoption", "Adopt by a meeting's vote", 200,
        c.ConventionOut, c.AdoptionIn, roles=STAFF, errors=WRITE,
        description="A later version supersedes the one it amends in the same step; "
                    "pledges to that one fall due for renewal."),
    _op("post", "/v1/conventions/{convention_id}/filing", "Record the filing", 200,
        c.ConventionOut, c.FilingIn, roles=STAFF, errors=WRITE),
    _op("post", "/v1/conventions/{convention_id}/retirement", "Retire a convention", 200,
        c.ConventionOut, c.RetirementIn, roles=STAFF, errors=WRITE),
    _op("post", "/v1/pledges", "Pledge to a convention version", 201, c.PledgeOut, c.PledgeIn,
        roles="admin, staff (service window, paper); member (own, online)", errors=WRITE,
        description="Once per member and version: a repeat answers 201 with `created` "
                    "false; another channel or form number is a 422 idempotency_conflict."),
    _op("get", "/v1/pledges", "List pledges", 200, c.PledgesOut, query=c.PledgeQuery,
        roles="admin, staff, auditor, mediator; member (`member` = own)"),
    _op("get", "/v1/pledges/{pledge_id}", "Read a pledge", 200, c.PledgeOut,
        roles="admin, staff, auditor, mediator; member (own)"),
    _op("post", "/v1/pledges/{pledge_id}/withdrawal", "Withdraw a pledge", 200, c.PledgeOut,
        c.WithdrawalIn, roles="admin, staff; member (own)", errors=WRITE),
    _op("post", "/v1/pledges/{pledge_id}/renewal", "Renew a pledge", 201, c.PledgeOut,
        c.RenewalIn, roles="admin, staff; member (own)", errors=WRITE,
        description="A new pledge to the version now adopted; once (a repeat answers 201 "
                    "with `created` false)."),
    _op("post", "/v1/pledges/{pledge_id}/check-ins", "Report keeping a convention", 201,
        c.PledgeOut, c.CheckInIn, roles="admin; member (own)", errors=WRITE),
    _op("post", "/v1/mediation/cases", "Register a mediation case", 201, m.CaseOut, m.CaseIn,
        roles=MEDIATION, errors=WRITE,
        description="The id derives from community and case number: registering again "
                    "answers 201 with `created` false." + SEALED),
    _op("get", "/v1/mediation/cases", "List open cases", 200, m.CasesOut, query=m.CaseQuery,
        roles="admin, staff, mediator, auditor; member (`party` = own)",
        description="Cases not closed unless `status` says otherwise, with counts by "
                    "status and mediator."),
    _op("get", CASE, "Read a case", 200, m.CaseOut, roles=CASE_READERS),
    _op("get", f"{CASE}/history", "A case's history", 200, m.CaseHistoryOut,
        roles=CASE_READERS, description="Every event with its log index."),
    _op("get", f"{CASE}/agreement", "Printable agreement (HTML)", 200, None,
        roles=CASE_READERS, media="text/html",
        description="With the text's SHA-256 and the log indexes of the draft, each mark "
                    "and the agreement's effect, so a court or a party can check it."),
    _op("get", "/v1/mediation/deadlines", "Deadlines due soon", 200, m.DeadlinesOut,
        query=m.DeadlineQuery, roles="admin, staff, mediator, auditor",
        description="Confirmation windows and term deadlines due within `days` (default "
                    "7) of the community's today; overdue terms stay listed."),
    _case_step("acceptance", "Accept a case"),
    _case_step("start", "Start mediation"),
    _case_step("participants", "Invite a participant", m.ParticipantIn),
    _case_step("refusal", "Record a party's refusal", m.PartyStepIn,
               description="The case fails."),
    _case_step("withdrawal", "Record a party's withdrawal", m.PartyStepIn),
    _case_step("failure", "End mediation without agreement", m.ReasonIn,
               description=SEALED),
    _case_step("closure", "Close a case", m.ReasonIn, description=SEALED),
    _case_step("agreement", "Draft the agreement", m.AgreementIn,
               description="An earlier draft and its marks lapse." + AS_MEDIATOR + SEALED),
    _case_step("signatures", "Record a party's mark", m.SignatureIn, description=AS_MEDIATOR),
    _case_step("mediator-signature", "Sign as mediator", description=AS_MEDIATOR +
               " With every party's mark the agreement takes effect and the 30-day "
               "confirmation window opens."),
    _case_step("confirmation", "Record the application for judicial confirmation",
               m.ConfirmationIn, description="All parties jointly, within the window."),
    _case_step("confirmation/decision", "Record the court's decision", m.DecisionIn),
    _case_step("visits", "Record a follow-up visit", m.VisitIn, 201, SEALED),
    _case_step("breaches", "Record a breach of a term", m.BreachIn, 201, SEALED),
    _case_step("fulfilments", "Record a term fulfilled", m.FulfilmentIn, 201,
               "A community-service term may name the posted service credit (`transfer`) "
               "the obligor earned for it."),
    _op("post", f"{CASE}/parties/{{party_id}}/erasure", "Erase a non-member's details", 200,
        m.CaseOut, roles=STAFF, errors=READ),
)
"""Keyword rows for ``web.openapi.Operation``."""
