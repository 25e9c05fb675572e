"""Every error response, as RFC 9457 ``application/problem+json``.

This module holds the one table from the error tree (``domain.errors``) to
HTTP statuses; nothing else in the code base knows a status code for an
error. A problem always carries ``type``, ``title``, ``status`` and
``detail`` plus two extension members clients can script against: ``rule``
(the stable slug of the broken rule) and ``field`` (the offending request
field, or null), and ``request_id`` (the ``X-Request-Id`` of the answer, also
in the access log; see ``web.request_log``). Schema failures add ``errors``:
``{field: [messages]}``.

A ledger error's ``field`` uses the ledger's names; when the request body was
loaded through a schema, it is reported under the request's name instead
(``debit_account_id`` -> ``payer``).

Unexpected exceptions are logged with their traceback and answered with a
generic 500 problem: internals never leak to the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, json
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from domain.errors import (
    DomainError,
    Forbidden,
    IdempotencyConflict,
    InvalidTransition,
    LedgerError,
    LogIntegrityError,
    LogRangeError,
    NotFound,
    PendingExpired,
    ProjectionStopped,
    Unauthenticated,
    Unavailable,
)
from domain.errors import IdempotencyInFlight, IdempotencyKeyMissing, SignatureRefused

PROBLEM_TYPE_BASE = "https://civic-ledger.org/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS_BY_ERROR: Mapping[type[LedgerError], int] = {
    NotFound: 404,
    IdempotencyConflict: 422,
    Unauthenticated: 401,
    Forbidden: 403,
    InvalidTransition: 409,
    PendingExpired: 409,
    DomainError: 422,
    Unavailable: 503,
    LogRangeError: 422,
    LogIntegrityError: 503,
    ProjectionStopped: 503,
    SignatureRefused: 401,
    IdempotencyKeyMissing: 400,
    IdempotencyInFlight: 409,
}
"""The one error -> status table; the most specific class in an error's MRO wins."""


def status_for(error: LedgerError) -> int | None:
    """The status for ``error``, or None when the table does not know it."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return None


def problem(status: int, *, rule: str, detail: str, field: str | None = None,
            title: str | None = None, type_: str | None = None,
            headers: Mapping[str, str] | None = None, **extensions: Any) -> Response:
    """A problem+json response."""
    body = {"type": type_ or PROBLEM_TYPE_BASE + rule.replace("_", "-"),
            "title": title or HTTPStatus(status).phrase, "status": status,
            "detail": detail, "rule": rule, "field": field,
            "request_id": g.get("request_id") if has_request_context() else None,
            **extensions}
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    response.headers.extend(dict(headers or {}))
    return response


def ledger_problem(error: LedgerError) -> Response:
    """A refusal from the ledger, mapped through :data:`STATUS_BY_ERROR`."""
    status = status_for(error)
    if status is None:
        return internal_problem(error)
    headers = {}
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="civic-ledger"'
    if isinstance(error, Unavailable):
        headers["Retry-After"] = "1"
    title = (type(error).__doc__ or "").strip().splitlines()[0] or None
    field = g.get("request_fields", {}).get(error.field, error.field)
    return problem(status, rule=error.rule, detail=error.detail, field=field,
                   title=title, headers=headers)


def schema_problem(error: ValidationError) -> Response:
    """A request body or query that does not have the documented shape (422)."""
    errors = _flatten(error.messages if isinstance(error.messages, dict)
                      else {"_schema": error.messages})
    first = next(iter(errors), None)
    field = None if first in (None, "_schema") else first
    detail = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items())
    return problem(422, rule="schema", detail=detail, field=field,
                   title="The request does not have the documented shape.", errors=errors)


def http_problem(error: HTTPException) -> Response:
    """Flask's own refusals (unknown route, wrong method, unreadable JSON)."""
    status = error.code or 500
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    rule = (error.name or "http_error").lower().replace(" ", "_")
    return problem(status, rule=rule, detail=error.description or HTTPStatus(status).phrase,
                   type_="about:blank", headers=headers)


def internal_problem(error: Exception) -> Response:
    """Log the exception; answer a 500 that says nothing about internals."""
    current_app.logger.error("unhandled error while serving a request", exc_info=error)
    return problem(500, rule="internal_error", type_="about:blank",
                   detail="the server failed to handle this request; it was logged")


def register(app: Flask) -> None:
    """Install the handlers so that every error leaves as problem+json."""
    app.register_error_handler(LedgerError, ledger_problem)
    app.register_error_handler(ValidationError, schema_problem)
    app.register_error_handler(HTTPException, http_problem)
    app.register_error_handler(Exception, internal_problem)


def _flatten(messages: Mapping[str, Any], prefix: str = "") -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, prefix=f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = [str(v) for v in value]
        else:
            flat[name] = [str(value)]
    return flat
