"""Merkle maths (RFC 9162 section 2.1): published values and laws on random trees.

Why: every promise the audit log makes rests on these functions. The oracle
is a reference written straight from the RFC's recursive definitions (MTH,
PATH, SUBPROOF) plus the roots published by transparency-dev/merkle; the
fast streaming and proof code is held to both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.merkle import (
    EMPTY_ROOT,
    ProofError,
    TreeBuilder,
    consistency_proof,
    hash_range_from_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# transparency-dev/merkle testonly/constants.go: LeafInputs, RootHashes, NodeHashes.
RFC6962_INPUTS = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
]
PUBLISHED_ROOTS = [bytes.fromhex(h) for h in [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]]
PUBLISHED_NODES = {
    (1, 0): "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    (1, 1): "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    (1, 2): "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    (1, 3): "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    (2, 0): "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    (2, 1): "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    (3, 0): "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

entries = st.lists(st.binary(max_size=6), min_size=1, max_size=70, unique=True)


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 2.1.1 defines it."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + _mth(d[:k]) + _mth(d[k:])).digest()


def _path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    return _path(m, d[:k]) + [_mth(d[k:])] if m < k else _path(m - k, d[k:]) + [_mth(d[:k])]


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1."""
    if m == len(d):
        return [] if b else [_mth(d)]
    k = _k(len(d))
    if m <= k:
        return _subproof(m, d[:k], b) + [_mth(d[k:])]
    return _subproof(m - k, d[k:], False) + [_mth(d[:k])]


def _flip_each_bit(proof: list[bytes]) -> list[list[bytes]]:
    out = []
    for i, item in enumerate(proof):
        for bit in range(len(item) * 8):
            changed = bytearray(item)
            changed[bit // 8] ^= 1 << (bit % 8)
            out.append(proof[:i] + [bytes(changed)] + proof[i + 1 :])
    return out


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT == PUBLISHED_ROOTS[0] == root_from_leaf_hashes([]) == TreeBuilder().root()


def test_leaf_and_node_hashes_carry_their_domain_prefixes() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"L", b"R") == hashlib.sha256(b"\x01LR").digest()


@pytest.mark.parametrize("size", range(9))
def test_roots_of_the_rfc6962_test_tree_match_the_published_values(size: int) -> None:
    leaves = [leaf_hash(d) for d in RFC6962_INPUTS[:size]]
    assert root_from_leaf_hashes(leaves) == PUBLISHED_ROOTS[size]
    assert _mth(RFC6962_INPUTS[:size]) == PUBLISHED_ROOTS[size]


def test_building_the_test_tree_reports_every_published_node() -> None:
    builder, seen = TreeBuilder(), {}
    for data in RFC6962_INPUTS:
        seen.update({(lvl, i): h for lvl, i, h in builder.append_with_nodes(leaf_hash(data))})
    assert {key: seen[key].hex() for key in PUBLISHED_NODES} == PUBLISHED_NODES
    assert builder.subtree_roots == (PUBLISHED_ROOTS[8],)


def test_builder_keeps_one_subtree_root_per_set_bit_of_its_size() -> None:
    builder = TreeBuilder()
    builder.extend(leaf_hash(d) for d in RFC6962_INPUTS[:7])
    assert builder.size == 7
    assert [h.hex() for h in builder.subtree_roots] == [
        PUBLISHED_NODES[(2, 0)], PUBLISHED_NODES[(1, 2)], leaf_hash(RFC6962_INPUTS[6]).hex()
    ]


@given(entries)
def test_streaming_builder_root_equals_the_recursive_definition(data: list[bytes]) -> None:
    builder = TreeBuilder()
    for i, item in enumerate(data):
        builder.append(leaf_hash(item))
        assert builder.root() == _mth(data[: i + 1])


@given(entries, st.data())
def test_a_resumed_builder_continues_where_the_first_stopped(
    data: list[bytes], draw: st.DataObject
) -> None:
    cut = draw.draw(st.integers(0, len(data)))
    first = TreeBuilder()
    first.extend(leaf_hash(d) for d in data[:cut])
    second = TreeBuilder.resume(first.size, first.subtree_roots)
    second.extend(leaf_hash(d) for d in data[cut:])
    assert second.root() == _mth(data)


@given(entries)
def test_every_inclusion_proof_matches_rfc_path_and_verifies(data: list[bytes]) -> None:
    leaves, root = [leaf_hash(d) for d in data], _mth(data)
    for index in range(len(data)):
        proof = inclusion_proof(index, len(data), leaves)
        assert proof == _path(index, data)
        assert verify_inclusion(leaves[index], index, len(data), proof, root) == []


@given(entries, st.data())
def test_every_consistency_proof_matches_rfc_subproof_and_verifies(
    data: list[bytes], draw: st.DataObject
) -> None:
    size1 = draw.draw(st.integers(1, len(data)))
    size2 = draw.draw(st.integers(size1, len(data)))
    proof = consistency_proof(size1, size2, [leaf_hash(d) for d in data])
    assert proof == _subproof(size1, data[:size2], True)
    assert verify_consistency(size1, size2, proof, _mth(data[:size1]), _mth(data[:size2])) == []


def _counting_node_store(leaves: list[bytes]) -> tuple[Callable[[int, int], bytes], list[int]]:
    builder, nodes, calls = TreeBuilder(), {}, [0]
    for h in leaves:
        nodes.update({(lvl, i): node for lvl, i, node in builder.append_with_nodes(h)})

    def get_node(level: int, index: int) -> bytes:
        calls[0] += 1
        return nodes[(level, index)]

    return get_node, calls


@given(entries, st.data())
def test_proofs_from_stored_nodes_equal_proofs_from_leaves(
    data: list[bytes], draw: st.DataObject
) -> None:
    leaves = [leaf_hash(d) for d in data]
    get_node, calls = _counting_node_store(leaves)
    hash_range = hash_range_from_nodes(get_node)
    size = draw.draw(st.integers(1, len(data)))
    index, size1 = draw.draw(st.integers(0, size - 1)), draw.draw(st.integers(1, size))
    assert inclusion_proof(index, size, hash_range) == inclusion_proof(index, size, leaves)
    assert consistency_proof(size1, size, hash_range) == consistency_proof(size1, size, leaves)
    depth = size.bit_length()
    assert calls[0] <= 2 * depth * depth  # O(log^2 n) node reads, never O(n)


@given(entries, st.data())
def test_any_single_bit_flip_in_an_inclusion_proof_is_rejected(
    data: list[bytes], draw: st.DataObject
) -> None:
    leaves, root = [leaf_hash(d) for d in data], _mth(data)
    index = draw.draw(st.integers(0, len(data) - 1))
    proof = inclusion_proof(index, len(data), leaves)
    for bad in _flip_each_bit(proof):
        assert verify_inclusion(leaves[index], index, len(data), bad, root) == [
            "inclusion proof does not lead to the given root"
        ]


@given(entries, st.data())
def test_any_single_bit_flip_in_a_consistency_proof_is_rejected(
    data: list[bytes], draw: st.DataObject
) -> None:
    size1 = draw.draw(st.integers(1, len(data)))
    size2 = draw.draw(st.integers(size1, len(data)))
    proof = consistency_proof(size1, size2, [leaf_hash(d) for d in data])
    root1, root2 = _mth(data[:size1]), _mth(data[:size2])
    for bad in _flip_each_bit(proof):
        assert "proof does not lead to root2" in verify_consistency(size1, size2, bad, root1, root2)


@given(entries, st.data())
def test_a_proof_for_one_index_does_not_prove_another(
    data: list[bytes], draw: st.DataObject
) -> None:
    leaves, root = [leaf_hash(d) for d in data], _mth(data)
    index = draw.draw(st.integers(0, len(data) - 1))
    other = draw.draw(st.integers(0, len(data)))
    proof = inclusion_proof(index, len(data), leaves)
    if other != index:
        assert verify_inclusion(leaves[index], other, len(data), proof, root) != []


def test_proof_lengths_are_checked_before_any_hashing() -> None:
    leaves = [leaf_hash(d) for d in RFC6962_INPUTS]
    proof = inclusion_proof(2, 8, leaves)
    assert verify_inclusion(leaves[2], 2, 8, proof + [EMPTY_ROOT], PUBLISHED_ROOTS[8]) == [
        "proof has 4 hash(es), expected 3"
    ]
    assert verify_consistency(3, 8, [], PUBLISHED_ROOTS[3], PUBLISHED_ROOTS[8]) == [
        "proof is empty but size1 < size2 needs one"
    ]


H = EMPTY_ROOT
MALFORMED_INCLUSION = [
    ((H, -1, 4, [H, H], H), "index must be a non-negative integer"),
    ((H, 0, True, [], H), "size must be a non-negative integer"),
    ((H, 0, 2, None, H), "proof must be a list of hashes"),
    ((H, 0, 2, ["not bytes"], H), "proof hash 0 is not a 32-byte hash"),
    ((H[:31], 0, 2, [H], H), "leaf hash is 31 bytes, expected 32"),
    ((H, 0, 2, [H], "root"), "root must be bytes"),
    ((H, 2**80, 2**80, [], H), f"index {2**80} is not below tree size {2**80}"),
    ((H, 0, 0, [], H), "index 0 is not below tree size 0"),
]


@pytest.mark.parametrize(("args", "finding"), MALFORMED_INCLUSION)
def test_malformed_inclusion_input_gives_the_exact_finding(args: tuple, finding: str) -> None:
    assert finding in verify_inclusion(*args)


MALFORMED_CONSISTENCY = [
    ((5, 3, [], H, H), "size1 5 is larger than size2 3: a log never shrinks"),
    ((0, 3, [], H, H), "size1 is 0: RFC 9162 defines consistency only for 0 < size1 < size2"),
    ((3, 3, [H], H, H), "proof must be empty when the sizes are equal"),
    ((0, 0, [], H[:4], H[:4]), "the root of the empty tree must be SHA-256 of nothing"),
    ((2, 3, [H], H[:5], H), "root1 is 5 bytes, expected 32"),
    ((2, 3, (H, 7), H, H), "proof hash 1 is not a 32-byte hash"),
    ((2.0, 3, [H], H, H), "size1 must be a non-negative integer"),
    ((1, 1, [], "same", "same"), "root1 must be bytes"),
]


@pytest.mark.parametrize(("args", "finding"), MALFORMED_CONSISTENCY)
def test_malformed_consistency_input_gives_the_exact_finding(args: tuple, finding: str) -> None:
    assert finding in verify_consistency(*args)


@given(
    st.one_of(st.integers(), st.none(), st.binary()),
    st.one_of(st.integers(), st.text()),
    st.one_of(st.none(), st.lists(st.one_of(st.binary(max_size=40), st.integers()), max_size=6)),
    st.one_of(st.binary(max_size=40), st.integers()),
)
def test_verifiers_answer_any_garbage_with_findings_not_exceptions(
    a: object, b: object, proof: object, root: object
) -> None:
    assert isinstance(verify_inclusion(root, a, b, proof, root), list)  # type: ignore[arg-type]
    assert isinstance(verify_consistency(a, b, proof, root, root), list)  # type: ignore[arg-type]


def test_generators_refuse_ranges_outside_the_tree() -> None:
    leaves = [leaf_hash(d) for d in RFC6962_INPUTS]
    with pytest.raises(ProofError):
        inclusion_proof(8, 8, leaves)
    with pytest.raises(ProofError):
        consistency_proof(0, 8, leaves)
    with pytest.raises(ProofError):
        consistency_proof(5, 4, leaves)
    with pytest.raises(ProofError):
        inclusion_proof(0, 9, leaves)
    with pytest.raises(ProofError):
        hash_range_from_nodes(lambda level, index: H)(1, 3)
    with pytest.raises(ProofError):
        root_from_inclusion_proof(H, 0, 2, [])


def test_resume_refuses_a_state_that_does_not_fit_the_size() -> None:
    with pytest.raises(ProofError):
        TreeBuilder.resume(3, [H])
    with pytest.raises(ProofError):
        TreeBuilder().append(b"short")
