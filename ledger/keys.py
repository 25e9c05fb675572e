"""The keys directory: secrets that never enter the event log.

``master.key`` (32 random bytes, AES-256) wraps every member's data key.
``log.key`` is the Ed25519 log signing key as a C2SP signer key string
(``PRIVATE+KEY+<name>+<id>+<key>``) and ``log.vkey`` its public verifier key,
the line auditors pin. The key name is the log's origin. Secret files are
created owner-only (0600) in an owner-only directory (0700); the public
``log.vkey`` is readable by all, as a published key should be.
``civic-ledger keys --keys DIR`` creates what is missing; ``serve`` refuses to
start without them (:class:`KeyMissing` names the command to run).

Rotation (``civic-ledger keys rotate-log`` / ``rotate-master``) never leaves a
moment without a usable key file: new files are written beside the old and
renamed over them. A rotated log key's verifier key is kept in
``log-retired.vkeys`` (one a line, oldest first) so that checkpoints signed
before stay verifiable; its secret is destroyed. A rotated master key is kept
in ``retired/`` (0600): database backups made before the rotation still need it.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import replace
from pathlib import Path

from ledger.checkpoints import CheckpointFormatError, Signer, generate_signer_key, \
    make_vkey, parse_signer_key

MASTER_KEY_FILE = "master.key"
LOG_KEY_FILE = "log.key"
LOG_VKEY_FILE = "log.vkey"
LOG_RETIRED_FILE = "log-retired.vkeys"
MASTER_NEXT_FILE = "master.key.next"
RETIRED_DIR = "retired"
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
            signer = parse_signer_key(path.read_text().strip())
        except CheckpointFormatError as error:
            raise KeyMissing(f"{path} is not a signer key: {error}") from None
        return replace(signer, retired=self.retired_log_vkeys())

    def log_vkey(self) -> str:
        """The published verifier key line."""
        return (self.path / LOG_VKEY_FILE).read_text().strip()

    def retired_log_vkeys(self) -> tuple[str, ...]:
        """Verifier keys of the log keys rotated away, oldest first."""
        path = self.path / LOG_RETIRED_FILE
        if not path.exists():
            return ()
        return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())

    @staticmethod
    def fresh_log_signer(name: str) -> tuple[Signer, str]:
        """A new log key under ``name`` (not yet installed) and its signer key string."""
        skey, _ = generate_signer_key(name)
        return parse_signer_key(skey), skey

    def install_log_key(self, skey: str) -> None:
        """Make ``skey`` the log key; the current one's verifier key is retired.

        Call it only after the new key co-signed the latest checkpoint
        (:meth:`ledger.transparency.TransparencyLog.hand_over`): from here on
        the old secret is gone."""
        old = self.log_signer()
        new = parse_signer_key(skey)
        old_vkey = make_vkey(old.name, old.private_key.public_key())
        if old_vkey not in old.retired:
            with open(self.path / LOG_RETIRED_FILE, "a") as retired:
                retired.write(old_vkey + "\n")
                retired.flush()
                os.fsync(retired.fileno())
        _replace(self.path / LOG_KEY_FILE, skey.encode(), 0o600)
        _replace(self.path / LOG_VKEY_FILE,
                 (make_vkey(new.name, new.private_key.public_key()) + "\n").encode(), 0o644)

    def next_master_key(self) -> bytes:
        """The master key a rotation moves to: made once, kept until it is installed,
        so that an interrupted rotation resumes with the same key."""
        path = self.path / MASTER_NEXT_FILE
        if not path.exists():
            _write_secret(path, secrets.token_bytes(KEY_BYTES))
        key = path.read_bytes()
        if len(key) != KEY_BYTES:
            raise KeyMissing(f"{path} is not a {KEY_BYTES}-byte key; remove it and rotate again")
        return key

    def install_master_key(self) -> Path:
        """Retire ``master.key`` into ``retired/`` and put the next key in its place
        (one rename: there is always a ``master.key``). Returns the retired copy."""
        retired = self.path / RETIRED_DIR
        retired.mkdir(mode=0o700, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        kept = retired / f"master-{stamp}.key"
        _write_secret(kept, self.master_key())
        os.replace(self.path / MASTER_NEXT_FILE, self.path / MASTER_KEY_FILE)
        return kept


def _write_secret(path: Path, data: bytes) -> None:
    # O_EXCL: never overwrite a key another process created meanwhile.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _replace(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` beside ``path`` and rename it over: readers see old or new."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(partial, mode)
    os.replace(partial, path)
