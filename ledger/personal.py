"""People's personal data: encrypted per person, erasable without touching the log.

Each member has a random data key (AES-256-GCM). Their personal fields are
encrypted with it, the associated data binding the ciphertext to the member's
id, and only the ciphertext enters the event log. The data key itself lives in
the ``member_keys`` side table, wrapped (AES-GCM) by the master key. Erasing a
member deletes that row: the ciphertext in the log becomes unreadable forever
while balances and history stay intact.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.storage import SideStore

_FORMAT = "v1"
_NONCE = 12


class PersonalData:
    """Encrypts, decrypts and erases members' personal fields."""

    def __init__(self, store: SideStore, master_key: bytes | None) -> None:
        self._store = store
        self._master_key = master_key
        self._table = store.table("member_keys")

    @property
    def _master(self) -> AESGCM:
        # An auditor's tools open the ledger without the master key; only
        # touching personal data needs it.
        if self._master_key is None:
            raise PermissionError("personal data needs the master key (keys/master.key)")
        return AESGCM(self._master_key)

    def create_tables(self) -> None:
        """Create the key table if missing."""
        with self._store.ddl_transaction() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self._table} "
                        "(member_id TEXT PRIMARY KEY, wrapped_key TEXT NOT NULL)")

    def encrypt(self, member_id: UUID, fields: dict[str, Any]) -> str:
        """Ciphertext (text) of ``fields`` under the member's data key (made if new)."""
        key = self._data_key(member_id, create=True)
        assert key is not None  # created above
        nonce = os.urandom(_NONCE)
        plain = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
        sealed = AESGCM(key).encrypt(nonce, plain, _aad("profile", member_id))
        return f"{_FORMAT}:" + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, member_id: UUID, ciphertext: str) -> dict[str, Any] | None:
        """The fields, or None when the member's key was erased."""
        key = self._data_key(member_id, create=False)
        if key is None:
            return None
        version, _, body = ciphertext.partition(":")
        if version != _FORMAT:
            raise ValueError(f"unknown personal data format {version!r}")
        raw = base64.b64decode(body)
        plain = AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], _aad("profile", member_id))
        result: dict[str, Any] = json.loads(plain)
        return result

    def erase(self, member_id: UUID) -> bool:
        """Destroy the member's data key; True when one existed."""
        with self._store.transaction() as cur:
            cur.execute(f"SELECT member_id FROM {self._table} WHERE member_id = ?",
                        (str(member_id),))
            existed = cur.fetchone() is not None
            cur.execute(f"DELETE FROM {self._table} WHERE member_id = ?", (str(member_id),))
        return existed

    def _data_key(self, member_id: UUID, *, create: bool) -> bytes | None:
        with self._store.transaction() as cur:
            cur.execute(f"SELECT wrapped_key FROM {self._table} WHERE member_id = ?",
                        (str(member_id),))
            row = cur.fetchone()
            if row is None and create:
                key = AESGCM.generate_key(bit_length=256)
                cur.execute(f"INSERT INTO {self._table} (member_id, wrapped_key) VALUES (?, ?)",
                            (str(member_id), _wrap(self._master, key, member_id)))
                return key
        if row is None:
            return None
        try:
            return _unwrap(self._master, row["wrapped_key"], member_id)
        except InvalidTag:
            raise ValueError("the master key does not unwrap this member's data key; "
                             "is the keys directory the one this database was made with?") \
                from None

    def rewrap(self, new_master: bytes) -> int:
        """Wrap every member's data key under ``new_master``, in one transaction;
        returns how many changed. The data keys themselves (hence every ciphertext
        in the log) stay as they are. A key already under ``new_master`` is left
        alone, so a rerun after an interruption finishes the job; a key neither
        master unwraps aborts it with nothing changed."""
        new = AESGCM(new_master)
        changed = 0
        with self._store.transaction() as cur:
            cur.execute(f"SELECT member_id, wrapped_key FROM {self._table}")
            for row in cur.fetchall():
                member_id = UUID(str(row["member_id"]))
                try:
                    key = _unwrap(self._master, row["wrapped_key"], member_id)
                except InvalidTag:
                    try:
                        _unwrap(new, row["wrapped_key"], member_id)
                    except InvalidTag:
                        raise ValueError(f"neither master key unwraps the data key of "
                                         f"{member_id}; nothing was changed") from None
                    continue
                cur.execute(f"UPDATE {self._table} SET wrapped_key = ? WHERE member_id = ?",
                            (_wrap(new, key, member_id), str(member_id)))
                changed += 1
        return changed


def _wrap(master: AESGCM, key: bytes, member_id: UUID) -> str:
    nonce = os.urandom(_NONCE)
    return base64.b64encode(nonce + master.encrypt(nonce, key, _aad("key", member_id))).decode()


def _unwrap(master: AESGCM, wrapped: str, member_id: UUID) -> bytes:
    raw = base64.b64decode(wrapped)
    return master.decrypt(raw[:_NONCE], raw[_NONCE:], _aad("key", member_id))


def _aad(purpose: str, member_id: UUID) -> bytes:
    return f"civic-ledger/{purpose}/{_FORMAT}/{member_id}".encode()
