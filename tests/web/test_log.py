"""The verifiable log over HTTP: checkpoint, key, entries, proofs, and who may read them."""

from __future__ import annotations

import base64

import pytest

from ledger.checkpoints import verify_checkpoint
from ledger.log import decode_leaf
from ledger.merkle import leaf_hash, verify_consistency, verify_inclusion

from .conftest import LOG_VKEY, build_api, make_bank


def b64(text: str) -> bytes:
    """Decode standard base64."""
    return base64.b64decode(text)


def test_checkpoint_and_key_are_c2sp_text_that_verifies(api):
    key = api.get("/v1/log/key", as_="auditor")
    assert key.status_code == 200 and key.mimetype == "text/plain"
    assert key.get_data(as_text=True).strip() == LOG_VKEY
    note = api.get("/v1/log/checkpoint", as_="auditor")
    assert note.mimetype == "text/plain"
    checkpoint, findings = verify_checkpoint(note.get_data(as_text=True), LOG_VKEY)
    assert findings == [] and checkpoint.size == api.town.bank.audit_log.size()


def test_a_write_answers_its_log_indexes_and_the_proofs_verify(api):
    credit = api.post("/v1/credits", api.town.credit(), as_="partner").get_json()
    indexes = credit["log_indexes"]
    assert len(indexes) == 3
    note = api.get("/v1/log/checkpoint", as_="auditor").get_data(as_text=True)
    checkpoint, _ = verify_checkpoint(note, LOG_VKEY)
    entries = api.get(f"/v1/log/entries?start={indexes[0]}&limit=3",
                      as_="auditor").get_json()["entries"]
    assert [e["index"] for e in entries] == indexes
    topics = {decode_leaf(b64(e["data"]))[2] for e in entries}
    assert "domain.transfers:Transfer.Recorded" in topics
    for entry in entries:
        proof = api.get(f"/v1/log/proofs/inclusion?index={entry['index']}"
                        f"&size={checkpoint.size}", as_="auditor").get_json()
        assert b64(proof["leaf_hash"]) == leaf_hash(b64(entry["data"]))
        assert verify_inclusion(b64(proof["leaf_hash"]), entry["index"], checkpoint.size,
                                [b64(p) for p in proof["proof"]], checkpoint.root) == []


def test_consistency_proof_between_two_checkpoints_verifies(api):
    old_note = api.get("/v1/log/checkpoint", as_="auditor").get_data(as_text=True)
    api.post("/v1/credits", api.town.credit(), as_="partner")
    new_note = api.get("/v1/log/checkpoint", as_="auditor").get_data(as_text=True)
    old, _ = verify_checkpoint(old_note, LOG_VKEY)
    new, _ = verify_checkpoint(new_note, LOG_VKEY)
    body = api.get(f"/v1/log/proofs/consistency?from={old.size}&to={new.size}",
                   as_="auditor").get_json()
    assert body["from"] == old.size and body["to"] == new.size
    assert verify_consistency(old.size, new.size, [b64(p) for p in body["proof"]],
                              old.root, new.root) == []


@pytest.mark.parametrize("path,rule,field", [
    ("/v1/log/proofs/inclusion?index=999999&size=1", "log_range", "index"),
    ("/v1/log/proofs/inclusion?index=0&size=999999", "log_range", "size"),
    ("/v1/log/proofs/consistency?from=5&to=2", "log_range", "from"),
    ("/v1/log/entries?start=-1", "schema", "start"),
    ("/v1/log/proofs/inclusion?index=0", "schema", "size"),
])
def test_out_of_range_or_missing_parameters_are_named_problems(api, problem, path, rule,
                                                               field):
    problem(api.get(path, as_="auditor"), 422, rule, field)


@pytest.mark.parametrize("role", ["member", "partner", "mediator"])
def test_members_partners_and_mediators_may_not_read_the_log(api, problem, role):
    problem(api.get("/v1/log/checkpoint", as_=role), 403, "forbidden")


def test_anonymous_callers_need_a_token_unless_the_log_is_published(api, problem, master_key):
    problem(api.get("/v1/log/key", as_=None), 401, "unauthenticated")
    public = build_api(make_bank("memory://", master_key), LOG_PUBLIC=True)
    assert public.get("/v1/log/key", as_=None).status_code == 200
