"""Who may do what: the authorisation policy, as one table and three functions.

The policy is pure (no I/O, no web framework) so that every edge — the HTTP
API, the command line, a future batch import — asks the same question and
gets the same answer, and so that the table can be read and tested on its own.

Each :class:`Action` maps each role to a :class:`Scope`: ``ANY`` (any account
of any community), ``OWN`` (only when the principal's subject — the member's
or the partner organisation's account id — is one of the accounts concerned)
or absent (refused). Administrators may do everything. A mediator reads like
an auditor and, with staff, records mediation cases (with their parties'
details and texts); auditors never receive personal data.

Beyond *whether*, :func:`acting_as` decides *as whom*: the actor recorded in
events, the channel (only staff and administrators may record service-window
or paper entries) and ``on_behalf_of`` (the member a staff member acts for).
Refusals raise :class:`~domain.errors.Unauthenticated` or
:class:`~domain.errors.Forbidden`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from domain.errors import DomainError, Forbidden, Unauthenticated
from domain.transfers import Channel
from ledger.tokens import Principal, Role


class Action(StrEnum):
    """Every guarded operation."""

    REGISTER_COMMUNITY = "register_community"
    READ_COMMUNITY = "read_community"
    CHANGE_RULES = "change_rules"
    OPEN_MEMBER = "open_member"
    READ_MEMBER = "read_member"
    READ_PERSONAL_DATA = "read_personal_data"
    ERASE_MEMBER = "erase_member"
    OPEN_ORGANISATION = "open_organisation"
    SET_BUDGET = "set_budget"
    RECORD_CREDIT = "record_credit"          # accounts: the payer
    SETTLE_CREDIT = "settle_credit"          # confirm or void; accounts: the payer
    MOVE_MEMBER_TIME = "move_member_time"    # redemption, gift, donation; accounts: payer
    REVERSE = "reverse"
    READ_ACCOUNT = "read_account"            # balances and history
    READ_TRANSFER = "read_transfer"          # accounts: both sides
    READ_LOG = "read_log"                    # the verifiable log (unless public)
    READ_REPORT = "read_report"              # accounts: the organisation
    READ_DASHBOARD = "read_dashboard"
    # partner organisations (docs/PARTNERS.md); signed postings are checked by signature
    MANAGE_PARTNER_KEYS = "manage_partner_keys"        # accounts: the organisation
    READ_PARTNER_KEYS = "read_partner_keys"            # accounts: the organisation
    SET_PARTNER_CATEGORIES = "set_partner_categories"  # accounts: the organisation
    SETTLE_PARTNER_CREDIT = "settle_partner_credit"    # confirm or contest; accounts:
    #                                                    the volunteer and beneficiary
    # civic records (docs/CIVIC.md): conventions, pledges, mediation cases
    MANAGE_CONVENTION = "manage_convention"    # draft, adopt, file, retire
    READ_CONVENTION = "read_convention"
    MAKE_PLEDGE = "make_pledge"                # pledge, withdraw, renew; accounts: member
    CHECK_IN_PLEDGE = "check_in_pledge"        # self-reported; accounts: the member
    READ_PLEDGE = "read_pledge"                # accounts: the member
    RECORD_MEDIATION = "record_mediation"      # every step of a case
    READ_CASE = "read_case"                    # accounts: the member parties
    READ_CASE_TEXT = "read_case_text"          # sealed texts; accounts: member parties
    READ_PARTY_DETAILS = "read_party_details"  # non-member parties' personal details
    ERASE_PARTY_DETAILS = "erase_party_details"


class Scope(StrEnum):
    """How far a role's permission reaches."""

    ANY = "any"
    OWN = "own"


_A, _O = Scope.ANY, Scope.OWN
_READERS: Mapping[Role, Scope] = {Role.STAFF: _A, Role.AUDITOR: _A, Role.MEDIATOR: _A,
                                  Role.PARTNER: _O, Role.MEMBER: _O}

POLICY: Mapping[Action, Mapping[Role, Scope]] = {
    Action.REGISTER_COMMUNITY: {},
    Action.READ_COMMUNITY: {role: _A for role in Role},
    Action.CHANGE_RULES: {},
    Action.OPEN_MEMBER: {Role.STAFF: _A},
    Action.READ_MEMBER: {Role.STAFF: _A, Role.AUDITOR: _A, Role.MEDIATOR: _A,
                         Role.MEMBER: _O},
    Action.READ_PERSONAL_DATA: {Role.STAFF: _A, Role.MEMBER: _O},
    Action.ERASE_MEMBER: {Role.STAFF: _A},
    Action.OPEN_ORGANISATION: {},
    Action.SET_BUDGET: {},
    Action.RECORD_CREDIT: {Role.STAFF: _A, Role.PARTNER: _O},
    Action.SETTLE_CREDIT: {Role.STAFF: _A, Role.PARTNER: _O},
    Action.MOVE_MEMBER_TIME: {Role.STAFF: _A, Role.MEMBER: _O},
    Action.REVERSE: {Role.STAFF: _A},
    Action.READ_ACCOUNT: _READERS,
    Action.READ_TRANSFER: _READERS,
    Action.READ_LOG: {Role.AUDITOR: _A, Role.STAFF: _A},
    Action.READ_REPORT: {Role.STAFF: _A, Role.AUDITOR: _A, Role.PARTNER: _O},
    Action.READ_DASHBOARD: {Role.STAFF: _A, Role.AUDITOR: _A, Role.MEDIATOR: _A},
    Action.MANAGE_PARTNER_KEYS: {Role.PARTNER: _O},
    Action.READ_PARTNER_KEYS: {Role.STAFF: _A, Role.AUDITOR: _A, Role.PARTNER: _O},
    Action.SET_PARTNER_CATEGORIES: {},
    Action.SETTLE_PARTNER_CREDIT: {Role.STAFF: _A, Role.MEMBER: _O},
    # civic records: mediators and staff write, members read their own, auditors read
    # everything except personal data (sealed texts, party details)
    Action.MANAGE_CONVENTION: {Role.STAFF: _A},
    Action.READ_CONVENTION: {role: _A for role in Role},
    Action.MAKE_PLEDGE: {Role.STAFF: _A, Role.MEMBER: _O},
    Action.CHECK_IN_PLEDGE: {Role.MEMBER: _O},
    Action.READ_PLEDGE: {Role.STAFF: _A, Role.AUDITOR: _A, Role.MEDIATOR: _A,
                         Role.MEMBER: _O},
    Action.RECORD_MEDIATION: {Role.STAFF: _A, Role.MEDIATOR: _A},
    Action.READ_CASE: {Role.STAFF: _A, Role.MEDIATOR: _A, Role.AUDITOR: _A,
                       Role.MEMBER: _O},
    Action.READ_CASE_TEXT: {Role.STAFF: _A, Role.MEDIATOR: _A, Role.MEMBER: _O},
    Action.READ_PARTY_DETAILS: {Role.STAFF: _A, Role.MEDIATOR: _A},
    Action.ERASE_PARTY_DETAILS: {Role.STAFF: _A},
}
"""Action -> role -> scope. Administrators are allowed everything and not listed."""

_STAFF_CHANNELS = frozenset({Channel.API, Channel.SERVICE_WINDOW, Channel.PAPER})


@dataclass(frozen=True)
class Acting:
    """How a permitted command is recorded: by whom, through what, for whom."""

    actor: str
    channel: str
    on_behalf_of: UUID | None


def allowed(principal: Principal, action: Action, accounts: Collection[UUID] = ()) -> bool:
    """True when ``principal`` may perform ``action`` on ``accounts``."""
    if principal.role is Role.ADMIN:
        return True
    scope = POLICY[action].get(principal.role)
    if scope is Scope.ANY:
        return True
    return (scope is Scope.OWN and principal.subject is not None
            and principal.subject in accounts)


def authorise(principal: Principal | None, action: Action,
              accounts: Collection[UUID] = ()) -> Principal:
    """The principal, when it may perform ``action`` on ``accounts``; else raise."""
    if principal is None:
        raise Unauthenticated("a valid bearer token is required")
    if not allowed(principal, action, accounts):
        what = action.value.replace("_", " ")
        # The same words whether the record is someone else's or missing (see
        # web.auth.found): a refusal must not tell which.
        if POLICY[action].get(principal.role) is Scope.OWN:
            raise Forbidden(f"a {principal.role.value} may {what} only for its own account")
        raise Forbidden(f"a {principal.role.value} may not {what}")
    return principal


def acting_as(principal: Principal, *, channel: str | None = None,
              on_behalf_of: UUID | None = None, member: UUID | None = None) -> Acting:
    """How to record a command ``principal`` is already authorised for.

    ``member`` is the member whose time moves (a redemption, gift or donation
    from their account); when staff or an administrator move it, the event
    records them as acting on that member's behalf.
    """
    return Acting(actor=principal.actor, channel=_channel(principal, channel),
                  on_behalf_of=_on_behalf_of(principal, on_behalf_of, member))


def _channel(principal: Principal, requested: str | None) -> str:
    if requested is None or requested == Channel.API:
        return Channel.API.value
    if principal.role is Role.ADMIN:
        return Channel(requested).value
    if principal.role is Role.STAFF and requested in _STAFF_CHANNELS:
        return Channel(requested).value
    raise Forbidden(f"a {principal.role.value} may not record through the "
                    f"{requested} channel", field="channel")


def _on_behalf_of(principal: Principal, requested: UUID | None,
                  member: UUID | None) -> UUID | None:
    if principal.role not in (Role.ADMIN, Role.STAFF):
        if requested is not None:
            raise Forbidden("only staff act on behalf of a member", field="on_behalf_of")
        return None
    if member is None:
        return requested
    if requested is not None and requested != member:
        raise DomainError("staff act on behalf of the member whose time moves",
                          field="on_behalf_of", rule="on_behalf_of_member")
    return member
