"""A partner organisation's keyring, without storage.

Each rule is pinned with the exact error class, rule and field, and each
refusal is checked to leave the keyring without a new event. Replaying the
events rebuilds the same state, as loading from the store will.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.application import Application

from domain.communities import derived_id
from domain.errors import DomainError, NotFound
from domain.partner_keys import (
    InvalidPartnerKey,
    KeyIdTaken,
    KeyReused,
    PartnerKeyring,
    UnknownPartnerKey,
    keyring_id,
)

AT = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def public_key(seed: str) -> str:
    """Base64 of 32 bytes, shaped like a raw Ed25519 public key."""
    return base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()


KEY_A, KEY_B, KEY_C = public_key("a"), public_key("b"), public_key("c")


def keyring(*key_ids: str) -> PartnerKeyring:
    """A saved keyring holding ``key_ids`` (keys derived from the ids)."""
    ring = PartnerKeyring.register(organisation_id=uuid4())
    for key_id in key_ids:
        ring.add_key(key_id, public_key(key_id), AT)
    ring.collect_events()
    return ring


def assert_refused(ring: PartnerKeyring, error: type[DomainError], rule: str,
                   field: str | None, command: str, *args: Any) -> None:
    """``command`` is refused with exactly this error and adds no event."""
    version, state = ring.version, ring.summary()
    with pytest.raises(error) as caught:
        getattr(ring, command)(*args)
    assert (caught.value.rule, caught.value.field) == (rule, field)
    assert ring.collect_events() == []
    assert (ring.version, ring.summary()) == (version, state)


def replayed(ring: PartnerKeyring, events: list[Any]) -> PartnerKeyring:
    """The keyring rebuilt from its events alone."""
    rebuilt = None
    for domain_event in events:
        rebuilt = domain_event.mutate(rebuilt)
    assert isinstance(rebuilt, PartnerKeyring)
    return rebuilt


def test_a_keyring_id_is_derived_from_its_organisation():
    organisation = uuid4()
    ring = PartnerKeyring.register(organisation_id=organisation)
    assert ring.id == keyring_id(organisation) == derived_id("keyring", organisation)
    assert ring.organisation_id == organisation
    assert [type(e).__name__ for e in ring.collect_events()] == ["Registered"]


def test_an_added_key_is_active():
    ring = keyring()
    ring.add_key("partner-1", KEY_A, AT)
    assert ring.active_key("partner-1") == KEY_A
    assert ring.active_key("partner-2") is None
    (added,) = ring.collect_events()
    assert (type(added).__name__, added.key_id, added.public_key, added.added_at) == (
        "KeyAdded", "partner-1", KEY_A, AT)


def test_a_key_id_is_never_reused_even_after_revocation():
    ring = keyring("partner-1")
    assert_refused(ring, KeyIdTaken, "key_id_taken", "key_id", "add_key", "partner-1",
                   KEY_B, AT)
    ring.revoke_key("partner-1", "lost laptop")
    ring.collect_events()
    assert_refused(ring, KeyIdTaken, "key_id_taken", "key_id", "add_key", "partner-1",
                   KEY_B, AT)


def test_a_revoked_public_key_cannot_come_back_under_a_new_id():
    ring = keyring()
    ring.add_key("old", KEY_A, AT)
    ring.revoke_key("old", "compromised")
    ring.collect_events()
    assert_refused(ring, KeyReused, "public_key_reused", "public_key", "add_key", "new",
                   KEY_A, AT)


@pytest.mark.parametrize("bad", [
    "", "not base64!", KEY_A.rstrip("="), base64.b64encode(bytes(31)).decode(),
    base64.b64encode(bytes(33)).decode(), KEY_A + "AAAA", " " + KEY_A, 32, None,
    base64.urlsafe_b64encode(b"\xfb" * 32).decode(),
])
def test_a_malformed_public_key_is_refused(bad):
    assert_refused(keyring(), InvalidPartnerKey, "invalid_partner_key", "public_key",
                   "add_key", "partner-1", bad, AT)


@pytest.mark.parametrize("bad", ["", " key", "key id", 'k"1', "k\n", "-lead", "x" * 129,
                                 "caf\u00e9", 7, None])
def test_a_malformed_key_id_is_refused(bad):
    assert_refused(keyring(), InvalidPartnerKey, "invalid_partner_key", "key_id",
                   "add_key", bad, KEY_A, AT)


def test_key_ids_may_be_urls_or_rfc_style_names():
    ring = keyring()
    ring.add_key("test-key-ed25519", KEY_A, AT)
    ring.add_key("https://food-bank.example/keys/2026-11", KEY_B, AT)
    ring.add_key("x" * 128, KEY_C, AT)
    assert len(ring.summary()["keys"]) == 3


@pytest.mark.parametrize("bad", [dt.datetime(2026, 11, 20, 9, 30), "2026-11-20T09:30Z",
                                 AT.astimezone(dt.timezone(dt.timedelta(hours=1)))])
def test_the_time_a_key_was_added_must_be_utc(bad):
    assert_refused(keyring(), InvalidPartnerKey, "invalid_partner_key", "added_at",
                   "add_key", "partner-1", KEY_A, bad)


def test_a_revoked_key_is_no_longer_active():
    ring = keyring("partner-1", "partner-2")
    ring.revoke_key("partner-1", "rotated by hand")
    assert ring.active_key("partner-1") is None
    assert ring.active_key("partner-2") == public_key("partner-2")
    (revoked,) = ring.collect_events()
    assert (type(revoked).__name__, revoked.key_id, revoked.reason) == (
        "KeyRevoked", "partner-1", "rotated by hand")


def test_revoking_a_revoked_key_changes_nothing():
    ring = keyring("partner-1")
    ring.revoke_key("partner-1", "first")
    ring.collect_events()
    ring.revoke_key("partner-1", "second")
    assert ring.collect_events() == []
    assert ring.summary()["keys"][0]["reason"] == "first"


def test_revoking_an_unknown_key_is_not_found():
    ring = keyring("partner-1")
    assert_refused(ring, UnknownPartnerKey, "partner_key_not_found", "key_id",
                   "revoke_key", "partner-9", "")
    with pytest.raises(NotFound):
        ring.revoke_key("partner-9")
    with pytest.raises(DomainError):
        ring.revoke_key("partner-9")


def test_a_revocation_reason_is_short_text():
    assert_refused(keyring("partner-1"), InvalidPartnerKey, "invalid_partner_key", "reason",
                   "revoke_key", "partner-1", "x" * 201)


def test_rotation_adds_the_new_key_and_revokes_the_old_in_one_command():
    ring = keyring("2026-10")
    ring.rotate("2026-10", "2026-11", KEY_A, AT)
    assert ring.active_key("2026-10") is None
    assert ring.active_key("2026-11") == KEY_A
    events = ring.collect_events()
    assert [(type(e).__name__, e.key_id) for e in events] == [
        ("KeyAdded", "2026-11"), ("KeyRevoked", "2026-10")]
    assert events[1].reason == "rotated"


def test_rotating_away_from_an_already_revoked_key_only_adds_the_new_one():
    ring = keyring("old")
    ring.revoke_key("old", "lost")
    ring.collect_events()
    ring.rotate("old", "new", KEY_A, AT)
    assert [type(e).__name__ for e in ring.collect_events()] == ["KeyAdded"]


def test_a_refused_rotation_changes_nothing():
    ring = keyring("old")
    assert_refused(ring, UnknownPartnerKey, "partner_key_not_found", "key_id", "rotate",
                   "missing", "new", KEY_A, AT)
    assert_refused(ring, KeyIdTaken, "key_id_taken", "key_id", "rotate", "old", "old",
                   KEY_A, AT)
    assert_refused(ring, InvalidPartnerKey, "invalid_partner_key", "public_key", "rotate",
                   "old", "new", "bad", AT)
    assert_refused(ring, KeyReused, "public_key_reused", "public_key", "rotate", "old",
                   "new", public_key("old"), AT)
    assert ring.active_key("old") == public_key("old")


def test_an_unrestricted_partner_may_record_any_category():
    assert keyring().allows("gardening")


def test_allowed_categories_restrict_the_partner_and_an_empty_list_lifts_it():
    ring = keyring()
    ring.allow_categories(["food", "transport", "food"])
    assert ring.categories == ["food", "transport"]
    assert ring.allows("food") and not ring.allows("gardening")
    (allowed,) = ring.collect_events()
    assert (type(allowed).__name__, allowed.categories) == (
        "CategoriesAllowed", ["food", "transport"])
    ring.allow_categories([])
    assert ring.allows("gardening")


def test_allowing_the_same_categories_again_adds_no_event():
    ring = keyring()
    ring.allow_categories(["food"])
    ring.collect_events()
    ring.allow_categories(["food"])
    assert ring.collect_events() == []


@pytest.mark.parametrize("bad", [["food", ""], ["  "], ["x" * 101], "food", [1], None])
def test_malformed_categories_are_refused(bad):
    assert_refused(keyring(), InvalidPartnerKey, "invalid_partner_key", "categories",
                   "allow_categories", bad)


def test_replaying_the_events_rebuilds_the_same_keyring():
    ring = PartnerKeyring.register(organisation_id=uuid4())
    ring.add_key("a", KEY_A, AT)
    ring.rotate("a", "b", KEY_B, AT, "yearly")
    ring.allow_categories(["food"])
    rebuilt = replayed(ring, ring.collect_events())
    assert rebuilt.summary() == ring.summary()
    assert rebuilt.version == ring.version


def test_the_keyring_survives_the_event_store_round_trip():
    app = Application()
    ring = PartnerKeyring.register(organisation_id=uuid4())
    ring.add_key("a", KEY_A, AT)
    ring.revoke_key("a", "done")
    ring.add_key("b", KEY_B, AT)
    ring.allow_categories(["food", "care"])
    app.save(ring)
    loaded = app.repository.get(ring.id)
    assert loaded.summary() == ring.summary()
    assert loaded.active_key("b") == KEY_B and loaded.allows("care")
