"""Rotating the log key and the master key, on every backend: checkpoints signed
before stay verifiable with the retired key, the hand-over checkpoint carries
both signatures, proofs span the rotation; member data survives a new master key."""

from __future__ import annotations

import os
from uuid import UUID, uuid4

import pytest

from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.audit import verify_live
from ledger.checkpoints import generate_signer_key, parse_signer_key, verify_checkpoint
from ledger.keys import KeyDirectory
from ledger.merkle import verify_consistency
from ledger.storage import Database
from ledger.transparency import TransparencyLog


def credit(bank: TimeBank, town: dict[str, UUID], minutes: int) -> None:
    """One service credit from the organisation to the member."""
    bank.record(TransferRequest(
        transfer_id=uuid4(), kind="service_credit", debit_account_id=town["org"],
        credit_account_id=town["ada"], minutes=minutes, category="errands",
        service_date="2026-11-20", pending=False, actor="staff:test", on_behalf_of=None,
        channel="api"))


def town_in(bank: TimeBank) -> dict[str, UUID]:
    """A community, an organisation and one member with personal data."""
    community = bank.register_community("Elm Street")
    org = bank.open_organisation(community["id"], "Care NGO", budget=600)
    ada = bank.open_member(community["id"], profile={"display_name": "Ada"})
    return {"org": org.id, "ada": ada.id}


def test_a_rotated_log_key_keeps_old_checkpoints_verifiable_and_proofs_span_it(
        database_url: str, master_key: bytes) -> None:
    old_skey, old_vkey = generate_signer_key("civic-ledger.test/log")
    new_skey, new_vkey = generate_signer_key("civic-ledger.test/log")
    database = Database.parse(database_url)
    bank = TimeBank(database, master_key, log_signer=parse_signer_key(old_skey))
    town = town_in(bank)
    credit(bank, town, 30)
    before = bank.audit_log.checkpoint()
    handover = bank.audit_log.hand_over(parse_signer_key(new_skey))
    assert verify_checkpoint(handover, old_vkey)[1] == []
    assert verify_checkpoint(handover, new_vkey)[1] == []
    # a restarted server: the same store, the new key
    log = TransparencyLog(bank.audit_log.source, parse_signer_key(new_skey))
    assert log.checkpoint() == handover  # nothing new: the co-signed note
    credit(bank, town, 15)
    after = log.checkpoint()
    old_cp, problems = verify_checkpoint(before, old_vkey)
    new_cp, _ = verify_checkpoint(after, new_vkey)
    assert problems == [] and old_cp is not None and new_cp is not None
    assert verify_checkpoint(after, old_vkey)[0] is None
    proof = log.consistency(old_cp.size, new_cp.size)
    assert verify_consistency(old_cp.size, new_cp.size, proof, old_cp.root, new_cp.root) == []
    assert verify_live(log, vkey=[new_vkey], kept_checkpoint=before) != []
    assert verify_live(log, vkey=[new_vkey, old_vkey], kept_checkpoint=before) == []
    bank.close()


def test_a_new_master_key_reads_every_member_and_the_old_one_is_kept(
        durable_database_url: str, tmp_path) -> None:
    keys = KeyDirectory(tmp_path / "keys")
    keys.ensure()
    database = Database.parse(durable_database_url)
    bank = TimeBank(database, keys.master_key())
    ada = town_in(bank)["ada"]
    bo = bank.open_member(bank.account(ada).community_id, profile={"display_name": "Bo"}).id
    old = keys.master_key()
    new = keys.next_master_key()
    assert keys.next_master_key() == new  # an interrupted rotation resumes with it
    assert bank.personal.rewrap(new) == 2
    assert bank.personal.rewrap(new) == 0  # a rerun finds nothing left to do
    retired = keys.install_master_key()
    assert keys.master_key() == new != old and retired.read_bytes() == old
    assert oct(retired.stat().st_mode & 0o777) == "0o600"
    bank.close()
    bank = TimeBank(database, new)  # a restarted server
    assert bank.member(ada).profile == {"display_name": "Ada"}
    assert bank.member(bo).profile == {"display_name": "Bo"}
    bank.close()
    bank = TimeBank(database, old)
    with pytest.raises(ValueError, match="master key does not unwrap"):
        bank.member(ada)
    with pytest.raises(ValueError, match="neither master key"):
        bank.personal.rewrap(os.urandom(32))
    bank.close()
