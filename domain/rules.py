"""A community's rules: limits every transfer is checked against.

Rules are versioned values. A change is an event on the community, and every
transfer records the ``version`` it was checked against, so an auditor can tell
which rule applied to which movement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from domain.errors import InvalidRules

MINUTES_PER_HOUR = 60


@dataclass(frozen=True)
class CommunityRules:
    """Limits in whole minutes; ``version`` starts at 1 and grows by one per change."""

    version: int = 1
    member_min_balance: int = 0
    member_max_balance: int = 1500 * MINUTES_PER_HOUR
    daily_earning_cap: int = 12 * MINUTES_PER_HOUR
    max_minutes_per_record: int = 8 * MINUTES_PER_HOUR
    pending_expiry_minutes: int = 14 * 24 * MINUTES_PER_HOUR

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The names of the changeable limits (everything but ``version``)."""
        return tuple(f.name for f in fields(cls) if f.name != "version")

    def as_dict(self) -> dict[str, int]:
        """Primitive form, as stored in events."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CommunityRules:
        """Rebuild from the primitive form; unknown keys are ignored (upcasting)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in values.items() if k in known})

    def changed(self, changes: dict[str, int]) -> CommunityRules:
        """A validated next version with ``changes`` applied."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise InvalidRules(f"unknown rule {unknown[0]!r}", field=unknown[0])
        candidate = replace(self, version=self.version + 1, **changes)
        candidate.check()
        return candidate

    def check(self) -> None:
        """Raise :class:`InvalidRules` naming the first value out of range."""
        for name in self.names():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidRules(f"{name} must be whole minutes", field=name)
        if self.member_min_balance > 0:
            raise InvalidRules("member_min_balance must be zero or negative",
                               field="member_min_balance")
        if self.member_max_balance <= 0:
            raise InvalidRules("member_max_balance must be positive", field="member_max_balance")
        for name in ("daily_earning_cap", "max_minutes_per_record", "pending_expiry_minutes"):
            if getattr(self, name) <= 0:
                raise InvalidRules(f"{name} must be positive", field=name)
