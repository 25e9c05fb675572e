"""The Ed25519 public keys a partner organisation signs its requests with.

A partner (an organisation account, such as a food bank that records
volunteering) calls the API from its own systems. Rather than hold a bearer
secret, it registers public keys here and signs each request (RFC 9421, see
``ledger.httpsig``); the verifier asks :meth:`PartnerKeyring.active_key` for the
key named in the signature. Keys are added, revoked and rotated as events, so
the log shows which key was good at any moment. Neither a key id nor a public
key is ever registered twice, not even after revocation: an old signature is
never read as a new key's, and a revoked (perhaps stolen) key stays revoked.

The keyring may also narrow the service categories the partner may record
(empty means any); the service layer asks :meth:`PartnerKeyring.allows`.

This module checks a key's *shape* only (canonical base64 of 32 bytes): the
domain does no cryptography, so ``ledger`` loads the key before trusting it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.communities import derived_id
from domain.errors import DomainError, NotFound

PUBLIC_KEY_BYTES = 32
MAX_CATEGORY_LENGTH = 100
MAX_REASON_LENGTH = 200
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~:@/+=-]{0,127}")


class InvalidPartnerKey(DomainError):
    """A key id, public key or category is not of the accepted shape."""

    rule = "invalid_partner_key"


class KeyIdTaken(DomainError):
    """The key id was used before in this keyring (ids are never reused)."""

    rule = "key_id_taken"


class KeyReused(DomainError):
    """The public key was trusted here before (a revoked key stays revoked)."""

    rule = "public_key_reused"


class UnknownPartnerKey(NotFound, DomainError):
    """The keyring has no key with that id."""

    rule = "partner_key_not_found"


def keyring_id(organisation_id: UUID) -> UUID:
    """The id of an organisation's keyring: at most one per organisation."""
    return derived_id("keyring", organisation_id)


def check_key_id(key_id: object) -> str:
    """A key id: 1-128 URL-safe characters (it travels in ``keyid="..."``)."""
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise InvalidPartnerKey("key_id must be 1-128 letters, digits or ._~:@/+=-",
                                field="key_id")
    return key_id


def check_public_key(public_key: object) -> str:
    """A public key: canonical, padded base64 of the 32 raw Ed25519 bytes."""
    raw = b""
    if isinstance(public_key, str) and public_key.isascii():
        try:
            raw = base64.b64decode(public_key, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
    if len(raw) != PUBLIC_KEY_BYTES or base64.b64encode(raw).decode() != public_key:
        raise InvalidPartnerKey("public_key must be the base64 of 32 raw Ed25519 bytes",
                                field="public_key")
    return public_key


def check_categories(categories: object) -> list[str]:
    """Distinct, non-blank categories of at most 100 characters, in the given order."""
    if not isinstance(categories, (list, tuple)) or not all(
            isinstance(c, str) and c.strip() and len(c) <= MAX_CATEGORY_LENGTH
            for c in categories):
        raise InvalidPartnerKey("categories must be a list of non-blank names of at most "
                                f"{MAX_CATEGORY_LENGTH} characters", field="categories")
    return list(dict.fromkeys(categories))


def check_reason(reason: object) -> str:
    """A revocation reason: free text of at most 200 characters (may be empty)."""
    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH:
        raise InvalidPartnerKey(f"reason must be text of at most {MAX_REASON_LENGTH} "
                                "characters", field="reason")
    return reason


class PartnerKeyring(Aggregate):
    """One organisation's signing keys and the categories it may record."""

    @event("Registered")
    def __init__(self, id: UUID, organisation_id: UUID) -> None:  # noqa: A002
        self.organisation_id = organisation_id
        self.keys: dict[str, dict[str, Any]] = {}
        self.categories: list[str] = []

    @classmethod
    def register(cls, *, organisation_id: UUID) -> PartnerKeyring:
        """Open the (empty) keyring of ``organisation_id``."""
        return cls(id=keyring_id(organisation_id), organisation_id=organisation_id)

    # -- queries ------------------------------------------------------------------

    def active_key(self, key_id: str) -> str | None:
        """The base64 public key for ``key_id``; None when unknown or revoked."""
        key = self.keys.get(key_id)
        return None if key is None or key["revoked"] else key["public_key"]

    def allows(self, category: str) -> bool:
        """Whether the partner may record ``category`` (always, when unrestricted)."""
        return not self.categories or category in self.categories

    def summary(self) -> dict[str, Any]:
        """Primitive view for the service layer (public keys are not secret)."""
        return {"id": self.id, "organisation_id": self.organisation_id,
                "categories": list(self.categories),
                "keys": [{"key_id": key_id, **key} for key_id, key in self.keys.items()]}

    # -- commands -----------------------------------------------------------------

    def add_key(self, key_id: str, public_key: str, added_at: dt.datetime) -> None:
        """Trust a new public key under a key id never used here before."""
        self._check_new(key_id, public_key, added_at)
        self._key_added(key_id=key_id, public_key=public_key, added_at=added_at)

    def revoke_key(self, key_id: str, reason: str = "") -> None:
        """Stop trusting ``key_id``; revoking a revoked key changes nothing."""
        self._check_known(key_id)
        check_reason(reason)
        if not self.keys[key_id]["revoked"]:
            self._key_revoked(key_id=key_id, reason=reason)

    def rotate(self, old_key_id: str, new_key_id: str, public_key: str,
               added_at: dt.datetime, reason: str = "rotated") -> None:
        """Add the new key and revoke the old one in one command (saved together)."""
        self._check_known(old_key_id)
        check_reason(reason)
        self._check_new(new_key_id, public_key, added_at)
        self._key_added(key_id=new_key_id, public_key=public_key, added_at=added_at)
        if not self.keys[old_key_id]["revoked"]:
            self._key_revoked(key_id=old_key_id, reason=reason)

    def allow_categories(self, categories: list[str]) -> None:
        """Restrict the partner to ``categories``; an empty list allows any."""
        wanted = check_categories(categories)
        if wanted != self.categories:
            self._categories_allowed(categories=wanted)

    def _check_new(self, key_id: str, public_key: str, added_at: dt.datetime) -> None:
        check_key_id(key_id)
        check_public_key(public_key)
        if key_id in self.keys:
            raise KeyIdTaken(f"key id {key_id!r} was already used", field="key_id")
        if any(key["public_key"] == public_key for key in self.keys.values()):
            raise KeyReused("this public key was already registered", field="public_key")
        if not isinstance(added_at, dt.datetime) or added_at.utcoffset() != dt.timedelta(0):
            raise InvalidPartnerKey("added_at must be a UTC time", field="added_at")

    def _check_known(self, key_id: str) -> None:
        if not isinstance(key_id, str) or key_id not in self.keys:
            raise UnknownPartnerKey(f"no key {key_id!r} in this keyring", field="key_id")

    # -- appliers (state changes only; they re-run on every replay) --------------

    @event("KeyAdded")
    def _key_added(self, key_id: str, public_key: str, added_at: dt.datetime) -> None:
        self.keys[key_id] = {"public_key": public_key, "added_at": added_at,
                             "revoked": False, "reason": ""}

    @event("KeyRevoked")
    def _key_revoked(self, key_id: str, reason: str) -> None:
        self.keys[key_id] = {**self.keys[key_id], "revoked": True, "reason": reason}

    @event("CategoriesAllowed")
    def _categories_allowed(self, categories: list[str]) -> None:
        self.categories = list(categories)


__all__ = ["InvalidPartnerKey", "KeyIdTaken", "KeyReused", "PartnerKeyring", "UnknownPartnerKey",
           "check_categories", "check_key_id", "check_public_key", "check_reason",
           "keyring_id"]
