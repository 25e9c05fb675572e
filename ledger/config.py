"""Configuration, read once from the environment at start and passed explicitly.

``CIVIC_LEDGER_DATABASE_URL`` (default ``sqlite:///civic-ledger.sqlite``),
``CIVIC_LEDGER_KEYS_DIR`` (default: a ``keys/`` folder beside a SQLite file; it
must be given for PostgreSQL) and ``CIVIC_LEDGER_CREATE_TABLES`` (default ``1``:
every process creates missing tables, the zero-set-up default; ``0``: the tables
were made once at deploy time by ``civic-ledger migrate`` and no process runs
DDL). Command-line flags override all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ledger.application import TimeBank
from ledger.keys import KeyDirectory
from ledger.storage import DEFAULT_DATABASE_URL, Database


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Where the data and the keys are."""

    database_url: str = DEFAULT_DATABASE_URL
    keys_dir: Path | None = None
    create_tables: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, database_url: str | None = None,
                 keys_dir: str | None = None, create_tables: bool | None = None) -> Settings:
        """Flags first, then the environment, then the defaults."""
        url = database_url or env.get("CIVIC_LEDGER_DATABASE_URL") or DEFAULT_DATABASE_URL
        keys = keys_dir or env.get("CIVIC_LEDGER_KEYS_DIR")
        if create_tables is None:
            create_tables = _flag(env.get("CIVIC_LEDGER_CREATE_TABLES", "1"),
                                  "CIVIC_LEDGER_CREATE_TABLES")
        return cls(database_url=url, keys_dir=Path(keys) if keys else None,
                   create_tables=create_tables)

    @property
    def database(self) -> Database:
        """The parsed database URL (ConfigError when malformed)."""
        try:
            parsed = Database.parse(self.database_url)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        # memory:// starts empty every time: it always makes its tables
        return replace(parsed, create_tables=self.create_tables or parsed.backend == "memory")

    def key_directory(self) -> KeyDirectory:
        """The keys directory: given, or ``keys/`` beside the SQLite file."""
        if self.keys_dir is not None:
            return KeyDirectory(self.keys_dir)
        sqlite_file = self.database.sqlite_file
        if sqlite_file is None:
            raise ConfigError("a keys directory is required for this database: pass "
                              "--keys DIR or set CIVIC_LEDGER_KEYS_DIR")
        return KeyDirectory(sqlite_file.resolve().parent / "keys")


def _flag(text: str, name: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "y", "on"):
        return True
    if value in ("0", "false", "no", "n", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0, not {text!r}")


def open_bank(settings: Settings) -> TimeBank:
    """The ledger application for ``settings`` (KeyMissing when keys are absent)."""
    keys = settings.key_directory()
    return TimeBank(settings.database, keys.master_key(), log_signer=keys.log_signer())
