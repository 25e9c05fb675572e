"""A small demo community, so a newcomer sees a lived-in ledger on first start.

Why fixed ids: every id here is a ``uuid5`` of a fixed name, so seeding twice
is a series of idempotent retries (the service layer returns what it already
made) and never doubles the data. Dates and actors are fixed for the same
reason: a retried transfer must carry exactly the payload of the first.

Only the service layer is used (``TimeBank``); nothing here knows HTTP.
Tokens are the one thing issued afresh on every call: the store keeps only
their hashes, so an old token cannot be shown again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.errors import NotFound
from domain.transfers import Channel, TransferKind, TransferRequest
from ledger.application import TimeBank
from ledger.demo_civic import seed_civic_demo
from ledger.partners import PartnerDesk
from ledger.tokens import Role

DEMO_NAMESPACE = uuid5(NAMESPACE_URL, "https://civic-ledger.org/demo")
DEMO_ACTOR = "system:demo"
COMMUNITY_NAME = "Elm Street Time Bank"
MEMBER_NAMES = ("Ada Okafor", "Bo Lindqvist", "Chidi Mensah", "Dana Kowalski", "Emil Novak")
ORGANISATIONS = (("Riverside Care Collective", 100 * 60), ("Northside Library", 40 * 60))


def demo_id(name: str) -> UUID:
    """The fixed id of one demo thing (the same on every machine and every run)."""
    return uuid5(DEMO_NAMESPACE, name)


@dataclass(frozen=True)
class DemoCommunity:
    """The ids of the demo's community and accounts."""

    community: UUID
    members: tuple[UUID, ...]
    organisations: tuple[UUID, ...]
    pool: UUID
    issuance: UUID

    def credentials(self, tokens: dict[str, str],
                    partner_key: dict[str, str] | None = None) -> dict[str, Any]:
        """The credentials document: tokens and ids (as strings) for a client.

        The member token belongs to ``members[0]``, the partner token to
        ``organisations[0]``; so does ``partner_key`` (``key_id`` and
        ``private_key_pem``, for signed partner postings), when given.
        """
        document = {"tokens": dict(tokens),
                    "accounts": {"members": [str(m) for m in self.members],
                                 "organisations": [str(o) for o in self.organisations],
                                 "pool": str(self.pool), "issuance": str(self.issuance)},
                    "community": str(self.community)}
        if partner_key is not None:
            document["partner_key"] = dict(partner_key)
        return document


def demo_exists(bank: TimeBank) -> bool:
    """True when this store already holds the demo community."""
    try:
        bank.community(demo_id("community"))
    except NotFound:
        return False
    return True


def seed_demo(bank: TimeBank) -> DemoCommunity:
    """Create the demo community and its history; a second call changes nothing."""
    community = bank.register_community(COMMUNITY_NAME, community_id=demo_id("community"))
    cid = community["id"]
    members = tuple(
        bank.open_member(cid, profile={"display_name": name},
                         account_id=demo_id(f"member/{n}")).id
        for n, name in enumerate(MEMBER_NAMES))
    organisations = tuple(
        bank.open_organisation(cid, name, budget=budget,
                               account_id=demo_id(f"organisation/{n}")).id
        for n, (name, budget) in enumerate(ORGANISATIONS))
    demo = DemoCommunity(community=cid, members=members, organisations=organisations,
                         pool=community["pool_account"],
                         issuance=community["issuance_account"])
    _record_history(bank, demo)
    # Civic records: a convention with pledges, a signed quiet-hours agreement.
    seed_civic_demo(bank, cid, members)
    return demo


def issue_demo_tokens(bank: TimeBank, demo: DemoCommunity) -> dict[str, str]:
    """Fresh tokens for each role; partner and member are bound to the first ones."""
    subjects: dict[Role, UUID | None] = {
        Role.ADMIN: None, Role.STAFF: None, Role.AUDITOR: None,
        Role.PARTNER: demo.organisations[0], Role.MEMBER: demo.members[0]}
    return {role.value: bank.tokens.issue(role, subject)[0]
            for role, subject in subjects.items()}


def _record_history(bank: TimeBank, demo: DemoCommunity) -> None:
    ada, bo, chidi, dana, emil = demo.members
    care, library = demo.organisations
    credit, redeem = TransferKind.SERVICE_CREDIT, TransferKind.REDEMPTION
    gift, donate = TransferKind.GIFT, TransferKind.DONATION
    steps: list[tuple[str, TransferKind, UUID, UUID, int, str, str, bool]] = [
        ("visit-ada", credit, care, ada, 120, "elderly-companionship", "2025-10-06", False),
        ("visit-bo", credit, care, bo, 90, "elderly-companionship", "2025-10-07", False),
        ("reading-chidi", credit, library, chidi, 60, "reading-club", "2025-10-08", False),
        ("garden-dana", credit, demo.issuance, dana, 180, "community-garden",
         "2025-10-09", False),
        ("repair-bo", credit, library, bo, 40, "repair-cafe", "2025-10-10", False),
        ("shopping-emil", credit, care, emil, 45, "errands", "2025-10-11", True),
        ("class-ada", redeem, ada, library, 30, "language-class", "2025-10-13", False),
        ("bike-bo", redeem, bo, ada, 15, "bike-repair", "2025-10-14", False),
        ("gift-ada-chidi", gift, ada, chidi, 20, "gift", "2025-10-15", False),
        ("donation-dana", donate, dana, demo.pool, 60, "donation", "2025-10-16", False),
        ("grant-emil", gift, demo.pool, emil, 30, "pool-grant", "2025-10-17", False),
    ]
    for name, kind, debit, credit_to, minutes, category, day, pending in steps:
        channel = Channel.PAPER if kind is credit else Channel.SERVICE_WINDOW
        bank.record(TransferRequest(
            transfer_id=demo_id(f"transfer/{name}"), kind=kind.value,
            debit_account_id=debit, credit_account_id=credit_to, minutes=minutes,
            category=category, service_date=day, pending=pending, actor=DEMO_ACTOR,
            on_behalf_of=None, channel=channel.value))
    # The repair café credit went to the wrong volunteer: undone by a linked reversal.
    bank.reverse(demo_id("transfer/repair-bo"), actor=DEMO_ACTOR,
                 channel=Channel.SERVICE_WINDOW.value)


def demo_partner_key(bank: TimeBank, demo: DemoCommunity, secret: bytes) -> dict[str, str]:
    """The first demo organisation's signing key, registered in its keyring.

    Why derived from ``secret`` (the master key) rather than random: running the
    demo again must add nothing to the log, and a key is never registered twice
    (not even after revocation). The same installation therefore always gets
    the same key, registered once; another installation gets another key.
    """
    organisation = demo.organisations[0]
    seed = hmac.new(secret, b"civic-ledger demo partner key/" + organisation.bytes,
                    hashlib.sha256).digest()
    private = Ed25519PrivateKey.from_private_bytes(seed)
    public = base64.b64encode(private.public_key().public_bytes_raw()).decode("ascii")
    key_id = "demo-" + hashlib.sha256(public.encode("ascii")).hexdigest()[:16]
    PartnerDesk(bank).add_key(organisation, key_id, public)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    return {"key_id": key_id, "private_key_pem": pem}
