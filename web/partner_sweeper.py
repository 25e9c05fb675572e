"""A daemon thread confirming pending partner credits whose window has passed.

Why a thread in each worker, like the expiry sweeper (``web.app``): a small
installation runs only ``civic-ledger serve``, with no cron. The interval is
``PARTNER_CONFIRM_SWEEP_SECONDS``, defaulting to ``EXPIRY_SWEEP_SECONDS`` (0 or
None: off; then run ``civic-ledger partner confirm-due`` from cron). Two
workers sweeping at once is harmless: confirming a confirmed credit changes
nothing. The thread starts with the first request, after gunicorn's fork.
"""

from __future__ import annotations

import logging
import threading

from ledger.partner_credits import PartnerCredits


class ConfirmSweeper:
    """Calls ``PartnerCredits.auto_confirm()`` every ``interval`` seconds."""

    def __init__(self, credits: PartnerCredits, interval: float,
                 logger: logging.Logger) -> None:
        self.credits = credits
        self.interval = interval
        self.logger = logger
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
                                                name="civic-ledger-partner-confirmer")
                self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def sweep(self) -> int:
        """One sweep; how many credits it confirmed (failures are logged, not raised)."""
        try:
            confirmed = self.credits.auto_confirm()
        except Exception:  # keep sweeping; a failed sweep is retried next round
            self.logger.exception("partner confirmation sweep failed")
            return 0
        if confirmed:
            self.logger.info("confirmed %d pending partner credits", len(confirmed))
        return len(confirmed)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sweep()
