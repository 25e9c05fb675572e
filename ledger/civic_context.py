"""What every civic-records command shares: the community's clock, sealed texts, party details.

**Local time.** Conventions and mediation count calendar days (a meeting's
date, a check-in's day, the day an agreement took effect and the 30-day window
after it), and those are the community's days, not UTC's. The service hands
the domain the ledger clock's "now" converted to the community's time zone, a
configuration value (:data:`DEFAULT_TIMEZONE`, ``+08:00``; ``UTC``, another
``±HH:MM`` or an IANA name are accepted). Events still store UTC instants.

**Sealed free text.** A case's facts, disputed matters, agreement text, visit
notes, breach descriptions and failure/closing reasons are written by people
about people and may name them. They never enter the permanent log in the
clear: each is encrypted with a data key of its *case* (``bank.personal``,
keyed by the case id, so erasing that one key erases every text of the case
without touching the log) and stored as ``sealed:v1:<digest>:<ciphertext>``.
``<digest>`` is the SHA-256 of the plain UTF-8 text for an agreement (what a
court checks a printed copy against) and empty for every other text, so that a
short note cannot be confirmed by guessing after erasure. The plain text is
compressed before encryption so that the domain's length limits (which apply
to what is stored) leave room for about 5,000 Chinese characters of agreement.

**Non-member parties.** Their personal details are encrypted per person like
a member's profile (``bank.personal`` keyed by the party id) and kept outside
the log in the ``civic_party_details`` side table; the case records only a
reference: ``party-details:v1:<SHA-256 of the ciphertext>``, which pins the
exact ciphertext meant. Erasing the person's key makes the details unreadable.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import zlib
import zoneinfo
from typing import Any
from uuid import UUID

from domain.agreements import bounded_text, sha256_hex
from eventsourcing.persistence import PersistenceError

from domain.errors import DomainError
from ledger.application import TimeBank
from ledger.personal import PersonalData
from ledger.storage import SideStore

DEFAULT_TIMEZONE = "+08:00"
SEALED = "sealed:v1:"
PARTY_REF = "party-details:v1:"
_OFFSET = re.compile(r"([+-])([01]\d|2[0-3]):([0-5]\d)")


def parse_timezone(value: str | None) -> dt.tzinfo:
    """``UTC``, ``±HH:MM`` or an IANA zone name (ValueError naming the value otherwise)."""
    value = (value or DEFAULT_TIMEZONE).strip()
    if value.upper() in ("UTC", "Z"):
        return dt.UTC
    offset = _OFFSET.fullmatch(value)
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        return dt.timezone(sign * dt.timedelta(hours=int(offset.group(2)),
                                               minutes=int(offset.group(3))))
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown community time zone {value!r}; use UTC, +08:00 or a "
                         "name such as Asia/Shanghai") from None


def is_sealed(value: object) -> bool:
    """True for a sealed text."""
    return isinstance(value, str) and value.startswith(SEALED)


def sealed_digest(value: str) -> str | None:
    """The plain text's SHA-256 a sealed agreement text carries (None for other texts)."""
    if not is_sealed(value):
        return sha256_hex(value)
    digest = value[len(SEALED):].split(":", 1)[0]
    return digest or None


def open_sealed(personal: PersonalData, owner: UUID, value: str | None) -> str | None:
    """The plain text, or None when the owner's key was erased (or there is none)."""
    if value is None or not is_sealed(value):
        return value
    cipher = value[len(SEALED):].split(":", 1)[1]
    fields = personal.decrypt(owner, cipher)
    if fields is None:
        return None
    return zlib.decompress(base64.b64decode(fields["z"])).decode("utf-8")


class PartyDetails:
    """Non-member parties' encrypted personal details, outside the log."""

    def __init__(self, bank: TimeBank) -> None:
        self._personal = bank.personal
        self._store = SideStore(bank.datastore, bank.database.backend,
                                bank.database.pg_schema, bank.reads)
        self._table = self._store.table("civic_party_details")

    def create_tables(self) -> None:
        """Create the side table if missing.

        Server workers may do this at the same moment; on PostgreSQL the loser of
        that race gets an error although the table now exists, so it tries once more.
        """
        for attempt in (1, 2):
            try:
                with self._store.transaction() as cur:
                    cur.execute(f"CREATE TABLE IF NOT EXISTS {self._table} (ref TEXT "
                                "PRIMARY KEY, party_id TEXT NOT NULL, ciphertext TEXT "
                                "NOT NULL)")
                return
            except PersistenceError:
                if attempt == 2:
                    raise

    def store(self, party_id: UUID, details: dict[str, Any]) -> str:
        """Encrypt ``details`` under the party's own key; the reference the case keeps."""
        cipher = self._personal.encrypt(party_id, details)
        ref = PARTY_REF + hashlib.sha256(cipher.encode()).hexdigest()
        with self._store.transaction() as cur:
            cur.execute(f"INSERT INTO {self._table} (ref, party_id, ciphertext) "
                        "VALUES (?, ?, ?) ON CONFLICT (ref) DO NOTHING",
                        (ref, str(party_id), cipher))
        return ref

    def read(self, party_id: UUID, ref: str) -> dict[str, Any] | None:
        """The details, or None once the party's key was erased."""
        with self._store.transaction() as cur:
            cur.execute(f"SELECT party_id, ciphertext FROM {self._table} WHERE ref = ?",
                        (ref,))
            row = cur.fetchone()
        if row is None or row["party_id"] != str(party_id) or PARTY_REF + hashlib.sha256(
                row["ciphertext"].encode()).hexdigest() != ref:
            raise RuntimeError(f"the details {ref} of party {party_id} are missing or do "
                               "not match the case record")
        return self._personal.decrypt(party_id, row["ciphertext"])

    def erase(self, party_id: UUID) -> bool:
        """Destroy the party's data key; True when one existed."""
        return self._personal.erase(party_id)


class CivicContext:
    """The time bank, the community's time zone, sealing and party details."""

    def __init__(self, bank: TimeBank, timezone: dt.tzinfo) -> None:
        self.bank = bank
        self.timezone = timezone
        self.parties = PartyDetails(bank)

    def now(self) -> dt.datetime:
        """The ledger clock's now, in the community's time zone."""
        return self.bank.clock().astimezone(self.timezone)

    def today(self) -> dt.date:
        """Today in the community."""
        return self.now().date()

    def local(self, at: dt.datetime | None) -> dt.datetime:
        """``at`` (or now) in the community's time zone."""
        return self.now() if at is None else at.astimezone(self.timezone)

    def seal(self, owner: UUID, text: object, *, field: str, limit: int,
             digest: bool = False) -> str:
        """``text`` sealed under ``owner``'s key; refused when it will not fit ``limit``."""
        plain = bounded_text(text, field, limit)
        packed = base64.b64encode(zlib.compress(plain.encode("utf-8"), 9)).decode("ascii")
        cipher = self.bank.personal.encrypt(owner, {"z": packed})
        sealed = f"{SEALED}{sha256_hex(plain) if digest else ''}:{cipher}"
        if len(sealed) > limit:
            raise DomainError(f"{field} is too long to be stored encrypted ({len(sealed)} "
                              f"characters once sealed, at most {limit}); shorten it",
                              field=field, rule="text_too_long")
        return sealed

    def open(self, owner: UUID, value: str | None) -> str | None:
        """A sealed text opened (None once erased)."""
        return open_sealed(self.bank.personal, owner, value)
