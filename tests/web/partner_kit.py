"""Shared by the partner tests: the partner client routed to the Flask test client.

The partner signs with the production client (``web.partner_client``), so the
bytes signed are the bytes the test client sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask.testing import FlaskClient

from ledger.partners import PartnerDesk
from web.partner_client import PartnerClient, Transport, public_key_of
from web.signatures import PARTNERS_EXTENSION

BASE = "http://localhost"


def flask_transport(client: FlaskClient) -> Transport:
    """The partner client's transport, through the Flask test client."""
    def send(method: str, url: str, headers: Mapping[str, str], body: bytes,
             timeout: float) -> tuple[int, Mapping[str, str], bytes]:
        response = client.open(url, method=method, headers=dict(headers), data=body)
        return response.status_code, dict(response.headers), response.get_data()
    return send


def desk_of(api: Any) -> PartnerDesk:
    """The app's partner desk."""
    desk: PartnerDesk = api.app.extensions[PARTNERS_EXTENSION]
    return desk


def partner_client(api: Any, organisation: Any, key_id: str = "care-1",
                   **options: Any) -> PartnerClient:
    """A fresh key registered for ``organisation`` and a client signing with it."""
    private = Ed25519PrivateKey.generate()
    desk_of(api).add_key(organisation, key_id, public_key_of(private))
    options.setdefault("sleep", lambda seconds: None)
    return PartnerClient(BASE, organisation, private, key_id,
                         transport=flask_transport(api.client), **options)
