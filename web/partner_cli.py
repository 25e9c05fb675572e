"""``civic-ledger partner ...``: what a partner organisation runs on its own machine.

``keygen`` makes an Ed25519 key pair (the private key stays in a 0600 PEM file;
the public key and its id are printed for the time bank's administrator to
register). ``post`` signs and sends a CSV file of service records and prints
one line per row. ``confirm-due`` is the operator's side: it confirms pending
partner credits whose confirmation window has passed (run it from cron, like
``civic-ledger expire``).

Why ``post`` derives its Idempotency-Key from the organisation, the mode and
the file's bytes: running the same command again after a crash or a lost
connection is then a safe retry — the server answers with the stored result
instead of posting twice. Replays are honoured for 24 hours; after that the
same file needs ``--idempotency-key`` (its rows' ids still make each row land
once).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from ledger.config import Settings, open_bank
from ledger.partner_credits import AUTO_CONFIRM_AFTER, PartnerCredits
from web.partner_client import (
    PartnerClient,
    PartnerUnavailable,
    default_key_id,
    generate_key,
    load_private_key,
    public_key_of,
)


def register(commands: Any, where: argparse.ArgumentParser) -> None:
    """Add the ``partner`` command group to the ``civic-ledger`` parser."""
    group = commands.add_parser("partner", help="partner organisations: keys, signed "
                                "CSV postings, confirmations")
    verbs = group.add_subparsers(dest="partner_command", required=True, metavar="ACTION")
    sub = verbs.add_parser("keygen", help="make an Ed25519 signing key")
    sub.add_argument("--out", default="partner-key.pem", metavar="FILE",
                     help="where to write the private key (mode 0600; never overwritten)")
    sub.set_defaults(handler=run_keygen, database=None, keys=None)
    sub = verbs.add_parser("post", help="sign and post a CSV file of service records")
    sub.add_argument("file", type=Path, metavar="FILE.csv")
    sub.add_argument("--url", required=True, help="the ledger, e.g. https://ledger.example")
    sub.add_argument("--key", required=True, type=Path, metavar="KEYFILE",
                     help="the private key PEM written by keygen")
    sub.add_argument("--org", required=True, type=UUID, help="your organisation's id")
    sub.add_argument("--key-id", help="the registered key id (default: derived from the key)")
    sub.add_argument("--mode", choices=["atomic", "per-item"], default="atomic")
    sub.add_argument("--idempotency-key", help="default: derived from org, mode and file")
    sub.set_defaults(handler=run_post, database=None, keys=None)
    sub = verbs.add_parser("confirm-due", parents=[where],
                           help="confirm pending partner credits past their window")
    sub.add_argument("--after-days", type=float,
                     default=AUTO_CONFIRM_AFTER.total_seconds() / 86400,
                     help="the confirmation window in days (default 7)")
    sub.set_defaults(handler=run_confirm_due)


def run_keygen(args: argparse.Namespace, settings: Settings) -> int:
    """``partner keygen``: write the private key, print the public key and its id."""
    pem, public_key = generate_key()
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(pem)
    key_id = default_key_id(public_key)
    print(f"private key written to {args.out} (keep it secret)")
    print(f"key id:     {key_id}\npublic key: {public_key}")
    print(f'register it: POST /v1/partners/<org>/keys {{"key_id": "{key_id}", '
          f'"public_key": "{public_key}"}}')
    return 0


def run_post(args: argparse.Namespace, settings: Settings) -> int:
    """``partner post``: one signed request, retried safely; a line per row."""
    body = args.file.read_bytes()
    private = load_private_key(args.key.read_bytes())
    key = args.idempotency_key or "csv-" + hashlib.sha256(
        f"{args.org}\n{args.mode}\n".encode() + body).hexdigest()[:40]
    client = PartnerClient(args.url, args.org, private,
                           args.key_id or default_key_id(public_key_of(private)))
    try:
        answer = client.post_csv(body, mode=args.mode, idempotency_key=key)
    except PartnerUnavailable as error:
        print(f"civic-ledger: {error}", file=sys.stderr)
        return 1
    document = answer.body if isinstance(answer.body, dict) else {}
    for line in result_lines(document):
        print(line)
    replay = " (a replay of the first answer)" if answer.replayed else ""
    print(f"HTTP {answer.status} after {answer.attempts} attempt(s), Idempotency-Key "
          f"{key}{replay}")
    if answer.status != 200:
        print(f"civic-ledger: {document.get('rule')}: {document.get('detail')}",
              file=sys.stderr)
        return 1
    return 0 if not document.get("refused") else 1


def result_lines(document: dict[str, Any]) -> list[str]:
    """One line per row of a batch answer (or of an atomic batch's refusal)."""
    lines = []
    for row in document.get("results") or []:
        if row["outcome"] == "refused":
            lines.append(f"row {row['row']}: refused {row['rule']} [{row['field']}]: "
                         f"{row['detail']}")
        else:
            state = f" ({row['state']})" if row.get("state") else ""
            lines.append(f"row {row['row']}: {row['outcome']} {row['id']}{state}")
    if "created" in document:
        lines.append(f"{document['rows']} rows: {document['created']} created, "
                     f"{document['exists']} already there, {document['refused']} refused")
    return lines


def run_confirm_due(args: argparse.Namespace, settings: Settings) -> int:
    """``partner confirm-due``: one auto-confirmation sweep."""
    bank = open_bank(settings)
    try:
        credits = PartnerCredits(bank, dt.timedelta(days=args.after_days))
        confirmed = credits.auto_confirm()
    finally:
        bank.close()
    for transfer_id in confirmed:
        print(f"confirmed {transfer_id}")
    print(f"{len(confirmed)} pending partner credit(s) confirmed")
    return 0
