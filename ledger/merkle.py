"""RFC 9162 Merkle tree hashing, proofs and proof verification.

Why this module exists: the audit log must be checkable by people who do not
trust us. A standard transparency-log tree (RFC 9162 section 2.1, the same
hashing as RFC 6962) lets any off-the-shelf verifier check that an entry is in
the log (inclusion) and that the log only ever grew (consistency).

Design:

* Pure and dependency-free (``hashlib`` only), so auditors can read it.
* :class:`TreeBuilder` folds leaves into a root in O(log n) memory by keeping
  only the roots of the perfect subtrees seen so far (a "compact range").
* Proof generators take a ``hash_range(start, end)`` callable returning the
  Merkle Tree Hash of ``leaves[start:end]`` and call it O(log n) times; a
  store backs it with saved perfect-subtree nodes via
  :func:`hash_range_from_nodes`, tests simply pass a list of leaf hashes.
* Verifiers return a list of findings (empty means valid) and never raise, so
  a hostile proof can only ever produce a finding, not a crash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

HashRange = Callable[[int, int], bytes]
"""``hash_range(start, end)`` -> MTH of ``leaves[start:end]``."""

GetNode = Callable[[int, int], bytes]
"""``get_node(level, index)`` -> root of leaves ``[index << level, (index + 1) << level)``."""

_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof was asked for outside the tree, or a malformed one was given."""


def leaf_hash(data: bytes) -> bytes:
    """Hash one log entry; the 0x00 prefix keeps leaves apart from nodes."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two children; the 0x01 prefix prevents second-preimage splicing."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


class TreeBuilder:
    """Streaming MTH: append leaf hashes, read the root at any time.

    Holds one hash per set bit of ``size`` (the perfect-subtree roots, left
    to right), so a verifier can refold millions of entries in little memory.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []

    @classmethod
    def resume(cls, size: int, subtree_roots: Sequence[bytes]) -> TreeBuilder:
        """Continue from a saved :attr:`subtree_roots` without refolding."""
        if size < 0 or len(subtree_roots) != size.bit_count():
            raise ProofError("a tree of this size needs one root per set bit of the size")
        if any(len(h) != HASH_SIZE for h in subtree_roots):
            raise ProofError("subtree roots must be 32-byte hashes")
        builder = cls()
        builder._size = size
        builder._stack = list(subtree_roots)
        return builder

    @property
    def size(self) -> int:
        """Number of leaves folded so far."""
        return self._size

    @property
    def subtree_roots(self) -> tuple[bytes, ...]:
        """Roots of the perfect subtrees, largest (leftmost) first."""
        return tuple(self._stack)

    def append(self, leaf_hash: bytes) -> None:
        """Fold in one leaf hash (amortised one node hash per leaf)."""
        self.extend((leaf_hash,))

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Fold in many leaf hashes; the hot loop of every audit."""
        stack = self._stack
        push, pop, sha = stack.append, stack.pop, _sha256
        size = self._size
        try:
            for h in leaf_hashes:
                if len(h) != 32:
                    raise ProofError("leaf hashes must be 32 bytes")
                # Each trailing 1-bit of size is a perfect subtree this leaf completes.
                n = size
                while n & 1:
                    h = sha(b"\x01" + pop() + h).digest()
                    n >>= 1
                push(h)
                size += 1
        finally:
            self._size = size

    def append_with_nodes(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Fold in one leaf and return each perfect node it completes.

        Returns ``(level, index, hash)`` triples, the leaf itself first, so a
        store can save exactly the nodes :func:`hash_range_from_nodes` reads.
        """
        if len(leaf_hash) != HASH_SIZE:
            raise ProofError("leaf hashes must be 32 bytes")
        index, h, level = self._size, leaf_hash, 0
        nodes = [(0, index, h)]
        while (index >> level) & 1:
            h = node_hash(self._stack.pop(), h)
            level += 1
            nodes.append((level, index >> level, h))
        self._stack.append(h)
        self._size += 1
        return nodes

    def root(self) -> bytes:
        """MTH of all leaves so far; the empty tree hashes to EMPTY_ROOT."""
        if not self._stack:
            return EMPTY_ROOT
        stack = self._stack
        h = stack[-1]
        for left in reversed(stack[:-1]):
            h = node_hash(left, h)
        return h


CompactRange = TreeBuilder


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) per RFC 9162 2.1.1, computed by streaming fold."""
    builder = TreeBuilder()
    builder.extend(hashes)
    return builder.root()


def hash_range_from_nodes(get_node: GetNode) -> HashRange:
    """Build ``hash_range`` from stored perfect-subtree nodes.

    Every range a proof needs is a node of the tree, which splits into at
    most log2(n) aligned perfect subtrees, so each call reads O(log n) nodes.
    """

    def hash_range(start: int, end: int) -> bytes:
        parts: list[bytes] = []
        pos = start
        while pos < end:
            level = (end - pos).bit_length() - 1
            if pos & ((1 << level) - 1):
                raise ProofError(f"range [{start}, {end}) is not a node of the tree")
            parts.append(get_node(level, pos >> level))
            pos += 1 << level
        if not parts:
            return EMPTY_ROOT
        h = parts.pop()
        while parts:
            h = node_hash(parts.pop(), h)
        return h

    return hash_range


def _hash_range_of(source: Sequence[bytes] | HashRange, size: int) -> HashRange:
    """Accept either a ready ``hash_range`` or a plain list of leaf hashes."""
    if callable(source):
        return source
    if len(source) < size:
        raise ProofError(f"{len(source)} leaf hashes given for a tree of size {size}")
    leaves = source
    return lambda start, end: root_from_leaf_hashes(leaves[start:end])


def inclusion_proof(
    index: int, size: int, source: Sequence[bytes] | HashRange
) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 2.1.3.1, leaf-side sibling first."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is outside a tree of size {size}")
    hash_range = _hash_range_of(source, size)
    siblings: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            siblings.append(hash_range(mid, end))
            end = mid
        else:
            siblings.append(hash_range(start, mid))
            start = mid
    siblings.reverse()
    return siblings


def consistency_proof(
    size1: int, size2: int, source: Sequence[bytes] | HashRange
) -> list[bytes]:
    """PROOF(size1, D[size2]) of RFC 9162 2.1.4.1 (the SUBPROOF recursion)."""
    if not 0 < size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to size {size2}")
    hash_range = _hash_range_of(source, size2)
    hashes: list[bytes] = []
    start, end, m, whole_old_tree = 0, size2, size1, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            hashes.append(hash_range(start + k, end))
            end = start + k
        else:
            hashes.append(hash_range(start, start + k))
            start, m, whole_old_tree = start + k, m - k, False
    if not whole_old_tree:
        hashes.append(hash_range(start, end))
    hashes.reverse()
    return hashes


def _shape_findings(
    sizes: dict[str, object], hashes: dict[str, object], proof: object
) -> list[str]:
    """Type and length checks shared by both verifiers."""
    findings = [
        f"{name} must be a non-negative integer"
        for name, value in sizes.items()
        if not isinstance(value, int) or isinstance(value, bool) or value < 0
    ]
    for name, value in hashes.items():
        if not isinstance(value, bytes):
            findings.append(f"{name} must be bytes")
        elif len(value) != HASH_SIZE:
            findings.append(f"{name} is {len(value)} bytes, expected {HASH_SIZE}")
    if not isinstance(proof, (list, tuple)):
        return findings + ["proof must be a list of hashes"]
    for i, item in enumerate(proof):
        if not isinstance(item, bytes) or len(item) != HASH_SIZE:
            findings.append(f"proof hash {i} is not a {HASH_SIZE}-byte hash")
    return findings


def _inclusion_findings(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> list[str]:
    findings = _shape_findings({"index": index, "size": size}, {"leaf hash": leaf}, proof)
    if findings:
        return findings
    if index >= size:
        return [f"index {index} is not below tree size {size}"]
    inner = (index ^ (size - 1)).bit_length()
    want = inner + (index >> inner).bit_count()
    if len(proof) != want:
        return [f"proof has {len(proof)} hash(es), expected {want}"]
    return []


def root_from_inclusion_proof(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root an inclusion proof implies (RFC 9162 2.1.3.2 steps 1-4)."""
    findings = _inclusion_findings(leaf, index, size, proof)
    if findings:
        raise ProofError("; ".join(findings))
    inner = (index ^ (size - 1)).bit_length()
    h = leaf
    for i, sibling in enumerate(proof):
        # Inner levels: the index bit says which side we are on; border levels: always right.
        h = node_hash(sibling, h) if i >= inner or (index >> i) & 1 else node_hash(h, sibling)
    return h


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> list[str]:
    """Findings against "leaf is entry ``index`` of the tree with ``root``"."""
    findings = _inclusion_findings(leaf, index, size, proof)
    findings += _shape_findings({}, {"root": root}, [])
    if findings:
        return findings
    if root_from_inclusion_proof(leaf, index, size, proof) != root:
        return ["inclusion proof does not lead to the given root"]
    return []


def _consistency_trivial(
    size1: int, size2: int, proof: Sequence[bytes], root1: object, root2: object
) -> list[str] | None:
    """Findings for the cases needing no hashing, or None to go on."""
    if size1 > size2:
        return [f"size1 {size1} is larger than size2 {size2}: a log never shrinks"]
    if size1 == size2:
        # Same size claims the same tree head: the proof is empty and the roots identical.
        found = ["proof must be empty when the sizes are equal"] if proof else []
        if root1 != root2:
            found.append("roots differ although the sizes are equal")
        if size1 == 0 and root1 != EMPTY_ROOT:
            found.append("the root of the empty tree must be SHA-256 of nothing")
        return found
    if size1 == 0:
        return ["size1 is 0: RFC 9162 defines consistency only for 0 < size1 < size2"]
    if not proof:
        return ["proof is empty but size1 < size2 needs one"]
    return None


def _roots_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> tuple[bytes, bytes] | str:
    """Old and new roots a proof implies (RFC 9162 2.1.4.2), or why it cannot."""
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    # When size1 is a power of two, the old root itself seeds the chain.
    seed, rest = (root1, list(proof)) if size1 == 1 << shift else (proof[0], list(proof[1:]))
    if len(rest) != inner + border:
        want = inner + border + len(proof) - len(rest)
        return f"proof has {len(proof)} hash(es), expected {want}"
    mask = (size1 - 1) >> shift
    old, new = seed, seed
    for i, h in enumerate(rest):
        if i >= inner or (mask >> i) & 1:
            old, new = node_hash(h, old), node_hash(h, new)
        else:
            new = node_hash(new, h)
    return old, new


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> list[str]:
    """Findings against "the tree with ``root2`` extends the one with ``root1``".

    Equal sizes need an empty proof and identical roots (the empty tree's root
    is EMPTY_ROOT). RFC 9162 defines proofs only for ``0 < size1``: a client
    whose last checkpoint was empty checks ``root1 == EMPTY_ROOT`` and skips
    the proof, since every tree extends the empty one.
    """
    findings = _shape_findings({"size1": size1, "size2": size2}, {}, proof)
    roots = (("root1", root1), ("root2", root2))
    findings += [f"{name} must be bytes" for name, r in roots if not isinstance(r, bytes)]
    if findings:
        return findings
    trivial = _consistency_trivial(size1, size2, proof, root1, root2)
    if trivial is not None:
        return trivial
    findings = _shape_findings({}, {"root1": root1, "root2": root2}, [])
    if findings:
        return findings
    implied = _roots_from_consistency_proof(size1, size2, proof, root1)
    if isinstance(implied, str):
        return [implied]
    pairs = (("root1", implied[0], root1), ("root2", implied[1], root2))
    return [f"proof does not lead to {name}" for name, got, want in pairs if got != want]
