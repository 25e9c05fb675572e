"""The ``civic-ledger`` command: serve, demo, token, expire (and more).

Other edges register their own subcommands here (``web.ops_cli``: keys, migrate,
backup, restore; ``web.partner_cli``; ``web.audit_cli``).

Why one small argparse program: an operator needs a few verbs and no extra
dependency. Settings are read once here (flags first, then
``CIVIC_LEDGER_DATABASE_URL`` / ``CIVIC_LEDGER_KEYS_DIR``, then defaults) and
passed explicitly. A user's mistake (a malformed URL, missing keys, an
unreachable database) prints one line on stderr and exits non-zero; it never
shows a traceback. ``serve`` creates the tables in the master process (or,
with ``--no-create-tables`` / ``CIVIC_LEDGER_CREATE_TABLES=0``, checks that
``migrate`` made them), closes that connection, and only then lets gunicorn
fork its workers; each worker opens the ledger with the same settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

from eventsourcing.persistence import PersistenceError
from flask import Flask

from domain.errors import LedgerError
from ledger.application import TimeBank
from ledger.config import ConfigError, Settings, open_bank
from ledger.demo import (
    COMMUNITY_NAME,
    demo_exists,
    demo_partner_key,
    issue_demo_tokens,
    seed_demo,
)
from ledger.keys import KeyMissing
from ledger.tokens import Role
from projections.queries import ReadModels
from web import audit_cli, ops_cli, partner_cli
from web.app import create_app
from web.ops_cli import ensure_keys
from web.server import LedgerServer, bind_address, server_options
from web.tables import prepare_tables

CREDENTIALS_FILE = "demo-credentials.json"
SUBJECT_KINDS = {Role.PARTNER: "organisation", Role.MEMBER: "member"}


class UsageError(Exception):
    """A command-line mistake the message explains; exit status 2."""


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one subcommand; returns the exit status."""
    args = build_parser().parse_args(argv)
    env = os.environ if env is None else env
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    try:
        settings = checked_settings(args, env)
    except (ConfigError, UsageError) as error:
        return _fail(str(error), 2)
    try:
        return handler(args, settings)
    except (ConfigError, KeyMissing, UsageError) as error:
        return _fail(str(error), 2)
    except PersistenceError as error:
        return _fail(f"cannot use the database {shown_url(settings.database_url)}: "
                     f"{error}", 1)
    except LedgerError as error:
        return _fail(error.detail, 1)
    except (OSError, ValueError) as error:
        return _fail(str(error), 1)


def checked_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """Flags over environment over defaults; the URL is parsed before anything runs."""
    settings = Settings.from_env(env, database_url=args.database, keys_dir=args.keys,
                                 create_tables=getattr(args, "create_tables", None))
    if settings.database.backend == "memory":
        raise UsageError("memory:// keeps nothing between commands (and each server "
                         "worker would have its own); use sqlite:///PATH or postgresql://")
    return settings


def shown_url(url: str) -> str:
    """The URL without its password, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _fail(message: str, status: int) -> int:
    print(f"civic-ledger: {message}", file=sys.stderr)
    return status


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="civic-ledger", description="Civic Ledger time bank: operate the service.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--database", metavar="URL",
                       help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB "
                            "(default: $CIVIC_LEDGER_DATABASE_URL or "
                            "sqlite:///civic-ledger.sqlite)")
    where.add_argument("--keys", metavar="DIR",
                       help="keys directory (default: $CIVIC_LEDGER_KEYS_DIR or keys/ "
                            "beside a SQLite file)")
    where.add_argument("--no-create-tables", dest="create_tables", action="store_false",
                       default=None, help="run no DDL: the tables were made at deploy "
                       "time by `civic-ledger migrate` (default: $CIVIC_LEDGER_CREATE_TABLES"
                       " or 1)")
    ops_cli.register(commands, where)  # keys [rotate-...] | migrate | backup | restore
    sub = commands.add_parser("serve", parents=[where], help="run the HTTP API (gunicorn)")
    sub.add_argument("--host", default="127.0.0.1")
    sub.add_argument("--port", type=int, default=8000)
    sub.add_argument("--workers", type=_at_least(1), default=2,
                     help="processes (about one per core)")
    sub.add_argument("--threads", type=_at_least(1), default=4,
                     help="requests each process serves at once")
    sub.add_argument("--expiry-sweep", type=_at_least(0), default=3600, metavar="SECONDS",
                     help="void expired pending credits this often in each worker "
                          "(0: never; then run `civic-ledger expire` from cron)")
    sub.add_argument("--demo", action="store_true",
                     help="create missing keys and seed the demo community on first start")
    sub.add_argument("--credentials", metavar="FILE", help="demo credentials file "
                     f"(default: {CREDENTIALS_FILE} beside the database)")
    sub.set_defaults(handler=run_serve)
    sub = commands.add_parser("demo", parents=[where], help="seed the demo community")
    sub.add_argument("--credentials", metavar="FILE", help="where to write the tokens "
                     f"(default: {CREDENTIALS_FILE} beside the database)")
    sub.set_defaults(handler=run_demo)
    sub = commands.add_parser("token", parents=[where], help="issue an API token")
    sub.add_argument("--role", required=True, choices=[r.value for r in Role])
    sub.add_argument("--subject", type=UUID, metavar="ID",
                     help="account the token acts for (partner: organisation, member: member)")
    sub.set_defaults(handler=run_token)
    sub = commands.add_parser("expire", parents=[where], help="void expired pending credits")
    sub.set_defaults(handler=run_expire)
    partner_cli.register(commands, where)  # partner keygen | post | confirm-due
    audit_cli.register(commands, where)  # export | verify | project | rebuild
    return parser


def _at_least(minimum: int) -> Callable[[str], int]:
    def whole(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value
    return whole


# -- subcommands --------------------------------------------------------------------


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    """``demo``: seed (idempotently) and write fresh credentials."""
    ensure_keys(settings.key_directory())
    path = credentials_path(args.credentials, settings)
    bank = open_bank(settings)
    try:
        demo = seed_demo(bank)
        document = demo.credentials(issue_demo_tokens(bank, demo), demo_partner_key(
            bank, demo, settings.key_directory().master_key()))
    finally:
        bank.close()
    write_credentials(path, document)
    print(f"demo community {COMMUNITY_NAME!r} ({demo.community}) is in "
          f"{shown_url(settings.database_url)}")
    print(f"credentials written to {path}")
    return 0


def run_token(args: argparse.Namespace, settings: Settings) -> int:
    """``token``: issue one token and print it (shown once)."""
    role = Role(args.role)
    bank = open_bank(settings)
    try:
        _check_subject(bank, role, args.subject)
        token, principal = bank.tokens.issue(role, args.subject)
    finally:
        bank.close()
    print(token)
    print(f"issued {role.value} token {principal.token_id}; it is shown only once",
          file=sys.stderr)
    return 0


def _check_subject(bank: TimeBank, role: Role, subject: UUID | None) -> None:
    kind = SUBJECT_KINDS.get(role)
    if kind is None:
        if subject is not None:
            raise UsageError(f"a {role.value} token is not bound to an account; "
                             "drop --subject")
        return
    if subject is None:
        raise UsageError(f"a {role.value} token needs --subject (the {kind} account id)")
    actual = bank.account(subject).kind
    if actual != kind:
        raise UsageError(f"a {role.value} token needs a subject of kind {kind}; "
                         f"{subject} is of kind {actual}")


def run_expire(args: argparse.Namespace, settings: Settings) -> int:
    """``expire``: one expiry sweep."""
    bank = open_bank(settings)
    try:
        voided = ReadModels(bank).expire_pending()
    finally:
        bank.close()
    for transfer_id in voided:
        print(f"voided {transfer_id}")
    print(f"{len(voided)} expired pending credit(s) voided")
    return 0


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    """``serve``: prepare the store in this process, then hand over to gunicorn."""
    keys = settings.key_directory()
    if args.demo:
        ensure_keys(keys)
    bank = open_bank(settings)
    try:
        # Every table a worker's app would create, made once here before the fork
        # (concurrent CREATE TABLE IF NOT EXISTS race on PostgreSQL), or checked.
        prepare_tables(bank)
        document = prepare_demo(bank, args, settings) if args.demo else None
    finally:
        bank.close()
    if document is not None:
        print_demo(document, args.host, args.port)
    sys.stdout.flush()
    app_config = {"DATABASE_URL": settings.database_url, "KEYS_DIR": str(keys.path),
                  "EXPIRY_SWEEP_SECONDS": args.expiry_sweep}
    LedgerServer(partial(worker_app, settings), app_config,
                 server_options(args.host, args.port, args.workers, args.threads)).run()
    return 0


def worker_app(settings: Settings, config: Mapping[str, Any]) -> Flask:
    """The app of one server worker, over the settings this command read."""
    return create_app({**config, "LEDGER": open_bank(settings)})


# -- the demo's credentials -----------------------------------------------------------


def credentials_path(given: str | None, settings: Settings) -> Path:
    """``--credentials``, else beside the SQLite file, else in the working directory."""
    if given:
        return Path(given)
    sqlite_file = settings.database.sqlite_file
    return (sqlite_file.resolve().parent if sqlite_file else Path.cwd()) / CREDENTIALS_FILE


def write_credentials(path: Path, document: Mapping[str, Any]) -> None:
    """Write the tokens owner-only (0600): they are bearer secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")


def prepare_demo(bank: TimeBank, args: argparse.Namespace,
                 settings: Settings) -> dict[str, Any]:
    """Seed on first start only; keep the credentials file while its tokens work."""
    path = credentials_path(args.credentials, settings)
    if demo_exists(bank):
        print(f"demo community already in {shown_url(settings.database_url)}; "
              "not seeding again")
        kept = _still_valid(bank, path)
        if kept is not None:
            print(f"credentials unchanged in {path}")
            return kept
    else:
        print(f"seeding the demo community into {shown_url(settings.database_url)}")
    demo = seed_demo(bank)
    document = demo.credentials(issue_demo_tokens(bank, demo), demo_partner_key(
        bank, demo, settings.key_directory().master_key()))
    write_credentials(path, document)
    print(f"credentials written to {path}")
    return document


def _still_valid(bank: TimeBank, path: Path) -> dict[str, Any] | None:
    try:
        document: dict[str, Any] = json.loads(path.read_text())
        tokens = dict(document["tokens"])
        dict(document["partner_key"])  # a file from before partner keys: write a new one
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if all(bank.tokens.authenticate(str(t)) is not None for t in tokens.values()):
        return document
    return None


def print_demo(document: Mapping[str, Any], host: str, port: int) -> None:
    """The demo tokens and a few requests to try."""
    tokens, accounts = document["tokens"], document["accounts"]
    base = f"http://{bind_address(host, port)}"
    member, organisation = accounts["members"][0], accounts["organisations"][0]
    print("\nDemo tokens (bearer):")
    for role, token in tokens.items():
        print(f"  {role:<8} {token}")
    print(f"\nmember account {member}; partner organisation {organisation}\n\nTry:")
    for line in example_requests(base, tokens, member, organisation):
        print(f"  {line}")
    print()


def example_requests(base: str, tokens: Mapping[str, str], member: str,
                     organisation: str) -> list[str]:
    """Shell lines: a balance read, a credit with a fresh id, the history."""
    member_auth = f"-H 'Authorization: Bearer {tokens['member']}'"
    partner_auth = f"-H 'Authorization: Bearer {tokens['partner']}'"
    credit = {"id": "$ID", "payer": organisation, "volunteer": member, "minutes": 60,
              "category": "errands", "service_date": "$(date +%F)"}
    body = json.dumps(credit).replace('"', '\\"')  # inside "...": the shell fills $ID
    return [f"curl -s {member_auth} {base}/v1/accounts/{member}",
            "ID=$(python3 -c 'import uuid; print(uuid.uuid4())')",
            f"curl -s {partner_auth} -H 'Content-Type: application/json' "
            f'-d "{body}" {base}/v1/credits',
            f"curl -s {member_auth} {base}/v1/accounts/{member}/history"]


if __name__ == "__main__":
    sys.exit(main())
