"""The operator's commands: keys (and their rotation), migrate, backup, restore.

``keys`` creates missing keys; ``keys rotate-log`` replaces the log signing key
(the old key first co-signs, with the new one, the latest checkpoint, so
auditors who trust the old key can check the new one; the old verifier key is
kept in ``log-retired.vkeys``); ``keys rotate-master`` re-wraps every member's
data key under a new master key in one transaction (stop every server first).
``migrate`` creates every table once, at deploy time. ``backup FILE`` copies the
database consistently while the server writes (SQLite's online backup API;
``pg_dump -Fc`` on PostgreSQL); ``restore FILE`` puts one back (never over a
database by accident) and runs ``verify`` on it. See docs/OPERATIONS.md.
"""

from __future__ import annotations

import argparse
import stat
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ledger.application import TimeBank
from ledger.backups import RestoreRefused, back_up, restore
from ledger.config import Settings
from ledger.keys import KeyDirectory
from web.audit_cli import verify_database
from web.tables import create_all_tables, missing_tables

KEY_ACTIONS = ("rotate-log", "rotate-master")


def register(commands: Any, where: argparse.ArgumentParser) -> None:
    """Add ``keys``, ``migrate``, ``backup`` and ``restore`` to the ``civic-ledger`` parser."""
    sub = commands.add_parser("keys", parents=[where],
                              help="create missing keys, or rotate one")
    sub.add_argument("action", nargs="?", choices=KEY_ACTIONS,
                     help="rotate-log: new log signing key; rotate-master: new master key "
                          "(stop the servers first)")
    sub.set_defaults(handler=run_keys)
    sub = commands.add_parser("migrate", parents=[where],
                              help="create every table (once, at deploy time)")
    sub.set_defaults(handler=run_migrate)
    sub = commands.add_parser("backup", parents=[where],
                              help="copy the database consistently while it is in use")
    sub.add_argument("file", metavar="FILE")
    sub.set_defaults(handler=run_backup)
    sub = commands.add_parser("restore", parents=[where],
                              help="put a backup in place, then verify it")
    sub.add_argument("file", metavar="FILE")
    sub.add_argument("--replace", action="store_true",
                     help="SQLite: replace the existing file (stop every process using "
                          "it first)")
    sub.add_argument("--checkpoint", metavar="KEPT",
                     help="a checkpoint kept from before the backup: the restored history "
                          "must extend it")
    sub.set_defaults(handler=run_restore)


def ensure_keys(keys: KeyDirectory) -> list[str]:
    """Create missing keys and say which; returns their names."""
    created = keys.ensure()
    for name in created:
        path = keys.path / name
        print(f"created key {path} (mode {stat.S_IMODE(path.stat().st_mode):04o})")
    return created


def run_keys(args: argparse.Namespace, settings: Settings) -> int:
    """``keys``: create what is missing, say what was created; or rotate one key."""
    keys = settings.key_directory()
    if args.action == "rotate-log":
        return rotate_log_key(keys, settings)
    if args.action == "rotate-master":
        return rotate_master_key(keys, settings)
    if not ensure_keys(keys):
        print(f"all keys present in {keys.path}; nothing created")
    return 0


def rotate_log_key(keys: KeyDirectory, settings: Settings) -> int:
    """New log key under the same name; the old one vouches for it, then is retired."""
    old = keys.log_signer()
    successor, skey = keys.fresh_log_signer(old.name)
    bank = TimeBank(settings.database, None, log_signer=old)
    try:
        # Order matters: the database gets the co-signed checkpoint while both
        # keys exist; only then are the key files replaced (old secret gone).
        handover = bank.audit_log.hand_over(successor)
    finally:
        bank.close()
    keys.install_log_key(skey)
    print(f"new log key in {keys.path / 'log.key'}; verifier key (publish it):")
    print(keys.log_vkey())
    print(f"the old verifier key is kept in {keys.path / 'log-retired.vkeys'}")
    print("checkpoint signed by the old and the new key (publish it with the new key):")
    print(handover, end="")
    print("restart the servers (SIGHUP) so that they sign with the new key")
    return 0


def rotate_master_key(keys: KeyDirectory, settings: Settings) -> int:
    """Re-wrap every member's data key under a new master key, in one transaction."""
    new = keys.next_master_key()  # kept on disk before the database depends on it
    bank = TimeBank(settings.database, keys.master_key())
    try:
        changed = bank.personal.rewrap(new)
    finally:
        bank.close()
    retired = keys.install_master_key()
    print(f"re-wrapped {changed} member data key(s) under the new {keys.path / 'master.key'}")
    print(f"the old master key is kept in {retired}: backups made before now need it; "
          "destroy it when the last of them expires")
    return 0


def run_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """``migrate``: create every missing table and exit (safe to run again)."""
    database = replace(settings, create_tables=True).database
    bank = TimeBank(database, None)
    try:
        create_all_tables(bank)
        missing = missing_tables(bank)
    finally:
        bank.close()
    if missing:
        print(f"civic-ledger: tables still missing after migrate: {', '.join(missing)}",
              file=sys.stderr)
        return 1
    print(f"every table is in place ({database.backend})")
    return 0


def run_backup(args: argparse.Namespace, settings: Settings) -> int:
    """``backup FILE``: one consistent copy, then say how to check it."""
    database = settings.database
    target = Path(args.file)
    back_up(database, target)
    print(f"backed up the {database.backend} database to {target}")
    if database.backend == "sqlite":
        print(f"check it with: civic-ledger verify --database sqlite:///{target.resolve()} "
              f"--keys {settings.key_directory().path}")
    else:
        print(f"restore it into an empty database with: civic-ledger restore {target} "
              "--database URL (it verifies what it restored)")
    return 0


def run_restore(args: argparse.Namespace, settings: Settings) -> int:
    """``restore FILE``: the backup in place, then ``verify`` on it (exit 0 only
    when it verifies; 2 when refused, with nothing changed)."""
    database = settings.database
    try:
        restore(Path(args.file), database, replace=args.replace)
    except RestoreRefused as refused:
        print(f"civic-ledger: {refused}", file=sys.stderr)
        return 2
    print(f"restored {args.file} into the {database.backend} database; verifying it")
    kept = Path(args.checkpoint).read_text() if args.checkpoint else None
    return verify_database(settings, None, kept)
