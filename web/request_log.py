"""Request ids, and one JSON access line and one metrics observation per request.

Every request gets an id: a well-formed ``X-Request-Id`` sent by the client (or
by the reverse proxy in front) is kept, anything else is replaced by a fresh
one. The id is echoed in the ``X-Request-Id`` response header, carried by every
problem body (``request_id``, see ``web.problems``) and written in the access
line, so a refusal a caller reports can be found in the logs.

The access line goes to the ``civic_ledger.access`` logger at INFO, as one JSON
object: ``time``, ``request_id``, ``method``, ``route`` (the template, as in
the OpenAPI document), ``path``, ``status``, ``duration_ms``, ``remote_addr``,
``pid`` (the worker), and ``role`` and ``token_id`` when a bearer token was
accepted. Never the token, the query string, a body or anything personal.
Where the lines go is the server's business (``web.server``); the app only
emits them.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import re
import time
import uuid

import orjson
from flask import Flask, Response, current_app, g, request

from web.metrics import Metrics

ACCESS_LOGGER = "civic_ledger.access"
HEADER = "X-Request-Id"
WELL_FORMED = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
"""An incoming id kept as it is: short, no spaces, quotes or control characters."""
METRICS = "civic_ledger.metrics"
PATH_CHARS = 256  # a path no route matched is whatever the client sent: keep it short


def install(app: Flask, metrics: Metrics) -> None:
    """Give ``app`` its request ids, access lines and request metrics (first hooks in)."""
    app.extensions[METRICS] = metrics
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.after_request(_finish)


def request_id() -> str | None:
    """The current request's id (None outside a request or before the first hook)."""
    found: str | None = g.get("request_id")
    return found


def route_template() -> str | None:
    """The matched route as the OpenAPI document writes it (``/v1/accounts/{account_id}``)."""
    rule = request.url_rule
    return None if rule is None else _template(rule.rule)


@functools.lru_cache(maxsize=512)  # one entry per route: templates are the app's own
def _template(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _begin() -> None:
    g.request_started = time.perf_counter()
    given = request.headers.get(HEADER, "")
    g.request_id = given if WELL_FORMED.fullmatch(given) else uuid.uuid4().hex


def _finish(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    response.headers[HEADER] = g.get("request_id") or ""
    route = route_template()
    metrics: Metrics = current_app.extensions[METRICS]
    metrics.observe(request.method, route, response.status_code, seconds, request.endpoint)
    logger = logging.getLogger(ACCESS_LOGGER)
    if logger.isEnabledFor(logging.INFO):  # the line is built only when it goes somewhere
        logger.info(access_line(response.status_code, route, seconds))
    return response


def access_line(status: int, route: str | None, seconds: float) -> str:
    """The JSON access line of the current request."""
    principal = g.get("principal")  # set only once a bearer token was accepted
    line = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "request_id": g.get("request_id"), "method": request.method,
            "route": route, "path": request.path[:PATH_CHARS], "status": status,
            "duration_ms": round(seconds * 1000, 3), "remote_addr": request.remote_addr,
            "pid": os.getpid(),
            "role": principal.role.value if principal else None,
            "token_id": str(principal.token_id) if principal else None}
    return orjson.dumps(line).decode()
