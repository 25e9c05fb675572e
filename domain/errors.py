"""The one error tree of Civic Ledger.

Every refusal the system can give is a subclass of :class:`LedgerError`. Each
carries a machine-readable ``rule`` (a stable slug that clients may script
against), the offending ``field`` (or ``None`` when no single field is at fault)
and a human ``detail``. The web layer maps these classes to HTTP statuses in
exactly one table (``web/problems.py``); nothing else knows about HTTP.

    LedgerError
    ├── DomainError                a business rule refused the command
    │   ├── InvalidAmount          minutes not a positive whole number
    │   ├── LimitExceeded          a balance limit would be crossed
    │   │   ├── InsufficientBalance    payer below its minimum / budget
    │   │   ├── StorageCapExceeded     member above the storage cap
    │   │   ├── DailyCapExceeded       volunteer above the per-day earning cap
    │   │   └── RecordTooLong          one record above the per-record maximum
    │   ├── WrongAccountKind       account kind not allowed for this transfer kind
    │   ├── CrossCommunity         accounts of different communities
    │   ├── InvalidTransition      e.g. confirming a voided credit
    │   ├── PendingExpired         confirming a pending credit after its expiry
    │   ├── AccountErased          movement on an erased member's account
    │   └── InvalidRules           a community rule value is out of range
    ├── NotFound                   no such community / account / transfer
    ├── IdempotencyConflict        same id, different payload
    ├── Unauthenticated            missing or unknown credentials
    ├── Forbidden                  the principal may not do this
    ├── Unavailable                storage busy beyond the retry budget
    ├── LogRangeError              a log index or tree size outside the log
    ├── LogIntegrityError          the stored log no longer matches itself or a
    │                              signed checkpoint (run ``civic-ledger verify``)
    ├── ProjectionStopped          a read model stopped at a failing event
    └── partners (appended, see below): SignatureRefused, IdempotencyKeyMissing,
        IdempotencyInFlight, IdempotencyKeyExpired, BatchRefused
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every refusal; ``rule`` and ``field`` name what was broken."""

    rule: str = "ledger_error"

    def __init__(self, detail: str, *, field: str | None = None, rule: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        if rule is not None:
            self.rule = rule


class DomainError(LedgerError):
    """A business rule refused the command; nothing was written."""

    rule = "domain_rule"


class InvalidAmount(DomainError):
    """Minutes must be a positive whole number."""

    rule = "minutes_positive_integer"


class LimitExceeded(DomainError):
    """A balance limit would be crossed."""

    rule = "limit_exceeded"


class InsufficientBalance(LimitExceeded):
    """The paying account would fall below its minimum balance or budget."""

    rule = "minimum_balance"


class StorageCapExceeded(LimitExceeded):
    """The member would hold more than the community's storage cap."""

    rule = "storage_cap"


class DailyCapExceeded(LimitExceeded):
    """The volunteer would earn more than the per-day cap on that service date."""

    rule = "daily_earning_cap"


class RecordTooLong(LimitExceeded):
    """One service record is longer than the per-record maximum."""

    rule = "max_minutes_per_record"


class WrongAccountKind(DomainError):
    """The account's kind may not take this side of this transfer kind."""

    rule = "account_kind"


class CrossCommunity(DomainError):
    """Both accounts of a transfer must belong to the same community."""

    rule = "same_community"


class InvalidTransition(DomainError):
    """The transfer is not in a state that allows this step."""

    rule = "invalid_transition"


class PendingExpired(DomainError):
    """A pending credit can no longer be confirmed after its expiry."""

    rule = "pending_expired"


class AccountErased(DomainError):
    """The member was erased; the account takes no new movements."""

    rule = "account_erased"


class InvalidRules(DomainError):
    """A community rule value is out of its allowed range."""

    rule = "invalid_rules"


class NotFound(LedgerError):
    """No such community, account or transfer."""

    rule = "not_found"


class IdempotencyConflict(LedgerError):
    """The id was used before with a different payload."""

    rule = "idempotency_conflict"


class Unauthenticated(LedgerError):
    """Credentials are missing or unknown."""

    rule = "unauthenticated"


class Forbidden(LedgerError):
    """The authenticated principal may not perform this action."""

    rule = "forbidden"


class Unavailable(LedgerError):
    """Storage stayed contended beyond the retry budget; safe to retry."""

    rule = "unavailable"


class LogRangeError(LedgerError):
    """A log index or tree size outside the log."""

    rule = "log_range"


class LogIntegrityError(LedgerError):
    """The stored log no longer matches its events or a signed checkpoint."""

    rule = "log_integrity"


class ProjectionStopped(LedgerError):
    """A read model stopped at a failing event; it serves nothing rather than stale data."""

    rule = "projection_stopped"


# -- partner organisations (signed, idempotent, bulk postings) ----------------------


class SignatureRefused(Unauthenticated):
    """The request's HTTP message signature (RFC 9421) was refused."""

    rule = "signature_refused"


class IdempotencyKeyMissing(LedgerError):
    """The request needs an Idempotency-Key header."""

    rule = "idempotency_key_missing"


class IdempotencyInFlight(LedgerError):
    """A request with the same Idempotency-Key is still being processed; retry later."""

    rule = "idempotency_in_flight"


class IdempotencyKeyExpired(IdempotencyConflict):
    """The Idempotency-Key was completed longer ago than replays are honoured."""

    rule = "idempotency_key_expired"


class BatchRefused(DomainError):
    """An atomic batch was refused because some rows were; nothing was written.

    ``results`` holds one primitive mapping per row (row number, outcome, and
    for a refused row its rule, field and detail).
    """

    rule = "batch_refused"

    def __init__(self, detail: str, *, results: list[dict[str, object]],
                 field: str | None = "records") -> None:
        super().__init__(detail, field=field)
        self.results = results
