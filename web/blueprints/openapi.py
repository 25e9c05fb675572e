"""The published contract: the OpenAPI document, built from the schemas."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from web.openapi import document

bp = Blueprint("openapi", __name__)


@bp.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    """The OpenAPI 3.1 document describing every route."""
    return document()
