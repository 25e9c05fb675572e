"""The partner client retries safely: same key and body, a fresh signature each time.

A scripted transport stands in for the network: it fails, answers 503 or 409,
then succeeds, and records what each attempt sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from web.partner_cli import result_lines
from web.partner_client import (
    PartnerClient,
    PartnerUnavailable,
    default_key_id,
    generate_key,
    load_private_key,
    public_key_of,
)

PROBLEM = b'{"rule": "%s", "status": %d}'


class Script:
    """Answers in order; an exception in the list is raised instead."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[dict[str, str], bytes]] = []

    def __call__(self, method: str, url: str, headers: Mapping[str, str], body: bytes,
                 timeout: float) -> tuple[int, Mapping[str, str], bytes]:
        self.sent.append((dict(headers), body))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def client(script: Script, sleeps: list[float], attempts: int = 5) -> PartnerClient:
    return PartnerClient("https://ledger.example", "9a1e0000-0000-4000-8000-000000000001",
                         Ed25519PrivateKey.generate(), "care-1", transport=script,
                         sleep=sleeps.append, attempts=attempts)


def nonce(headers: Mapping[str, str]) -> str:
    found = re.search(r'nonce="([^"]+)"', headers["Signature-Input"])
    assert found is not None
    return found.group(1)


def test_a_lost_connection_and_a_503_are_retried_with_the_same_key_and_body():
    script = Script(ConnectionResetError("reset by peer"),
                    (503, {"Retry-After": "1"}, PROBLEM % (b"unavailable", 503)),
                    (201, {"Idempotent-Replayed": "true"}, b'{"id": "t"}'))
    sleeps: list[float] = []
    answer = client(script, sleeps).post_credit({"id": "t"}, idempotency_key="k-1")
    assert (answer.status, answer.body, answer.replayed, answer.attempts) == (
        201, {"id": "t"}, True, 3)
    assert sleeps == [0.5, 1.0]
    assert {h["Idempotency-Key"] for h, _ in script.sent} == {'"k-1"'}
    assert len({body for _, body in script.sent}) == 1
    assert len({nonce(h) for h, _ in script.sent}) == 3


def test_a_409_in_flight_is_retried_but_other_refusals_are_returned():
    script = Script((409, {}, PROBLEM % (b"idempotency_in_flight", 409)),
                    (409, {}, PROBLEM % (b"invalid_transition", 409)))
    answer = client(script, []).post_batch([{"id": "t"}], mode="per-item")
    assert (answer.status, answer.body["rule"], answer.attempts) == (
        409, "invalid_transition", 2)


def test_when_every_attempt_fails_the_error_names_the_key_to_retry_with():
    script = Script(*[TimeoutError("timed out")] * 3)
    with pytest.raises(PartnerUnavailable, match="retry with Idempotency-Key k-9"):
        client(script, [], attempts=3).post_csv(b"id\n", idempotency_key="k-9")
    assert len(script.sent) == 3


def test_a_generated_key_loads_back_and_names_its_own_id():
    pem, public = generate_key()
    private = load_private_key(pem)
    assert public_key_of(private) == public
    assert default_key_id(public).startswith("ed25519-") and len(default_key_id(public)) == 24
    with pytest.raises(ValueError):
        load_private_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_the_command_prints_a_line_per_row_and_a_summary():
    document = {"rows": 2, "created": 1, "exists": 0, "refused": 1, "results": [
        {"row": 1, "id": "a", "outcome": "created", "state": "posted", "rule": None,
         "field": None, "detail": None},
        {"row": 2, "id": "b", "outcome": "refused", "state": None,
         "rule": "daily_earning_cap", "field": "minutes", "detail": "cap is 720"}]}
    assert result_lines(document) == [
        "row 1: created a (posted)",
        "row 2: refused daily_earning_cap [minutes]: cap is 720",
        "2 rows: 1 created, 0 already there, 1 refused"]
