"""API bearer tokens: who may call, in which role, for which account.

Tokens are random secrets shown once at issue; only their SHA-256 is stored,
in the ``api_tokens`` side table. A token's ``token_id`` (a UUID, not secret)
is what events record as the actor, so the log names who acted without
holding a credential or a person's name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID, uuid4

from ledger.storage import SideStore


class Role(StrEnum):
    """What a principal may do (see ``ledger.access``)."""

    ADMIN = "admin"
    STAFF = "staff"
    PARTNER = "partner"
    MEMBER = "member"
    AUDITOR = "auditor"
    MEDIATOR = "mediator"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    token_id: UUID
    role: Role
    subject: UUID | None  # the member's or organisation's account, when bound to one

    @property
    def actor(self) -> str:
        """How events name this caller."""
        return f"{self.role.value}:{self.token_id}"


class TokenStore:
    """Issues, checks and revokes tokens."""

    def __init__(self, store: SideStore) -> None:
        self._store = store
        self._table = store.table("api_tokens")

    def create_tables(self) -> None:
        """Create the token table if missing."""
        with self._store.ddl_transaction() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self._table} ("
                        "token_hash TEXT PRIMARY KEY, token_id TEXT NOT NULL, "
                        "role TEXT NOT NULL, subject TEXT, issued_at TEXT NOT NULL, "
                        "revoked_at TEXT)")

    def issue(self, role: Role, subject: UUID | None = None) -> tuple[str, Principal]:
        """A new secret token (shown once) and its principal."""
        token = "clt_" + secrets.token_urlsafe(32)
        principal = Principal(token_id=uuid4(), role=Role(role), subject=subject)
        with self._store.transaction() as cur:
            cur.execute(f"INSERT INTO {self._table} (token_hash, token_id, role, subject, "
                        "issued_at) VALUES (?, ?, ?, ?, ?)",
                        (_digest(token), str(principal.token_id), principal.role.value,
                         str(subject) if subject else None, _now()))
        return token, principal

    def authenticate(self, token: str) -> Principal | None:
        """The principal for a live token, else None."""
        rows = self._store.read(f"SELECT token_id, role, subject FROM {self._table} "
                                "WHERE token_hash = ? AND revoked_at IS NULL",
                                (_digest(token),))
        if not rows:
            return None
        row = rows[0]
        return Principal(token_id=UUID(row["token_id"]), role=Role(row["role"]),
                         subject=UUID(row["subject"]) if row["subject"] else None)

    def revoke(self, token_id: UUID) -> bool:
        """Revoke by token id; True when a live token was revoked."""
        with self._store.transaction() as cur:
            cur.execute(f"SELECT token_id FROM {self._table} WHERE token_id = ? "
                        "AND revoked_at IS NULL", (str(token_id),))
            live = cur.fetchone() is not None
            cur.execute(f"UPDATE {self._table} SET revoked_at = ? WHERE token_id = ?",
                        (_now(), str(token_id)))
        return live


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
