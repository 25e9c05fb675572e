"""Periodic jobs in each server worker: the expiry sweep and partner auto-confirmation.

Why a thread in each worker: a small installation runs only ``civic-ledger
serve``, with no cron. A sweeper starts with the first request (after
gunicorn's fork, so every worker has its own) and calls its job every
``interval`` seconds. Two workers running a job at once is harmless: voiding a
voided credit or confirming a confirmed one changes nothing. A failing run is
logged and retried next round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sized


class Sweeper:
    """A daemon thread running ``job`` every ``interval`` seconds."""

    def __init__(self, name: str, job: Callable[[], Sized], interval: float,
                 logger: logging.Logger, done: str) -> None:
        self.name = name
        self.job = job
        self.interval = interval
        self.logger = logger
        self.done = done  # e.g. "voided %d expired pending credits"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread unless it runs already (safe to call on every request)."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"civic-ledger-{self.name}")
                self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def sweep(self) -> int:
        """One run; how many things it changed (a failure is logged, not raised)."""
        try:
            changed = len(self.job())
        except Exception:  # keep sweeping; a failed run is retried next round
            self.logger.exception("%s failed", self.name)
            return 0
        if changed:
            self.logger.info(self.done, changed)
        return changed

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sweep()
