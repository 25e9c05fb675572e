"""Civic records: residents' conventions with pledges, and people's mediation cases.

:class:`CivicRecords` is the service over a :class:`~ledger.application.TimeBank`
that the edges call. It speaks primitives and follows the time bank's habits:
every command loads the aggregates it touches, lets the pure domain
(``domain.conventions``, ``domain.mediation``, ``domain.agreements``) decide,
and saves them in one atomic ``bank._commit``, retried from a fresh load when a
concurrent writer wins (``bank._retrying``); every result carries the
``log_indexes`` its events got in the verifiable log.

Three decisions, explained where they are implemented (``ledger.civic_context``):

- calendar days are the community's: commands pass the domain the ledger
  clock's time in the community's time zone (configuration, default ``+08:00``);
- free text about people in a mediation case is sealed with a per-case key
  (only ciphertext, and for an agreement the SHA-256 of its text, enter the
  log), so erasing that key erases the texts without breaking the log;
- non-member parties' details are encrypted per person, like members', and
  kept outside the log under a reference the case records.

Conventions (``conventions``) and cases (``cases``) are separate services
sharing one :class:`~ledger.civic_context.CivicContext`.
"""

from __future__ import annotations

import datetime as dt

from ledger.application import TimeBank
from ledger.civic_cases import CaseRecords
from ledger.civic_context import DEFAULT_TIMEZONE, CivicContext, parse_timezone
from ledger.civic_conventions import ConventionRecords

__all__ = ["DEFAULT_TIMEZONE", "CivicRecords", "parse_timezone"]


class CivicRecords:
    """Conventions, pledges and mediation cases over one time bank."""

    def __init__(self, bank: TimeBank, timezone: dt.tzinfo | str | None = None) -> None:
        zone = timezone if isinstance(timezone, dt.tzinfo) else parse_timezone(timezone)
        self.context = CivicContext(bank, zone)
        if bank.database.create_tables:  # else made at deploy time (civic-ledger migrate)
            self.context.parties.create_tables()
        self.conventions = ConventionRecords(self.context)
        self.cases = CaseRecords(self.context)

    @property
    def timezone(self) -> dt.tzinfo:
        """The community's time zone."""
        return self.context.timezone

    def today(self) -> dt.date:
        """Today in the community (by the ledger's clock)."""
        return self.context.today()
