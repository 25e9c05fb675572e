"""The keys directory: secrets that never enter the event log.

``master.key`` (32 random bytes, AES-256) wraps every member's data key.
``log.key`` is the Ed25519 log signing key as a C2SP signer key string
(``PRIVATE+KEY+<name>+<id>+<key>``) and ``log.vkey`` its public verifier key,
the line auditors pin. The key name is the log's origin. Secret files are
created owner-only (0600) in an owner-only directory (0700); the public
``log.vkey`` is readable by all, as a published key should be.
``civic-ledger keys --keys DIR`` creates what is missing; ``serve`` refuses to
start without them (:class:`KeyMissing` names the command to run).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ledger.checkpoints import CheckpointFormatError, Signer, generate_signer_key, \
    parse_signer_key

MASTER_KEY_FILE = "master.key"
LOG_KEY_FILE = "log.key"
LOG_VKEY_FILE = "log.vkey"
DEFAULT_LOG_ORIGIN = "civic-ledger.local/log"
KEY_BYTES = 32


class KeyMissing(RuntimeError):
    """A required key file is absent; the message names the command that makes it."""


class KeyDirectory:
    """Reads and creates the keys kept in one directory."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def ensure(self, origin: str = DEFAULT_LOG_ORIGIN) -> list[str]:
        """Create every missing key; returns the names of those created.

        ``origin`` names a new log key (the checkpoint origin line); an existing
        log key keeps its name."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        created = []
        master = self.path / MASTER_KEY_FILE
        if not master.exists():
            _write_secret(master, secrets.token_bytes(KEY_BYTES))
            created.append(MASTER_KEY_FILE)
        log_key = self.path / LOG_KEY_FILE
        if not log_key.exists():
            skey, vkey = generate_signer_key(origin)
            _write_secret(log_key, skey.encode())
            (self.path / LOG_VKEY_FILE).write_text(vkey + "\n")
            created += [LOG_KEY_FILE, LOG_VKEY_FILE]
        return created

    def master_key(self) -> bytes:
        """The master key, or :class:`KeyMissing`."""
        path = self.path / MASTER_KEY_FILE
        if not path.exists():
            raise KeyMissing(f"no master key at {path}; create it with: "
                             f"civic-ledger keys --keys {self.path}")
        key = path.read_bytes()
        if len(key) != KEY_BYTES:
            raise KeyMissing(f"{path} is not a {KEY_BYTES}-byte key")
        return key

    def log_signer(self) -> Signer:
        """The log signing key, or :class:`KeyMissing`."""
        path = self.path / LOG_KEY_FILE
        if not path.exists():
            raise KeyMissing(f"no log signing key at {path}; create it with: "
                             f"civic-ledger keys --keys {self.path}")
        try:
            return parse_signer_key(path.read_text().strip())
        except CheckpointFormatError as error:
            raise KeyMissing(f"{path} is not a signer key: {error}") from None

    def log_vkey(self) -> str:
        """The published verifier key line."""
        return (self.path / LOG_VKEY_FILE).read_text().strip()


def _write_secret(path: Path, data: bytes) -> None:
    # O_EXCL: never overwrite a key another process created meanwhile.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
