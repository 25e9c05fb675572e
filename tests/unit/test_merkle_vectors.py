"""Our proof verifiers against the published adversarial vectors.

Why: a verifier that accepts one forged proof is worthless, and the cases an
attacker would try (bit flips, wrong index, swapped roots, truncated or padded
proofs, garbage) are already written down by the transparency-dev/merkle
authors. Every probe is one test case; ``wantErr`` decides the verdict.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from ledger.merkle import verify_consistency, verify_inclusion

VECTORS = Path(
    os.environ.get("CIVIC_LEDGER_MERKLE_VECTORS")
    or Path(__file__).resolve().parents[3] / "shared" / "testdata" / "merkle"
)


def _probes(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


INCLUSION = _probes("inclusion")
CONSISTENCY = _probes("consistency")


def _probe_id(path: Path) -> str:
    return path.relative_to(VECTORS).as_posix()


def _load(path: Path) -> dict[str, Any]:
    probe: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(probe["wantErr"], bool)
    return probe


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _proof(probe: dict[str, Any]) -> list[bytes]:
    return [_b64(item) for item in probe["proof"] or []]


def test_the_vector_folder_holds_probes_of_both_kinds() -> None:
    assert len(INCLUSION) > 0, f"no inclusion probes under {VECTORS}"
    assert len(CONSISTENCY) > 0, f"no consistency probes under {VECTORS}"


def test_the_vectors_contain_both_good_and_bad_probes() -> None:
    verdicts = {_load(path)["wantErr"] for path in INCLUSION + CONSISTENCY}
    assert verdicts == {True, False}


@pytest.mark.parametrize("path", INCLUSION, ids=_probe_id)
def test_inclusion_probe_gets_the_published_verdict(path: Path) -> None:
    probe = _load(path)
    findings = verify_inclusion(
        _b64(probe["leafHash"]),
        probe["leafIdx"],
        probe["treeSize"],
        _proof(probe),
        _b64(probe["root"]),
    )
    if probe["wantErr"]:
        assert findings, f"accepted a bad proof: {probe['desc']}"
    else:
        assert findings == []


@pytest.mark.parametrize("path", CONSISTENCY, ids=_probe_id)
def test_consistency_probe_gets_the_published_verdict(path: Path) -> None:
    probe = _load(path)
    findings = verify_consistency(
        probe["size1"],
        probe["size2"],
        _proof(probe),
        _b64(probe["root1"]),
        _b64(probe["root2"]),
    )
    if probe["wantErr"]:
        assert findings, f"accepted a bad proof: {probe['desc']}"
    else:
        assert findings == []
