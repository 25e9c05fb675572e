"""The OpenAPI 3.1 document, written by hand from one table of operations.

Request and response bodies are not restated: :func:`json_schema` converts the
marshmallow schemas of ``web.schemas`` (the ones the views really use) into
JSON Schema, so the document cannot drift from what the server checks. The
table below is the only hand-kept part; a test walks ``app.url_map`` and fails
when a route or a method is missing from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields, missing, validate

from domain.transfers import TransferKind
from web import log_schemas as ls
from web import partner_schemas as ps
from web import read_schemas as rs
from web import schemas as s
from web.civic_openapi import CIVIC_OPERATIONS

PROBLEM = "application/problem+json"
STATUS_TEXT = {400: "Body is not valid JSON", 401: "No valid bearer token",
               403: "The caller's role may not do this", 404: "No such resource",
               405: "Method not allowed", 409: "The transfer is not in a state that allows "
               "this", 415: "Body is not application/json",
               422: "Schema failure, business rule refused or idempotency conflict",
               500: "Internal error (logged; no details)",
               503: "Storage busy; retry the same request"}
REPLAY = ("The client chooses `id`. Sending the same body again answers **201** with the "
          "original transfer and `\"created\": false`; a different body under the same id "
          "is a 422 problem with rule `idempotency_conflict` naming the first differing field.")


@dataclass(frozen=True)
class Operation:
    """One documented route and method."""

    method: str
    path: str
    summary: str
    status: int
    response: type[Schema] | None
    request: type[Schema] | None = None
    query: type[Schema] | None = None
    roles: str = ""
    description: str = ""
    errors: tuple[int, ...] = (401, 403, 404, 422, 503)
    media: str = "application/json"


_MOVE = (401, 403, 404, 409, 422, 503)
LOG_ROLES = "admin, staff, auditor; anyone when the log is published (LOG_PUBLIC)"
PARTNER_SIGNED = "the partner, signing with its key (RFC 9421), no bearer token"
SIGNED = ("Signed (RFC 9421, ed25519) over at least `@method`, `@target-uri`, "
          "`content-type`, `content-digest` (RFC 9530) and `idempotency-key`, with "
          "`created`, `expires` (at most 300 s apart), `keyid` and `nonce`. Requires "
          "`Idempotency-Key`: a retry gets the stored response (`Idempotent-Replayed: "
          "true`) for 24 h; in flight: 409; other payload: 422. See docs/PARTNERS.md.")
_SIGNED = (400, 401, 404, 409, 415, 422, 503)
TEXT_PARAMETERS = frozenset({"key_id"})  # path parameters that are not UUIDs
OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/healthz", "Liveness", 200, s.HealthOut, roles="anyone", errors=()),
    Operation("get", "/openapi.json", "This document", 200, None, roles="anyone",
              errors=()),
    Operation("get", "/metrics", "Prometheus metrics", 200, None, roles="anyone",
              media="text/plain", errors=(),
              description="Text exposition format 0.0.4: request latency by method, route "
                          "template and status; successful writes by command; projection "
                          "lag and failures and the log's size, read when scraped. Summed "
                          "over every worker. Nothing personal (docs/OPERATIONS.md)."),
    Operation("post", "/v1/communities", "Register a community", 201, s.CommunityOut,
              s.CommunityIn, roles="admin", description="Idempotent by `id`."),
    Operation("get", "/v1/communities/{community_id}", "Read a community", 200,
              s.CommunityOut, roles="every role"),
    Operation("patch", "/v1/communities/{community_id}/rules", "Change a community's rules",
              200, s.CommunityOut, s.RulesIn, roles="admin",
              description="The body holds only the limits that change (whole minutes)."),
    Operation("post", "/v1/members", "Open a member account", 201, s.MemberOut, s.MemberIn,
              roles="admin, staff", description="Idempotent by `id`."),
    Operation("get", "/v1/members/{member_id}", "Read a member", 200, s.MemberOut,
              roles="admin, staff, auditor, mediator; member (own)",
              description="`profile` is present only for admin, staff and the member; "
                          "null once erased."),
    Operation("post", "/v1/members/{member_id}/erasure", "Erase a member's personal data",
              200, s.MemberOut, roles="admin, staff"),
    Operation("post", "/v1/organisations", "Open an organisation account", 201,
              s.AccountOut, s.OrganisationIn, roles="admin", description="Idempotent by `id`."),
    Operation("post", "/v1/organisations/{organisation_id}/budget", "Set a budget", 200,
              s.AccountOut, s.BudgetIn, roles="admin"),
    Operation("post", "/v1/credits", "Record a service credit", 201, s.TransferOut,
              s.CreditIn, roles="admin, staff; partner (payer = own organisation)",
              description=REPLAY, errors=_MOVE),
    Operation("post", "/v1/credits/{credit_id}/confirm", "Post a pending credit", 200,
              s.TransferOut, s.ConfirmIn, roles="admin, staff; partner (own credits)",
              description="Optional body. Confirming a posted credit again changes nothing.",
              errors=_MOVE),
    Operation("post", "/v1/credits/{credit_id}/void", "Void a pending credit", 200,
              s.TransferOut, s.VoidIn, roles="admin, staff; partner (own credits)",
              description="Optional body. Voiding a voided credit again changes nothing.",
              errors=_MOVE),
    Operation("post", "/v1/redemptions", "Record a redemption", 201, s.TransferOut,
              s.RedemptionIn, roles="admin, staff (on behalf); member (own account)",
              description=REPLAY, errors=_MOVE),
    Operation("post", "/v1/gifts", "Record a gift", 201, s.TransferOut, s.GiftIn,
              roles="admin, staff (on behalf); member (own account)",
              description=REPLAY + " `service_date` defaults to today (UTC).", errors=_MOVE),
    Operation("post", "/v1/donations", "Record a donation", 201, s.TransferOut, s.DonationIn,
              roles="admin, staff (on behalf); member (own account)",
              description=REPLAY + " `to` defaults to the giver's community pool; "
                                   "`service_date` to today (UTC).", errors=_MOVE),
    Operation("get", "/v1/transfers/{transfer_id}", "Read a transfer", 200, s.TransferOut,
              roles="admin, staff, auditor, mediator; partner and member (either side)"),
    Operation("post", "/v1/transfers/{transfer_id}/reversal", "Reverse a posted transfer",
              201, s.TransferOut, s.ReversalIn, roles="admin, staff", errors=_MOVE,
              description="Optional body. Asking again answers 201 with the same reversal "
                          "and `\"created\": false`. `reason` is recorded on the original "
                          "as `reversal_reason`."),
    Operation("get", "/v1/accounts/{account_id}", "Read an account", 200, s.AccountOut,
              roles="admin, staff, auditor, mediator; partner and member (own)"),
    Operation("get", "/v1/log/checkpoint", "The latest signed checkpoint", 200, None,
              roles=LOG_ROLES, media="text/plain", errors=(401, 403, 503),
              description="A C2SP tlog-checkpoint signed note (Ed25519)."),
    Operation("get", "/v1/log/key", "The log's verifier key", 200, None, roles=LOG_ROLES,
              media="text/plain", errors=(401, 403, 503),
              description="C2SP vkey: `<name>+<hex key id>+<base64(0x01 || key)>`."),
    Operation("get", "/v1/log/entries", "Log entries", 200, ls.LogEntriesOut,
              query=ls.LogEntriesQuery, roles=LOG_ROLES, errors=(401, 403, 422, 503),
              description="Leaf data in index order (docs/AUDIT.md)."),
    Operation("get", "/v1/log/proofs/inclusion", "RFC 9162 inclusion proof", 200,
              ls.InclusionOut, query=ls.InclusionQuery, roles=LOG_ROLES,
              errors=(401, 403, 422, 503)),
    Operation("get", "/v1/log/proofs/consistency", "RFC 9162 consistency proof", 200,
              ls.ConsistencyOut, query=ls.ConsistencyQuery, roles=LOG_ROLES,
              errors=(401, 403, 422, 503)),
    Operation("get", "/v1/accounts/{account_id}/history", "Read an account's statement", 200,
              rs.StatementOut, query=rs.StatementQuery,
              roles="admin, staff, auditor, mediator; partner and member (own)",
              description="Newest first with running balances; pass `next` as `before` for "
                          "the following page. `format=csv` answers text/csv."),
    Operation("get", "/v1/accounts/{account_id}/balance", "Balance as of a past moment", 200,
              rs.AsOfOut, query=rs.AsOfQuery,
              roles="admin, staff, auditor, mediator; partner and member (own)",
              description="`at` (ISO 8601 with offset) or `log_index`; the balances after "
                          "the last entry at or before it."),
    Operation("get", "/v1/organisations/{organisation_id}/report", "An organisation's report",
              200, rs.OrganisationReportOut, query=rs.ReportQuery,
              roles="admin, staff, auditor; partner (own)",
              description="`format=csv` answers text/csv."),
    Operation("get", "/v1/communities/{community_id}/dashboard", "A community's dashboard",
              200, rs.DashboardOut, roles="admin, staff, auditor, mediator"),
    # -- partner organisations (docs/PARTNERS.md) --
    Operation("get", "/v1/partners/{organisation_id}/keys", "A partner's keys", 200,
              ps.PartnerKeyringOut, roles="admin, staff, auditor; partner (own)"),
    Operation("post", "/v1/partners/{organisation_id}/keys", "Trust a partner's public key",
              201, ps.PartnerKeyringOut, ps.PartnerKeyIn, roles="admin; partner (own)",
              description="Raw Ed25519 public key, base64. With `replaces`, the old key is "
                          "revoked in the same step (rotation). Key ids and keys are never "
                          "reused; sending the same key again changes nothing."),
    Operation("post", "/v1/partners/{organisation_id}/keys/{key_id}/revocation",
              "Revoke a partner's key", 200, ps.PartnerKeyringOut, ps.KeyRevocationIn,
              roles="admin; partner (own)",
              description="Optional body. A revoked key signs nothing new."),
    Operation("put", "/v1/partners/{organisation_id}/categories",
              "Set the categories a partner may record", 200, ps.PartnerKeyringOut,
              ps.PartnerCategoriesIn, roles="admin", description="Empty: any category."),
    Operation("post", "/v1/partners/{organisation_id}/credits", "Post a signed service credit",
              201, s.TransferOut, ps.PartnerCreditIn, roles=PARTNER_SIGNED,
              description=SIGNED, errors=_SIGNED),
    Operation("post", "/v1/partners/{organisation_id}/batches",
              "Post up to 1,000 signed service records", 200, ps.BatchOut, ps.PartnerBatchIn,
              query=ps.PartnerBatchQuery, roles=PARTNER_SIGNED, errors=_SIGNED,
              description=SIGNED + " Also takes `text/csv` (columns id, volunteer, minutes, "
                          "category, service_date, pending, beneficiary; `mode` in the "
                          "query). `atomic`: all rows or a 422 `batch_refused` problem "
                          "with `results`; `per-item`: a result per row (1-based)."),
    Operation("post", "/v1/partners/{organisation_id}/credits/{credit_id}/confirm",
              "Confirm a pending partner credit", 200, s.TransferOut, s.ConfirmIn,
              roles="admin, staff; member (the volunteer or the beneficiary)",
              errors=_MOVE, description="Optional body."),
    Operation("post", "/v1/partners/{organisation_id}/credits/{credit_id}/contest",
              "Contest (void) a pending partner credit", 200, s.TransferOut, ps.ContestIn,
              roles="admin, staff; member (the volunteer or the beneficiary)",
              errors=_MOVE, description="The reason is recorded as `contested: <reason>`."),
    *(Operation(**row) for row in CIVIC_OPERATIONS),  # conventions, pledges, mediation
)


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, components)
    json_schema(s.ProblemOut, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Civic Ledger API", "version": "1",
                 "description": "A time bank: whole minutes, double-entry transfers. "
                                "Transfer kinds: " + ", ".join(k.value for k in TransferKind)
                                + ". Every error is application/problem+json (RFC 9457), "
                                "its `request_id` the answer's `X-Request-Id`."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _operation(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    roles = f"Roles: {op.roles}."
    doc: dict[str, Any] = {
        "summary": op.summary, "description": f"{op.description}\n\n{roles}".strip(),
        "operationId": f"{op.method}_{op.path}".replace("/", "_").replace("{", "")
                       .replace("}", "").replace(".", "_"),
        "parameters": _parameters(op, components),
        "responses": {str(op.status): _content(op.media, op.response, components,
                                               "Success")},
    }
    for status in op.errors:
        doc["responses"][str(status)] = _content(PROBLEM, s.ProblemOut, components,
                                                 STATUS_TEXT[status])
    if op.query is not None and "format" in op.query().fields:  # format=csv
        doc["responses"][str(op.status)]["content"]["text/csv"] = {"schema": {"type": "string"}}
    if op.request is not None:
        for status in (400, 415):  # a body that is not JSON, or not declared as JSON
            doc["responses"].setdefault(str(status), _content(
                PROBLEM, s.ProblemOut, components, STATUS_TEXT[status]))
        optional = op.path.endswith(("/confirm", "/void", "/reversal", "/revocation"))
        doc["requestBody"] = {"required": not optional, "content": {
            "application/json": {"schema": json_schema(op.request, components)}}}
    doc["security"] = [] if op.roles in ("anyone", PARTNER_SIGNED) else [{"bearer": []}]
    return doc


def _parameters(op: Operation, components: dict[str, Any]) -> list[dict[str, Any]]:
    params = [{"name": part[1:-1], "in": "path", "required": True,
               "schema": {"type": "string"} if part[1:-1] in TEXT_PARAMETERS
               else {"type": "string", "format": "uuid"}}
              for part in op.path.split("/") if part.startswith("{")]
    if op.query is not None:
        for name, field in op.query().fields.items():
            params.append({"name": field.data_key or name, "in": "query",
                           "required": field.required, "schema": field_schema(field,
                                                                              components)})
    return params


def _content(media: str, schema: type[Schema] | None, components: dict[str, Any],
             description: str) -> dict[str, Any]:
    if media.startswith("text/"):  # text/plain, text/html
        return {"description": description, "content": {media: {"schema": {"type": "string"}}}}
    body = {"type": "object"} if schema is None else json_schema(schema, components)
    return {"description": description, "content": {media: {"schema": body}}}


def json_schema(schema: type[Schema] | Schema, components: dict[str, Any]) -> dict[str, Any]:
    """Register ``schema`` in ``components`` (once) and return a ``$ref`` to it."""
    instance = schema() if isinstance(schema, type) else schema
    name = type(instance).__name__
    if name not in components:
        components[name] = {}  # placeholder first: a schema may nest itself
        properties = {field.data_key or key: field_schema(field, components)
                      for key, field in instance.fields.items()}
        required = [field.data_key or key for key, field in instance.fields.items()
                    if field.required]
        body: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            body["required"] = required
        if isinstance(instance, s.Input):
            body["additionalProperties"] = False
        described = type(instance).__doc__
        if described:
            body["description"] = described.strip()
        components[name] = body
    return {"$ref": f"#/components/schemas/{name}"}


_TYPES: tuple[tuple[type[fields.Field], dict[str, Any]], ...] = (
    (fields.UUID, {"type": "string", "format": "uuid"}),
    (fields.Date, {"type": "string", "format": "date"}),
    (fields.DateTime, {"type": "string", "format": "date-time"}),
    (fields.Boolean, {"type": "boolean"}),
    (fields.Integer, {"type": "integer"}),
    (fields.String, {"type": "string"}),
)


def field_schema(field: fields.Field, components: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one marshmallow field (types, ranges, formats, null)."""
    if isinstance(field, fields.Nested):
        result = json_schema(field.nested, components)  # type: ignore[arg-type]
        return {"anyOf": [result, {"type": "null"}]} if field.allow_none else result
    if isinstance(field, fields.List):
        result = {"type": "array", "items": field_schema(field.inner, components)}
    elif isinstance(field, fields.Dict):
        values = field.value_field
        result = {"type": "object", "additionalProperties":
                  field_schema(values, components) if values is not None else {}}
    else:
        result = next((dict(t) for cls, t in _TYPES if isinstance(field, cls)), {})
    for validator in field.validators:
        result.update(_validator_schema(validator))
    if field.load_default not in (None, missing) and not callable(field.load_default):
        result["default"] = field.load_default
    if field.allow_none and "type" in result:
        result["type"] = [result["type"], "null"]
    return result


def _validator_schema(validator: Any) -> dict[str, Any]:
    if isinstance(validator, validate.Range):
        return {k: v for k, v in (("minimum", validator.min), ("maximum", validator.max))
                if v is not None}
    if isinstance(validator, validate.Length):
        return {k: v for k, v in (("minLength", validator.min), ("maxLength", validator.max))
                if v is not None}
    if isinstance(validator, validate.OneOf):
        return {"enum": list(validator.choices)}
    return {}
