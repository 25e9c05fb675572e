"""What every domain refusal must leave behind: nothing."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import DomainError


def refused(error: type[DomainError], call: Any, *aggregates: Any) -> DomainError:
    """``call()`` raises ``error`` and adds no event to any of ``aggregates``."""
    versions = [a.version for a in aggregates]
    with pytest.raises(error) as caught:
        call()
    assert [a.version for a in aggregates] == versions
    assert all(a.collect_events() == [] for a in aggregates)
    return caught.value
