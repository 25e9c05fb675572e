"""Bounded maps of what this process keeps between commands (held copies of
aggregates, ids found contended), read and written by many threads.

The library's ``LRUCache`` takes a lock and raises ``KeyError`` for every
miss; these maps cost one dict operation each (atomic under the GIL) and
forget the entry put longest ago when full. A forgotten copy is only read
from the store again."""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """At most ``capacity`` entries; putting one again makes it the newest."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        """The entry, or None."""
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` as the newest entry, forgetting the oldest when full."""
        items = self._items
        items.pop(key, None)
        items[key] = value
        while len(items) > self._capacity:
            try:
                items.pop(next(iter(items)), None)
            except (RuntimeError, StopIteration):  # another thread changed it meanwhile
                break
