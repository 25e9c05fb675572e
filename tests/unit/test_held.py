"""The bounded map of held copies forgets the entry put longest ago."""

from __future__ import annotations

import threading

from ledger.held import Recent


def test_a_full_map_forgets_the_oldest_put_and_a_put_again_is_newest() -> None:
    recent: Recent[str, int] = Recent(2)
    recent.put("a", 1)
    recent.put("b", 2)
    recent.put("a", 3)  # "a" is now the newest
    recent.put("c", 4)
    assert ("a" in recent, "b" in recent, "c" in recent) == (True, False, True)
    assert (recent.get("a"), recent.get("b"), len(recent)) == (3, None, 2)


def test_threads_putting_at_once_never_leave_it_above_capacity() -> None:
    recent: Recent[int, int] = Recent(50)

    def put(offset: int) -> None:
        for k in range(2000):
            recent.put(offset + k, k)

    threads = [threading.Thread(target=put, args=(n * 10_000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(recent) <= 50
