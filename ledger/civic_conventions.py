"""Residents' conventions and pledges: load, let ``domain.conventions`` decide, save once.

Every command runs in ``bank._retrying`` and ends in one atomic
``bank._commit`` (adopting version N+1 saves N's ``Superseded`` with it;
renewing saves the old pledge's ``Renewed`` with the new pledge). Results are
primitive dicts carrying the ``log_indexes`` the write appended.

Idempotency by identity: a draft's id is the client's (a retry with the same
wording returns the draft, ``created`` false; other wording under that id is an
:class:`IdempotencyConflict`); a pledge's id derives from the convention
version and the member, so pledging twice lands once, and renewing twice
renews once. Conventions hold no personal data (their text is public); a
pledge names its member by account id only.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from domain.accounts import Account
from domain.communities import Community
from domain.conventions import (
    AdoptionVote,
    Convention,
    ConventionStatus,
    Pledge,
    adopt_new_version,
    pledge_id_for,
    pledge_status,
    renew_pledge,
)
from domain.errors import DomainError, IdempotencyConflict
from ledger.civic_context import CivicContext

View = dict[str, Any]
_WORDING = ("title", "text", "effective_date")


class ConventionRecords:
    """Commands on conventions and pledges."""

    def __init__(self, context: CivicContext) -> None:
        self.context = context
        self.bank = context.bank

    # -- conventions -----------------------------------------------------------------

    def draft(self, *, community_id: UUID, scope: str, scope_ref: str, title: str,
              text: str, effective_date: str, actor: str,
              convention_id: UUID | None = None) -> View:
        """Version 1 of a new convention, as a draft."""
        cid = convention_id or uuid4()
        wanted = {"community_id": community_id, "scope": scope, "scope_ref": scope_ref,
                  "title": title, "text": text, "effective_date": effective_date,
                  "previous_version_id": None}

        def command() -> View:
            if self.bank._exists(cid):
                return self._existing_draft(cid, wanted)
            self.bank._get(community_id, Community, "community", "community_id")
            convention = Convention.draft(convention_id=cid, community_id=community_id,
                                          scope=scope, scope_ref=scope_ref, title=title,
                                          text=text, effective_date=effective_date,
                                          actor=actor)
            return convention_view(convention, self.bank._commit(convention))

        return self.bank._retrying(command)

    def draft_version(self, previous_id: UUID, *, title: str, text: str,
                      effective_date: str, actor: str,
                      convention_id: UUID | None = None) -> View:
        """A draft amending the adopted ``previous_id`` (version N+1 of its lineage)."""
        cid = convention_id or uuid4()

        def command() -> View:
            previous = self._convention(previous_id, "convention")
            if self.bank._exists(cid):
                return self._existing_draft(cid, {
                    "community_id": previous.community_id, "scope": previous.scope.value,
                    "scope_ref": previous.scope_ref, "title": title, "text": text,
                    "effective_date": effective_date, "previous_version_id": previous_id})
            draft = previous.draft_next_version(convention_id=cid, title=title, text=text,
                                                effective_date=effective_date, actor=actor)
            return convention_view(draft, self.bank._commit(draft))

        return self.bank._retrying(command)

    def _existing_draft(self, cid: UUID, wanted: dict[str, Any]) -> View:
        existing = self._convention(cid, "id")
        found = {key: getattr(existing, key) for key in wanted}
        found["scope"] = existing.scope.value
        differing = [key for key in wanted if found[key] != wanted[key]]
        if differing:
            raise IdempotencyConflict(f"convention {cid} was drafted differently "
                                      f"({', '.join(differing)})", field=differing[0])
        return convention_view(existing, created=False)

    def adopt(self, convention_id: UUID, vote: dict[str, Any], *, actor: str) -> View:
        """Adopt a draft by a residents' meeting's vote; a later version supersedes the
        one it amends in the same save."""
        def command() -> View:
            convention = self._convention(convention_id, "convention")
            ballot, now = AdoptionVote(**vote), self.context.now()
            if convention.previous_version_id is None:
                convention.adopt(ballot, actor=actor, now=now)
                return convention_view(convention, self.bank._commit(convention))
            old = self._convention(convention.previous_version_id, "previous_version_id")
            adopt_new_version(old, convention, ballot, actor=actor, now=now)
            return convention_view(convention, self.bank._commit(convention, old))

        return self.bank._retrying(command)

    def file(self, convention_id: UUID, *, filed_with: str, filed_on: str, reference: str,
             actor: str) -> View:
        """Record that the adopted text was filed with the local government."""
        return self._change(convention_id, lambda c: c.file(
            filed_with=filed_with, filed_on=filed_on, reference=reference, actor=actor))

    def retire(self, convention_id: UUID, *, reason: str, retired_on: str,
               actor: str) -> View:
        """End a draft or an adopted convention without a successor."""
        return self._change(convention_id, lambda c: c.retire(
            reason=reason, retired_on=retired_on, actor=actor))

    def convention(self, convention_id: UUID) -> View:
        """One version, from its aggregate."""
        return convention_view(self._convention(convention_id, "convention"),
                               created=False)

    def _change(self, convention_id: UUID, change: Any) -> View:
        def command() -> View:
            convention = self._convention(convention_id, "convention")
            change(convention)
            return convention_view(convention, self.bank._commit(convention))
        return self.bank._retrying(command)

    def _convention(self, convention_id: UUID, field: str) -> Convention:
        return self.bank._get(convention_id, Convention, "convention", field)

    # -- pledges -------------------------------------------------------------------------

    def pledge(self, convention_id: UUID, member_id: UUID, *, channel: str, actor: str,
               paper_form_number: str | None = None) -> View:
        """The member pledges to keep this version (once: the id derives from both)."""
        pid = pledge_id_for(convention_id, member_id)

        def command() -> View:
            convention = self._convention(convention_id, "convention_id")
            if self.bank._exists(pid):
                existing = self._pledge(pid, "id")
                wanted = {"channel": channel, "paper_form_number": paper_form_number}
                found = {"channel": existing.channel.value,
                         "paper_form_number": existing.paper_form_number}
                differing = [key for key in wanted if wanted[key] != found[key]]
                if differing:
                    raise IdempotencyConflict(
                        f"the member already pledged to this version ({existing.channel})",
                        field=differing[0])
                return pledge_view(existing, convention, created=False)
            member = self.bank._get(member_id, Account, "account", "member_account_id")
            made = Pledge.make(member=member, convention=convention, channel=channel,
                               actor=actor, now=self.context.now(),
                               paper_form_number=paper_form_number)
            return pledge_view(made, convention, self.bank._commit(made))

        return self.bank._retrying(command)

    def withdraw_pledge(self, pledge_id: UUID, *, reason: str, actor: str) -> View:
        """Withdraw with a reason code."""
        return self._pledge_change(pledge_id, lambda p: p.withdraw(
            reason=reason, actor=actor, now=self.context.now()))

    def check_in(self, pledge_id: UUID, *, date: str, kept: bool, note: str,
                 actor: str) -> View:
        """The member's own report for one day (a day of the community's calendar)."""
        return self._pledge_change(pledge_id, lambda p: p.check_in(
            date=date, kept=kept, note=note, actor=actor, now=self.context.now()))

    def renew(self, pledge_id: UUID, *, channel: str, actor: str,
              paper_form_number: str | None = None) -> View:
        """Pledge the version now adopted in place of a superseded one (once)."""
        def command() -> View:
            old = self._pledge(pledge_id, "pledge")
            old_convention = self._convention(old.convention_id, "convention_id")
            current = self._current(old_convention)
            new_id = pledge_id_for(current.id, old.member_account_id)
            if old.renewed_by == new_id:
                return pledge_view(self._pledge(new_id, "id"), current, created=False)
            if current.id != old_convention.id and self.bank._exists(new_id):
                raise DomainError(f"the member already pledged to version "
                                  f"{current.version_number} directly", field="status",
                                  rule="already_pledged_current_version")
            member = self.bank._get(old.member_account_id, Account, "account",
                                    "member_account_id")
            _, new = renew_pledge(old, old_convention=old_convention, new_convention=current,
                                  member=member, channel=channel, actor=actor,
                                  now=self.context.now(), paper_form_number=paper_form_number)
            return pledge_view(new, current, self.bank._commit(old, new))

        return self.bank._retrying(command)

    def pledge_record(self, pledge_id: UUID) -> View:
        """One pledge, from its aggregate."""
        made = self._pledge(pledge_id, "pledge")
        return pledge_view(made, self._convention(made.convention_id, "convention_id"),
                           created=False)

    def _pledge_change(self, pledge_id: UUID, change: Any) -> View:
        def command() -> View:
            made = self._pledge(pledge_id, "pledge")
            change(made)
            indexes = self.bank._commit(made)
            return pledge_view(made, self._convention(made.convention_id, "convention_id"),
                               indexes)
        return self.bank._retrying(command)

    def _current(self, convention: Convention) -> Convention:
        """The version that replaced ``convention`` (following every supersession)."""
        while convention.status is ConventionStatus.SUPERSEDED and convention.superseded_by:
            convention = self._convention(convention.superseded_by, "convention_id")
        return convention

    def _pledge(self, pledge_id: UUID, field: str) -> Pledge:
        return self.bank._get(pledge_id, Pledge, "pledge", field)


def convention_view(convention: Convention, log_indexes: tuple[int, ...] = (), *,
                    created: bool = True) -> View:
    """A convention version as clients see it."""
    return {"id": convention.id, "community": convention.community_id,
            "lineage": convention.lineage_id, "version": convention.version_number,
            "previous_version": convention.previous_version_id,
            "scope": convention.scope.value, "scope_ref": convention.scope_ref,
            "title": convention.title, "text": convention.text,
            "text_sha256": convention.text_sha256,
            "effective_date": convention.effective_date, "status": convention.status.value,
            "adoption": convention.adoption, "filing": convention.filing,
            "superseded_by": convention.superseded_by,
            "superseded_on": convention.superseded_on, "retired_on": convention.retired_on,
            "retirement_reason": convention.retirement_reason, "created": created,
            "log_indexes": list(log_indexes)}


def pledge_view(pledge: Pledge, convention: Convention, log_indexes: tuple[int, ...] = (),
                *, created: bool = True) -> View:
    """A pledge and what it means now that its version is ``convention.status``."""
    return {"id": pledge.id, "member": pledge.member_account_id,
            "community": pledge.community_id, "convention": pledge.convention_id,
            "convention_version": pledge.convention_version,
            "status": pledge_status(pledge, convention).value,
            "channel": pledge.channel.value, "actor": pledge.actor,
            "paper_form_number": pledge.paper_form_number, "pledged_at": pledge.pledged_at,
            "renews": pledge.renews, "renewed_by": pledge.renewed_by,
            "withdrawn_reason": pledge.withdrawn_reason,
            "check_ins": [{"date": day, "kept": entry["kept"], "note": entry["note"]}
                          for day, entry in sorted(pledge.check_ins.items())],
            "created": created, "log_indexes": list(log_indexes)}
