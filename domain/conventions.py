"""Residents' conventions (waste sorting, dogs, quiet hours) and the pledges to keep them.

A convention is adopted by a residents' meeting, filed with the local
government and supervised by the residents' committee. Its text never changes
once adopted: an amendment is a *new* ``Convention`` aggregate (version N+1,
linked to N by ``previous_version_id`` and sharing N's ``lineage_id``) whose
adoption supersedes N in the same save (:func:`adopt_new_version`).

A pledge binds one member to one *version*: its id is derived from the
convention and the member, so a member pledges a version at most once. When
the version is superseded the pledge is reported as renewal due
(:func:`pledge_status`), never carried over to the new text the member did not
read; renewing is a new pledge to the new version (:func:`renew_pledge`).
Pledges hold no free text about other people: a withdrawal gives a reason code
and a check-in note is at most 280 characters about the member's own keeping.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.accounts import Account, AccountKind
from domain.agreements import aware, bounded_text, iso_date, sha256_hex
from domain.communities import derived_id
from domain.errors import (
    AccountErased,
    CrossCommunity,
    DomainError,
    InvalidTransition,
    WrongAccountKind,
)

TITLE_MAX, TEXT_MAX, NOTE_MAX, REFERENCE_MAX = 200, 20_000, 280, 200
STAFF_ROLES = frozenset({"staff", "admin"})


class ConventionScope(StrEnum):
    """Whom a convention binds; building and village scopes name which in ``scope_ref``."""

    COMMUNITY = "community"
    BUILDING = "building"
    VILLAGE = "village"


class ConventionStatus(StrEnum):
    """draft -> adopted -> superseded | retired; a draft may be retired (abandoned)."""

    DRAFT = "draft"
    ADOPTED = "adopted"
    SUPERSEDED = "superseded"
    RETIRED = "retired"


class PledgeChannel(StrEnum):
    """How a pledge reached us; the last two are recorded by staff."""

    ONLINE = "online"
    SERVICE_WINDOW = "service_window"
    PAPER = "paper"


class WithdrawalReason(StrEnum):
    """Why a member withdrew a pledge: a code, so no free text about anyone is kept."""

    MOVED_AWAY = "moved_away"
    NO_LONGER_APPLICABLE = "no_longer_applicable"
    DISAGREES_WITH_TEXT = "disagrees_with_text"
    PERSONAL = "personal"
    OTHER = "other"


class PledgeStatus(StrEnum):
    """What a pledge means today, given the state of its convention version."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    RENEWAL_DUE = "renewal_due"
    RENEWED = "renewed"
    LAPSED = "lapsed"  # the convention was retired without a successor


def _utc(at: dt.datetime) -> dt.datetime:
    return aware(at, "now").astimezone(dt.UTC)


@dataclass(frozen=True)
class AdoptionVote:
    """The residents' meeting that adopted a convention, and how it voted."""

    meeting_date: str
    eligible: int  # residents entitled to attend
    present: int
    votes_for: int
    votes_against: int
    abstaining: int

    def check(self, today: dt.date) -> None:
        """More than half present, more than half of those present in favour."""
        if iso_date(self.meeting_date, "meeting_date") > today:
            raise DomainError("the meeting cannot be in the future", field="meeting_date",
                              rule="meeting_in_future")
        for name in ("eligible", "present", "votes_for", "votes_against", "abstaining"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise DomainError(f"{name} must be a whole number, zero or more",
                                  field=name, rule="vote_count")
        if self.present > self.eligible:
            raise DomainError("more residents present than entitled to attend",
                              field="present", rule="present_above_eligible")
        if self.votes_for + self.votes_against + self.abstaining > self.present:
            raise DomainError("more votes than residents present", field="votes_for",
                              rule="votes_above_present")
        if 2 * self.present <= self.eligible:
            raise DomainError(f"{self.present} of {self.eligible} present is not more "
                              "than half", field="present", rule="quorum_not_met")
        if 2 * self.votes_for <= self.present:
            raise DomainError(f"{self.votes_for} of {self.present} present in favour is "
                              "not more than half", field="votes_for",
                              rule="majority_not_reached")


def _check_wording(title: str, text: str, effective_date: str) -> None:
    bounded_text(title, "title", TITLE_MAX)
    bounded_text(text, "text", TEXT_MAX)
    iso_date(effective_date, "effective_date")


class Convention(Aggregate):
    """One version of a residents' convention."""

    @event("Drafted")
    def __init__(self, id: UUID, community_id: UUID, scope: str,  # noqa: A002
                 scope_ref: str, title: str, text: str, text_sha256: str,
                 version_number: int, previous_version_id: UUID | None, lineage_id: UUID,
                 effective_date: str, actor: str) -> None:
        self.community_id = community_id
        self.scope = ConventionScope(scope)
        self.scope_ref = scope_ref
        self.title = title
        self.text = text
        self.text_sha256 = text_sha256
        self.version_number = version_number
        self.previous_version_id = previous_version_id
        self.lineage_id = lineage_id
        self.effective_date = effective_date
        self.status = ConventionStatus.DRAFT
        self.adoption: dict[str, Any] | None = None
        self.filing: dict[str, str] | None = None
        self.superseded_by: UUID | None = None
        self.superseded_on: str | None = None
        self.retired_on: str | None = None
        self.retirement_reason: str | None = None

    @classmethod
    def draft(cls, *, convention_id: UUID, community_id: UUID, scope: str, scope_ref: str,
              title: str, text: str, effective_date: str, actor: str) -> Convention:
        """Version 1 of a new convention; ``scope_ref`` names the building or village."""
        if scope not in set(ConventionScope):
            raise DomainError("scope must be community, building or village", field="scope",
                              rule="convention_scope")
        if scope == ConventionScope.COMMUNITY and scope_ref != "":
            raise DomainError("a community-wide convention takes no scope_ref",
                              field="scope_ref", rule="scope_ref")
        if scope != ConventionScope.COMMUNITY:
            bounded_text(scope_ref, "scope_ref", TITLE_MAX)
        _check_wording(title, text, effective_date)
        return cls(id=convention_id, community_id=community_id, scope=scope,
                   scope_ref=scope_ref, title=title, text=text, text_sha256=sha256_hex(text),
                   version_number=1, previous_version_id=None, lineage_id=convention_id,
                   effective_date=effective_date, actor=actor)

    def draft_next_version(self, *, convention_id: UUID, title: str, text: str,
                           effective_date: str, actor: str) -> Convention:
        """A draft amending this adopted version (same community, scope and lineage)."""
        if self.status is not ConventionStatus.ADOPTED:
            raise InvalidTransition(f"only an adopted convention can be amended (this one "
                                    f"is {self.status})", field="previous_version_id")
        _check_wording(title, text, effective_date)
        if effective_date < self.effective_date:
            raise DomainError("a new version cannot take effect before the version it "
                              "amends", field="effective_date", rule="effective_date_order")
        return Convention(id=convention_id, community_id=self.community_id,
                          scope=self.scope.value, scope_ref=self.scope_ref, title=title,
                          text=text, text_sha256=sha256_hex(text),
                          version_number=self.version_number + 1,
                          previous_version_id=self.id, lineage_id=self.lineage_id,
                          effective_date=effective_date, actor=actor)

    def adopt(self, vote: AdoptionVote, *, actor: str, now: dt.datetime) -> None:
        """Adopt version 1 (later versions go through :func:`adopt_new_version`)."""
        if self.previous_version_id is not None:
            raise InvalidTransition("a new version is adopted with adopt_new_version, "
                                    "which supersedes the version it amends",
                                    field="previous_version_id", rule="adopt_via_new_version")
        self.check_adoptable(vote, now)
        self._adopted(**vars(vote), actor=actor)

    def check_adoptable(self, vote: AdoptionVote, now: dt.datetime) -> None:
        """Raise unless this draft may be adopted by ``vote``."""
        if self.status is not ConventionStatus.DRAFT:
            raise InvalidTransition(f"only a draft can be adopted (this one is "
                                    f"{self.status})", field="status")
        vote.check(aware(now, "now").date())  # the caller's local calendar day
        if self.effective_date < vote.meeting_date:
            raise DomainError("a convention cannot take effect before the meeting adopted "
                              "it", field="effective_date", rule="effective_before_meeting")

    def file(self, *, filed_with: str, filed_on: str, reference: str, actor: str) -> None:
        """Record that the adopted text was filed with the local government."""
        if self.adoption is None:
            raise InvalidTransition("only an adopted convention can be filed", field="status")
        if self.filing is not None:
            raise InvalidTransition(f"already filed on {self.filing['filed_on']}",
                                    field="filed_on")
        bounded_text(filed_with, "filed_with", REFERENCE_MAX)
        bounded_text(reference, "reference", REFERENCE_MAX)
        iso_date(filed_on, "filed_on")
        if filed_on < self.adoption["meeting_date"]:
            raise DomainError("filed before the meeting adopted it", field="filed_on",
                              rule="filed_before_adoption")
        self._filed(filed_with=filed_with, filed_on=filed_on, reference=reference,
                    actor=actor)

    def retire(self, *, reason: str, retired_on: str, actor: str) -> None:
        """End a draft or an adopted convention without a successor."""
        if self.status not in (ConventionStatus.DRAFT, ConventionStatus.ADOPTED):
            raise InvalidTransition(f"a {self.status} convention cannot be retired",
                                    field="status")
        bounded_text(reason, "reason", REFERENCE_MAX)
        iso_date(retired_on, "retired_on")
        self._retired(reason=reason, retired_on=retired_on, actor=actor)

    @event("Adopted")
    def _adopted(self, meeting_date: str, eligible: int, present: int, votes_for: int,
                 votes_against: int, abstaining: int, actor: str) -> None:
        self.status = ConventionStatus.ADOPTED
        self.adoption = {"meeting_date": meeting_date, "eligible": eligible,
                         "present": present, "votes_for": votes_for,
                         "votes_against": votes_against, "abstaining": abstaining}

    @event("Filed")
    def _filed(self, filed_with: str, filed_on: str, reference: str, actor: str) -> None:
        self.filing = {"filed_with": filed_with, "filed_on": filed_on, "reference": reference}

    @event("Superseded")
    def _superseded(self, superseded_by: UUID, superseded_on: str) -> None:
        self.status = ConventionStatus.SUPERSEDED
        self.superseded_by, self.superseded_on = superseded_by, superseded_on

    @event("Retired")
    def _retired(self, reason: str, retired_on: str, actor: str) -> None:
        self.status = ConventionStatus.RETIRED
        self.retirement_reason, self.retired_on = reason, retired_on


def adopt_new_version(old: Convention, new: Convention, vote: AdoptionVote, *, actor: str,
                      now: dt.datetime) -> tuple[Convention, Convention]:
    """Adopt ``new`` and supersede ``old`` together; save both in one save."""
    if new.previous_version_id != old.id:
        raise DomainError(f"{new.id} is not a new version of {old.id}",
                          field="previous_version_id", rule="not_the_next_version")
    if old.status is not ConventionStatus.ADOPTED:
        raise InvalidTransition(f"version {old.version_number} is {old.status}; only the "
                                "adopted version can be superseded", field="previous_version_id")
    new.check_adoptable(vote, now)
    new._adopted(**vars(vote), actor=actor)
    old._superseded(superseded_by=new.id, superseded_on=new.effective_date)
    return old, new


def pledge_id_for(convention_id: UUID, member_account_id: UUID) -> UUID:
    """The one pledge id a member can have for a convention version."""
    return derived_id(f"pledge/{member_account_id}", convention_id)


def _check_channel(channel: str, actor: str, paper_form_number: str | None) -> None:
    if channel not in set(PledgeChannel):
        raise DomainError("channel must be online, service_window or paper",
                          field="channel", rule="pledge_channel")
    if channel != PledgeChannel.ONLINE \
            and bounded_text(actor, "actor", 200).split(":")[0] not in STAFF_ROLES:
        raise DomainError(f"a {channel} pledge is recorded by staff", field="actor",
                          rule="staff_channel")
    if channel == PledgeChannel.PAPER:
        bounded_text(paper_form_number, "paper_form_number", 64)
    elif paper_form_number is not None:
        raise DomainError("only a paper pledge has a form number",
                          field="paper_form_number", rule="paper_form_only_on_paper")


class Pledge(Aggregate):
    """One member's pledge to keep one version of a convention."""

    @event("Made")
    def __init__(self, id: UUID, member_account_id: UUID, community_id: UUID,  # noqa: A002
                 convention_id: UUID, convention_version: int, channel: str, actor: str,
                 paper_form_number: str | None, pledged_at: dt.datetime,
                 renews: UUID | None) -> None:
        self.member_account_id = member_account_id
        self.community_id = community_id
        self.convention_id = convention_id
        self.convention_version = convention_version
        self.channel = PledgeChannel(channel)
        self.actor = actor
        self.paper_form_number = paper_form_number
        self.pledged_at = pledged_at
        self.renews = renews
        self.withdrawn_reason: str | None = None
        self.renewed_by: UUID | None = None
        self.check_ins: dict[str, dict[str, Any]] = {}

    @classmethod
    def make(cls, *, member: Account, convention: Convention, channel: str, actor: str,
             now: dt.datetime, paper_form_number: str | None = None,
             renews: UUID | None = None) -> Pledge:
        """Pledge ``member`` to an adopted ``convention`` version (``renews``: set by
        :func:`renew_pledge`, the pledge this one renews)."""
        if member.kind is not AccountKind.MEMBER:
            raise WrongAccountKind("only members pledge", field="member_account_id")
        if member.erased:
            raise AccountErased("the member was erased", field="member_account_id")
        if member.community_id != convention.community_id:
            raise CrossCommunity("the member belongs to another community",
                                 field="member_account_id")
        if convention.status is not ConventionStatus.ADOPTED:
            raise DomainError(f"pledges are made to an adopted convention (this one is "
                              f"{convention.status})", field="convention_id",
                              rule="convention_not_adopted")
        _check_channel(channel, actor, paper_form_number)
        return cls(id=pledge_id_for(convention.id, member.id), member_account_id=member.id,
                   community_id=convention.community_id, convention_id=convention.id,
                   convention_version=convention.version_number, channel=channel,
                   actor=actor, paper_form_number=paper_form_number,
                   pledged_at=_utc(now), renews=renews)

    def withdraw(self, *, reason: str, actor: str, now: dt.datetime) -> None:
        """Withdraw the pledge; ``reason`` is a :class:`WithdrawalReason` code."""
        self._check_open("withdrawn")
        if reason not in set(WithdrawalReason):
            raise DomainError("reason must be one of " + ", ".join(WithdrawalReason),
                              field="reason", rule="withdrawal_reason")
        self._withdrawn(reason=reason, actor=actor, withdrawn_at=_utc(now))

    def check_in(self, *, date: str, kept: bool, note: str, actor: str,
                 now: dt.datetime) -> None:
        """The member's own report of whether they kept the convention on ``date``."""
        self._check_open("checked in")
        day = iso_date(date, "date")
        local = aware(now, "now")  # calendar days in the caller's time zone
        if not self.pledged_at.astimezone(local.tzinfo).date() <= day <= local.date():
            raise DomainError("a check-in is for a day between the pledge and today",
                              field="date", rule="check_in_date")
        if date in self.check_ins:
            raise DomainError(f"already checked in for {date}", field="date",
                              rule="one_check_in_per_day")
        if not isinstance(kept, bool):
            raise DomainError("kept must be true or false", field="kept", rule="kept_boolean")
        if not isinstance(note, str) or len(note) > NOTE_MAX:
            raise DomainError(f"note is text of at most {NOTE_MAX} characters", field="note",
                              rule="text_too_long")
        self._checked_in(date=date, kept=kept, note=note, actor=actor, reported_at=_utc(now))

    def _check_open(self, action: str) -> None:
        if self.withdrawn_reason is not None or self.renewed_by is not None:
            state = "withdrawn" if self.renewed_by is None else "renewed"
            raise InvalidTransition(f"a {state} pledge cannot be {action}", field="status")

    @event("Withdrawn")
    def _withdrawn(self, reason: str, actor: str, withdrawn_at: dt.datetime) -> None:
        self.withdrawn_reason = reason

    @event("CheckedIn")
    def _checked_in(self, date: str, kept: bool, note: str, actor: str,
                    reported_at: dt.datetime) -> None:
        self.check_ins[date] = {"kept": kept, "note": note}

    @event("Renewed")
    def _renewed(self, new_pledge_id: UUID, renewed_at: dt.datetime) -> None:
        self.renewed_by = new_pledge_id


def pledge_status(pledge: Pledge, convention: Convention) -> PledgeStatus:
    """What ``pledge`` means now that its version is ``convention.status``."""
    if pledge.convention_id != convention.id:
        raise DomainError("the pledge is to another convention", field="convention_id",
                          rule="pledge_convention_mismatch")
    if pledge.withdrawn_reason is not None:
        return PledgeStatus.WITHDRAWN
    if pledge.renewed_by is not None:
        return PledgeStatus.RENEWED
    if convention.status is ConventionStatus.SUPERSEDED:
        return PledgeStatus.RENEWAL_DUE
    if convention.status is ConventionStatus.RETIRED:
        return PledgeStatus.LAPSED
    return PledgeStatus.ACTIVE


def renew_pledge(old: Pledge, *, old_convention: Convention, new_convention: Convention,
                 member: Account, channel: str, actor: str, now: dt.datetime,
                 paper_form_number: str | None = None) -> tuple[Pledge, Pledge]:
    """A new pledge to a later version; the old one records ``Renewed``. Save both."""
    status = pledge_status(old, old_convention)
    if status is not PledgeStatus.RENEWAL_DUE:
        raise InvalidTransition(f"only a pledge due for renewal can be renewed (this one "
                                f"is {status})", field="status")
    if old.member_account_id != member.id:
        raise DomainError("the pledge is another member's", field="member_account_id",
                          rule="pledge_member_mismatch")
    if (new_convention.lineage_id != old_convention.lineage_id
            or new_convention.version_number <= old_convention.version_number):
        raise DomainError("renew to a later version of the same convention",
                          field="convention_id", rule="not_a_later_version")
    new = Pledge.make(member=member, convention=new_convention, channel=channel, actor=actor,
                      now=now, paper_form_number=paper_form_number, renews=old.id)
    old._renewed(new_pledge_id=new.id, renewed_at=_utc(now))
    return old, new
