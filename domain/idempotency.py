"""A completed partner request, kept as evidence and as the answer to its retries.

Why an aggregate and not a cache row: the record is saved in the *same* atomic
``save`` as the transfers the request made, so either both are in the log or
neither is, and a retry that finds the record can only find a request that
really happened. Its id derives from (organisation, Idempotency-Key), so a
second completion of the same key would write version 1 of the same
aggregate again and lose on optimistic concurrency: two completions are
impossible, not merely unlikely.

The one event, ``Completed``, carries three things:

* what the client must get again on a retry (``response_status``,
  ``response_body``, and the ``fingerprint`` a retry's payload is compared to);
* what was written (``transfer_ids``, ``pending_ids``);
* the signed request itself (the covered component values, the signature
  parameters, the signature, the SHA-256 of the signature base, the body and
  the keyring version the key was checked at), so an auditor can re-verify the
  partner's signature from the log alone (``ledger.evidence``).

The ``CreditBeneficiary`` aggregate names the member who received a service a
partner credited, when the partner says so: that member may then confirm or
contest the pending credit.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, IdempotencyKeyMissing

_NAMESPACE = UUID("0b7f6f0e-5a39-4c57-9a8e-2d1f1f6c2a51")
MAX_KEY_LENGTH = 255
_KEY = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")


def check_idempotency_key(key: object) -> str:
    """1-255 printable ASCII characters, not starting or ending with a space."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise IdempotencyKeyMissing(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable ASCII characters",
            field="Idempotency-Key", rule="idempotency_key_malformed")
    return key


def record_id(organisation_id: UUID, key: str) -> UUID:
    """The id of the record for ``key``: keys are scoped per organisation."""
    return uuid5(_NAMESPACE, f"idempotency/{organisation_id}/{key}")


def beneficiary_id(transfer_id: UUID) -> UUID:
    """The id of the beneficiary note of one credit (at most one per credit)."""
    return uuid5(_NAMESPACE, f"beneficiary/{transfer_id}")


class IdempotencyRecord(Aggregate):
    """One completed request of one organisation under one Idempotency-Key."""

    @event("Completed")
    def __init__(self, id: UUID, organisation_id: UUID, key: str,  # noqa: A002
                 fingerprint: str, completed_at: dt.datetime, response_status: int,
                 response_body: str, transfer_ids: list[str], pending_ids: list[str],
                 key_id: str, keyring_version: int, components: list[list[str]],
                 signature_params: str, signature: str, signature_base_sha256: str,
                 body: str) -> None:
        self.organisation_id = organisation_id
        self.key = key
        self.fingerprint = fingerprint
        self.completed_at = completed_at
        self.response_status = response_status
        self.response_body = response_body
        self.transfer_ids = list(transfer_ids)
        self.pending_ids = list(pending_ids)
        self.key_id = key_id
        self.keyring_version = keyring_version
        self.components = [list(pair) for pair in components]
        self.signature_params = signature_params
        self.signature = signature
        self.signature_base_sha256 = signature_base_sha256
        self.body = body

    @classmethod
    def complete(cls, *, organisation_id: UUID, key: str, fingerprint: str,
                 completed_at: dt.datetime, response_status: int, response_body: str,
                 transfer_ids: list[UUID], pending_ids: list[UUID],
                 evidence: dict[str, Any]) -> IdempotencyRecord:
        """The record of a request that completed; ``evidence`` holds the signature
        fields (``key_id``, ``keyring_version``, ``components``, ``signature_params``,
        ``signature``, ``signature_base_sha256``, ``body``)."""
        check_idempotency_key(key)
        if not isinstance(completed_at, dt.datetime) or \
                completed_at.utcoffset() != dt.timedelta(0):
            raise DomainError("completed_at must be a UTC time", field="completed_at",
                              rule="utc_time")
        return cls(id=record_id(organisation_id, key), organisation_id=organisation_id,
                   key=key, fingerprint=fingerprint, completed_at=completed_at,
                   response_status=response_status, response_body=response_body,
                   transfer_ids=[str(t) for t in transfer_ids],
                   pending_ids=[str(t) for t in pending_ids],
                   key_id=str(evidence["key_id"]),
                   keyring_version=int(evidence["keyring_version"]),
                   components=[[str(n), str(v)] for n, v in evidence["components"]],
                   signature_params=str(evidence["signature_params"]),
                   signature=str(evidence["signature"]),
                   signature_base_sha256=str(evidence["signature_base_sha256"]),
                   body=str(evidence["body"]))

    def evidence(self) -> dict[str, Any]:
        """The signature fields, as :meth:`complete` took them."""
        return {"key_id": self.key_id, "keyring_version": self.keyring_version,
                "components": [tuple(pair) for pair in self.components],
                "signature_params": self.signature_params, "signature": self.signature,
                "signature_base_sha256": self.signature_base_sha256, "body": self.body}


class CreditBeneficiary(Aggregate):
    """The member a partner's credit was for (who may confirm or contest it)."""

    @event("Named")
    def __init__(self, id: UUID, transfer_id: UUID, organisation_id: UUID,  # noqa: A002
                 beneficiary_id: UUID) -> None:
        self.transfer_id = transfer_id
        self.organisation_id = organisation_id
        self.beneficiary_id = beneficiary_id

    @classmethod
    def note(cls, *, transfer_id: UUID, organisation_id: UUID,
             beneficiary: UUID) -> CreditBeneficiary:
        """Name ``beneficiary`` for the credit ``transfer_id``."""
        return cls(id=beneficiary_id(transfer_id), transfer_id=transfer_id,
                   organisation_id=organisation_id, beneficiary_id=beneficiary)


__all__ = ["CreditBeneficiary", "IdempotencyRecord", "MAX_KEY_LENGTH", "beneficiary_id",
           "check_idempotency_key", "record_id"]
