"""Fixtures shared by the service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.application import TimeBank
from ledger.storage import Database


@pytest.fixture
def two_processes(durable_database_url: str,
                  master_key: bytes) -> Iterator[tuple[TimeBank, TimeBank]]:
    """Two applications on one store, as two server workers would be."""
    first = TimeBank(Database.parse(durable_database_url), master_key)
    second = TimeBank(Database.parse(durable_database_url), master_key)
    yield first, second
    first.close()
    second.close()
