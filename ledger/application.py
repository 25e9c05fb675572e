"""The time bank application: commands and queries, each one call.

Each command loads what it touches through :class:`ledger.core.LedgerCore`
(held copies, no read of the store when it can), lets the domain decide, and
saves everything in one atomic commit that also extends the verifiable log;
a concurrent writer makes it run again (see ``ledger.core``).

Idempotency is by identity: a transfer's id is chosen by the client, so a
retried command finds the transfer it already made and returns it (or refuses
with :class:`IdempotencyConflict` when the payload differs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

from domain.accounts import Account, AccountKind
from domain.communities import (
    Community,
    derived_id,
    issuance_account_id,
    pool_account_id,
)
from domain.errors import DomainError, IdempotencyConflict, NotFound, WrongAccountKind
from domain.transfers import (
    SIDE_FIELDS,
    Transfer,
    TransferKind,
    TransferRequest,
    confirm_transfer,
    record_transfer,
    reverse_transfer,
    void_transfer,
)
from ledger.core import LedgerCore
from ledger.views import AccountView, HistoryEntry, MemberView, TransferView


class TimeBank(LedgerCore):
    """Commands and queries over the event store; takes and returns primitives."""

    name = "CivicLedger"  # names the tables and topics' application: never change it

    # -- communities and accounts -------------------------------------------------

    def register_community(self, name: str, rules: dict[str, int] | None = None,
                           community_id: UUID | None = None) -> dict[str, Any]:
        """A new community with its issuance account and pool."""
        cid = community_id or uuid4()

        def command() -> dict[str, Any]:
            if self._exists(cid):
                existing = self._get(cid, Community, "community", "id")
                wanted = Community.register(community_id=cid, name=name, rules=rules)
                if (existing.name, existing.rules) != (name, wanted.rules) \
                        or existing.version != 1:
                    raise IdempotencyConflict("community id already used", field="id")
                return {**existing.summary(), "log_indexes": []}
            community = Community.register(community_id=cid, name=name, rules=rules)
            issuance = Account.open(account_id=issuance_account_id(cid), community_id=cid,
                                    kind=AccountKind.ISSUANCE, label=f"{name} issuance")
            pool = Account.open(account_id=pool_account_id(cid), community_id=cid,
                                kind=AccountKind.POOL, label=f"{name} pool")
            indexes = self._commit(community, issuance, pool)
            return {**community.summary(), "log_indexes": list(indexes)}

        return self._retrying(command)

    def community(self, community_id: UUID) -> dict[str, Any]:
        """A community's summary and rules."""
        return self._get(community_id, Community, "community", "community").summary()

    def change_rules(self, community_id: UUID, changes: dict[str, int]) -> dict[str, Any]:
        """Adopt a new version of a community's rules."""
        def command() -> dict[str, Any]:
            community = self._get(community_id, Community, "community", "community")
            community.change_rules(changes)
            indexes = self._commit(community)
            return {**community.summary(), "log_indexes": list(indexes)}
        return self._retrying(command)

    def open_member(self, community_id: UUID, profile: dict[str, Any] | None = None,
                    account_id: UUID | None = None) -> AccountView:
        """Open a member account; personal fields are stored encrypted."""
        return self._open(community_id, AccountKind.MEMBER, "", account_id, profile=profile)

    def open_organisation(self, community_id: UUID, name: str, budget: int = 0,
                          account_id: UUID | None = None) -> AccountView:
        """Open a partner organisation's account with a budget (minutes)."""
        return self._open(community_id, AccountKind.ORGANISATION, name, account_id,
                          budget=budget)

    def _open(self, community_id: UUID, kind: AccountKind, label: str,
              account_id: UUID | None, *, profile: dict[str, Any] | None = None,
              budget: int = 0) -> AccountView:
        aid = account_id or uuid4()

        def command() -> AccountView:
            community = self._get(community_id, Community, "community", "community")
            if self._exists(aid):
                existing = self._get(aid, Account, "account", "id")
                if (existing.community_id, existing.kind, existing.label) != (
                        community_id, kind, label) or self._profile_of(existing) != (
                        profile or None):
                    raise IdempotencyConflict("account id already used", field="id")
                return AccountView.of(existing, community.rules)
            account = Account.open(account_id=aid, community_id=community_id, kind=kind,
                                   label=label)
            if budget:
                account.set_budget(budget)
            if profile:
                account.record_profile(self.personal.encrypt(aid, profile))
            indexes = self._commit(account)
            return AccountView.of(account, community.rules, log_indexes=indexes)

        return self._retrying(command)

    def _profile_of(self, account: Account) -> dict[str, Any] | None:
        if not account.profile or account.erased:
            return None
        return self.personal.decrypt(account.id, account.profile)

    def set_budget(self, account_id: UUID, budget: int) -> AccountView:
        """Change an organisation's budget."""
        def command() -> AccountView:
            account = self._get(account_id, Account, "account", "account")
            account.set_budget(budget)
            indexes = self._commit(account)
            return self._account_view(account, indexes)
        return self._retrying(command)

    def account(self, account_id: UUID) -> AccountView:
        """Balances (posted, pending) and limits."""
        return self._account_view(self._get(account_id, Account, "account", "account"))

    def _account_view(self, account: Account, log_indexes: tuple[int, ...] = ()
                      ) -> AccountView:
        community = self._get(account.community_id, Community, "community", "community")
        return AccountView.of(account, community.rules, log_indexes=log_indexes)

    def member(self, account_id: UUID) -> MemberView:
        """A member with decrypted personal fields (None once erased)."""
        account = self._get(account_id, Account, "account", "account")
        if account.kind is not AccountKind.MEMBER:
            raise NotFound(f"no member {account_id}", field="account")
        return MemberView(account=self._account_view(account), profile=self._profile_of(account),
                          erased=account.erased)

    def erase_member(self, account_id: UUID) -> MemberView:
        """Destroy the member's data key, then record the erasure."""
        account = self._get(account_id, Account, "account", "account")
        if account.kind is not AccountKind.MEMBER:
            raise WrongAccountKind(f"{account_id} is not a member", field="account")
        self.personal.erase(account_id)

        def command() -> MemberView:
            member = self._get(account_id, Account, "account", "account")
            member.erase()
            indexes = self._commit(member)
            view = self.member(account_id)
            return replace(view, account=replace(view.account, log_indexes=indexes))

        return self._retrying(command)

    # -- transfers ------------------------------------------------------------------

    def record(self, request: TransferRequest) -> TransferView:
        """Record a service credit, redemption, gift or donation (idempotent by id).

        A first attempt does not look for the id first: if it is taken, the
        save conflicts on it and the next attempt finds the original there."""
        attempts = 0

        def command() -> TransferView:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                existing = self._existing_transfer(request)
                if existing is not None:
                    return existing
            debit = self._for_update(request.debit_account_id, Account, "account",
                                     _side_field(request.kind, 0))
            credit = self._for_update(request.credit_account_id, Account, "account",
                                      _side_field(request.kind, 1))
            try:
                transfer = record_transfer(request, debit=debit, credit=credit,
                                           rules=self._rules_of(debit.community_id),
                                           now=self.clock())
            except DomainError:
                # A twin of this very request may have committed after our
                # existence check: the limits then see its effect. It is the
                # original, not a refusal.
                existing = self._existing_transfer(request)
                if existing is not None:
                    return existing
                raise
            indexes = self._commit(transfer, debit, credit)
            return TransferView.of(transfer, log_indexes=indexes)
        return self._retrying(command)

    def _existing_transfer(self, request: TransferRequest) -> TransferView | None:
        if not self._exists(request.transfer_id):
            return None
        transfer = self._get(request.transfer_id, Transfer, "transfer", "id")
        recorded = transfer.request().payload()
        if recorded != request.payload():
            differing = sorted(k for k, v in request.payload().items() if recorded[k] != v)
            raise IdempotencyConflict(
                f"transfer {request.transfer_id} was recorded with a different payload "
                f"({', '.join(differing)})", field=differing[0] if differing else "id")
        return TransferView.of(transfer, created=False)

    def reverse(self, original_id: UUID, *, actor: str, channel: str,
                on_behalf_of: UUID | None = None, reason: str = "") -> TransferView:
        """Undo a posted transfer by a linked reversal (its id derives from the original's)."""
        reversal_id = derived_id("reversal", original_id)

        def command() -> TransferView:
            original = self._get(original_id, Transfer, "transfer", "id")
            if original.reversed_by == reversal_id:
                return TransferView.of(self._get(reversal_id, Transfer, "transfer", "id"),
                                       created=False)
            debit = self._get(original.credit_account_id, Account, "account", "id")
            credit = self._get(original.debit_account_id, Account, "account", "id")
            community = self._get(original.community_id, Community, "community", "id")
            request = TransferRequest(
                transfer_id=reversal_id, kind=TransferKind.REVERSAL.value,
                debit_account_id=debit.id, credit_account_id=credit.id,
                minutes=original.minutes, category=original.category,
                service_date=original.service_date, pending=False, actor=actor,
                on_behalf_of=on_behalf_of, channel=channel)
            reversal = reverse_transfer(request, original, debit=debit, credit=credit,
                                        rules=community.rules, reason=reason)
            indexes = self._commit(reversal, original, debit, credit)
            return TransferView.of(reversal, log_indexes=indexes)

        return self._retrying(command)

    def confirm(self, transfer_id: UUID, *, actor: str, channel: str) -> TransferView:
        """Post a pending credit (a retry of a confirmed one returns it unchanged)."""
        def command() -> TransferView:
            transfer, debit, credit = self._transfer_and_sides(transfer_id)
            indexes: tuple[int, ...] = ()
            if confirm_transfer(transfer, debit=debit, credit=credit, actor=actor,
                                channel=channel, now=self.clock()):
                indexes = self._commit(transfer, debit, credit)
            return TransferView.of(transfer, log_indexes=indexes)
        return self._retrying(command)

    def void(self, transfer_id: UUID, *, actor: str, reason: str = "voided") -> TransferView:
        """Release a pending credit (a retry of a voided one returns it unchanged)."""
        def command() -> TransferView:
            transfer, debit, credit = self._transfer_and_sides(transfer_id)
            indexes: tuple[int, ...] = ()
            if void_transfer(transfer, debit=debit, credit=credit, actor=actor,
                             reason=reason):
                indexes = self._commit(transfer, debit, credit)
            return TransferView.of(transfer, log_indexes=indexes)
        return self._retrying(command)

    def _transfer_and_sides(self, transfer_id: UUID) -> tuple[Transfer, Account, Account]:
        transfer = self._get(transfer_id, Transfer, "transfer", "id")
        debit = self._get(transfer.debit_account_id, Account, "account", "id")
        credit = self._get(transfer.credit_account_id, Account, "account", "id")
        return transfer, debit, credit

    def transfer(self, transfer_id: UUID) -> TransferView:
        """One transfer."""
        return TransferView.of(self._get(transfer_id, Transfer, "transfer", "id"))

    def expire_pending(self, candidates: Iterable[UUID]) -> list[UUID]:
        """Void each candidate that is a pending credit past its expiry; returns the
        ids voided. The candidates come from the read models' index of open
        reservations (``ReadModels.expire_pending``); each is re-checked here."""
        now = self.clock()
        voided = []
        for transfer_id in candidates:
            transfer = self._get(transfer_id, Transfer, "transfer", "id")
            if transfer.is_expired(now):
                self.void(transfer_id, actor="system:expiry", reason="expired")
                voided.append(transfer_id)
        return voided

    # -- history --------------------------------------------------------------------

    def history(self, account_id: UUID, *, before: int | None = None,
                limit: int = 50) -> list[HistoryEntry]:
        """The account's entries, newest first; ``before`` is a version cursor."""
        self._get(account_id, Account, "account", "account")
        lte = None if before is None else before - 1
        events = self.events.get(account_id, lte=lte, desc=True, limit=limit)
        return [_history_entry(e) for e in events]


def _side_field(kind: str, side: int) -> str:
    try:
        return SIDE_FIELDS[kind][side]  # type: ignore[index]  # str-valued enum keys
    except (KeyError, TypeError):
        return "account"


def _history_entry(event: Any) -> HistoryEntry:
    name = type(event).__name__
    data = {k: v for k, v in event.__dict__.items()
            if k not in ("originator_id", "originator_version", "timestamp",
                         "originator_topic")}
    common = {"version": event.originator_version, "at": event.timestamp, "event": name}
    if name in ("Debited", "Credited", "PendingPosted", "PendingReleased"):
        side = data.get("side") or ("debit" if name == "Debited" else "credit")
        return HistoryEntry(
            **common, transfer_id=data["transfer_id"], kind=data.get("kind"),
            direction=side, minutes=data["minutes"], pending=data.get("pending"),
            counterparty=data.get("counterparty_id"), service_date=data.get("service_date"),
            details={k: v for k, v in data.items() if k in ("reason", "category")})
    details = {k: v for k, v in data.items() if k not in ("ciphertext",)}
    return HistoryEntry(**common, details=details)
