"""The auditors' and operators' commands: export, verify, project, rebuild.

``export`` writes an offline bundle; ``verify FILE --key VKEY`` checks one with
only the verifier key (and a checkpoint the auditor kept); ``verify
--database URL`` checks a live database against its own log and names each
finding. ``project`` runs the read-model worker; ``rebuild`` folds every read
model again from zero and says how many events it replayed. None of these
needs the master key: auditors never see personal data.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ledger.application import TimeBank
from ledger.audit import verify_live
from ledger.bundles import export_bundle, verify_bundle
from ledger.config import Settings
from ledger.keys import KeyMissing
from projections.queries import ReadModels
from web.tables import require_tables


def register(commands: Any, where: argparse.ArgumentParser) -> None:
    """Add the four subcommands to the ``civic-ledger`` parser."""
    sub = commands.add_parser("export", parents=[where], help="write an audit bundle")
    sub.add_argument("--out", required=True, metavar="FILE")
    sub.set_defaults(handler=run_export)
    sub = commands.add_parser("verify", parents=[where],
                              help="verify a bundle, or a live database with --database")
    sub.add_argument("bundle", nargs="?", metavar="FILE")
    sub.add_argument("--key", metavar="VKEYFILE", action="append",
                     help="the log's verifier key (C2SP vkey); repeat it, or give a file "
                          "of several lines, to trust keys from before a rotation too")
    sub.add_argument("--checkpoint", metavar="FILE",
                     help="a checkpoint you kept from before (must be a prefix)")
    sub.set_defaults(handler=run_verify)
    sub = commands.add_parser("project", parents=[where],
                              help="run the read-model worker (follows the log)")
    sub.set_defaults(handler=run_project)
    sub = commands.add_parser("rebuild", parents=[where],
                              help="rebuild every read model from zero")
    sub.set_defaults(handler=run_rebuild)


def open_for_audit(settings: Settings) -> TimeBank:
    """The ledger without the master key, with the log key when it is there."""
    keys = settings.key_directory()
    try:
        signer = keys.log_signer()
    except KeyMissing:
        signer = None
    return TimeBank(settings.database, None, log_signer=signer)


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write the bundle (streamed: memory stays flat however long the log)."""
    bank = TimeBank(settings.database, None, log_signer=settings.key_directory().log_signer())
    try:
        with open(args.out, "wb") as out:
            size = export_bundle(bank.audit_log, out)
    finally:
        bank.close()
    print(f"wrote {args.out}: {size} entries up to a freshly signed checkpoint")
    return 0


def run_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 only when every check holds."""
    kept = Path(args.checkpoint).read_text() if args.checkpoint else None
    vkey = [line.strip() for name in args.key or () for line in
            Path(name).read_text().splitlines() if line.strip()] or None
    if args.bundle is None:
        return verify_database(settings, vkey, kept)
    if vkey is None:
        print("civic-ledger: verify FILE needs --key VKEYFILE (the key you trust, not "
              "the one inside the bundle)", file=sys.stderr)
        return 2
    with open(args.bundle, "rb") as stream:
        report = verify_bundle(stream, vkey, kept)
    print(f"bundle {args.bundle}: origin {report.origin!r}, {report.size} entries")
    print(f"root {report.root.hex() if report.root else '-'}")
    for account, minutes in sorted(report.balances.posted.items(), key=lambda kv: str(kv[0])):
        pending = (report.balances.pending_in.get(account, 0),
                   report.balances.pending_out.get(account, 0))
        print(f"  {account}  balance {minutes:>8}  pending in {pending[0]:>6}  "
              f"out {pending[1]:>6}")
    for finding in report.findings:
        print(f"FINDING {finding}")
    print("OK: the history is complete and consistent" if report.ok else
          f"FAILED: {len(report.findings)} finding(s)")
    return 0 if report.ok else 1


def verify_database(settings: Settings, vkey: list[str] | None, kept: str | None) -> int:
    """``verify`` of the database itself: every event against its leaf, the log
    against its latest checkpoint (and ``kept``, when given); prints a finding a
    line and returns 0 only when there is none."""
    bank = open_for_audit(settings)
    try:
        findings = verify_live(bank.audit_log, vkey=vkey, kept_checkpoint=kept)
        size = bank.audit_log.size()
    finally:
        bank.close()
    print(f"database {settings.database.backend}: {size} leaves")
    for finding in findings:
        print(f"FINDING {finding}")
    print("OK: every event matches its leaf" if not findings else
          f"FAILED: {len(findings)} finding(s)")
    return 0 if not findings else 1


def run_project(args: argparse.Namespace, settings: Settings) -> int:
    """Follow the log until SIGTERM or Ctrl-C."""
    bank = open_for_audit(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        require_tables(bank)  # a worker of a deployment that migrated runs no DDL
        models = ReadModels(bank)
        print(f"projecting {', '.join(models.projector.projections)} "
              f"({settings.database.backend}); lag {models.lag()}", flush=True)
        models.projector.follow(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        bank.close()
    return 0


def run_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Empty every read model and fold the whole log again."""
    bank = open_for_audit(settings)
    try:
        replayed = ReadModels(bank).projector.rebuild()
    finally:
        bank.close()
    print(f"rebuilt the read models from zero: replayed {replayed} events")
    return 0
