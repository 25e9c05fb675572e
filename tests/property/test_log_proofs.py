"""For random histories, every proof the log serves verifies and every root equals a
from-scratch recomputation over the stored events."""

from __future__ import annotations

import os
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.transfers import TransferRequest
from ledger.application import TimeBank
from ledger.checkpoints import generate_signer_key, parse_signer_key, verify_checkpoint
from ledger.log import stored_event_leaf
from ledger.merkle import leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion
from ledger.storage import Database

SIGNER, VKEY = generate_signer_key("property.test/log")

operations = st.lists(st.tuples(st.sampled_from(["credit", "pending", "gift", "member"]),
                                st.integers(min_value=1, max_value=500)),
                      min_size=1, max_size=25)


def build(ops: list[tuple[str, int]]) -> TimeBank:
    """A bank with a random history."""
    bank = TimeBank(Database.parse("memory://"), os.urandom(32),
                    log_signer=parse_signer_key(SIGNER))
    community = bank.register_community("Elm")
    org = bank.open_organisation(community["id"], "NGO", budget=5000)
    members = [bank.open_member(community["id"]).id for _ in range(2)]
    for kind, minutes in ops:
        if kind == "member":
            members.append(bank.open_member(community["id"]).id)
            continue
        debit, credit = (members[0], members[-1]) if kind == "gift" else (org.id, members[-1])
        try:
            bank.record(TransferRequest(uuid4(), "gift" if kind == "gift" else "service_credit",
                                        debit, credit, minutes, "care", "2026-11-20",
                                        kind == "pending", "staff:p", None, "api"))
        except DomainError:
            pass
    return bank


@settings(max_examples=40, deadline=None)
@given(operations)
def test_every_served_proof_verifies_and_roots_match_a_recomputation(ops):
    bank = build(ops)
    log = bank.audit_log
    hashes = [leaf_hash(stored_event_leaf(n))
              for n in bank.recorder.select_notifications(1, 100000)]
    size = log.size()
    assert size == len(hashes)
    checkpoint, findings = verify_checkpoint(log.checkpoint(), VKEY)
    assert findings == [] and checkpoint is not None
    assert checkpoint.root == root_from_leaf_hashes(hashes)
    for index in range(size):
        proof = log.inclusion(index, size)
        assert verify_inclusion(log.leaf_hash(index), index, size, proof, checkpoint.root) == []
    for old in range(1, size + 1):
        assert log.root(old) == root_from_leaf_hashes(hashes[:old])
        proof = log.consistency(old, size)
        assert verify_consistency(old, size, proof, log.root(old), checkpoint.root) == []
