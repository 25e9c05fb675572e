"""A community: one time bank, with its versioned rules.

Every account belongs to exactly one community. Ids are UUIDs so that a later
federation of communities can merge registries without collisions; the
community's own system accounts (issuance, pool) have ids derived from the
community id, so any node can compute them.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.rules import CommunityRules

_NAMESPACE = uuid5(NAMESPACE_URL, "https://civic-ledger.org/ids")


def issuance_account_id(community_id: UUID) -> UUID:
    """The id of the community's issuance account (the source of new credits)."""
    return uuid5(_NAMESPACE, f"community/{community_id}/issuance")


def pool_account_id(community_id: UUID) -> UUID:
    """The id of the community pool (donated hours)."""
    return uuid5(_NAMESPACE, f"community/{community_id}/pool")


def derived_id(kind: str, source: UUID) -> UUID:
    """A deterministic id for something that exists at most once per ``source``."""
    return uuid5(_NAMESPACE, f"{kind}/{source}")


class Community(Aggregate):
    """A time bank. Holds its rules; changes to them are events."""

    @event("Registered")
    def __init__(self, id: UUID, name: str, rules: dict[str, int]) -> None:  # noqa: A002
        self.name = name
        self.rules = CommunityRules.from_dict(rules)

    @classmethod
    def register(cls, *, community_id: UUID, name: str,
                 rules: dict[str, int] | None = None) -> Community:
        """Validate and create; ``rules`` overrides the defaults."""
        initial = CommunityRules().changed(rules or {})
        initial = CommunityRules.from_dict({**initial.as_dict(), "version": 1})
        return cls(name=name, rules=initial.as_dict(), id=community_id)

    def change_rules(self, changes: dict[str, int]) -> None:
        """Adopt a new version of the rules (validated first)."""
        self._rules_changed(rules=self.rules.changed(changes).as_dict())

    @event("RulesChanged")
    def _rules_changed(self, rules: dict[str, int]) -> None:
        self.rules = CommunityRules.from_dict(rules)

    def summary(self) -> dict[str, Any]:
        """Primitive view for the service layer."""
        return {"id": self.id, "name": self.name, "rules": self.rules.as_dict(),
                "issuance_account": issuance_account_id(self.id),
                "pool_account": pool_account_id(self.id)}
