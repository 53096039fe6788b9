"""Retention: conversation turns and mood history older than `privacy.retention_days` are deleted
when the companion starts and then once a day, on a daemon thread.

Facts the user told the companion ("my sister is Ana") are their profile, shown and deletable in
the app, and are not aged out. Raw audio and frames are never written to the store at all.

Hook (Companion.__init__, after the store exists):
    self._retention = retention.start(self.store, self.settings.privacy)
and in Companion.close():
    if self._retention: self._retention.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from companion.config import PrivacySettings, section_or_default
from companion.errors import CompanionError, InvalidInput

log = logging.getLogger(__name__)
DAY_S = 86_400.0


def purge(store: Any, retention_days: float | None, *, now: float | None = None) -> dict[str, int]:
    """Delete every user's turns and moods older than `retention_days`; then compact the file so the
    deleted text leaves no bytes behind. Returns rows deleted per table ({} when retention is off)."""
    if retention_days is None:
        return {}
    if retention_days < 0:
        raise InvalidInput(
            f"retention_days is {retention_days}; use a number of days >= 0, "
            "or leave COMPANION_PRIVACY__RETENTION_DAYS unset to keep history"
        )
    now = time.time() if now is None else now
    counts = store.purge_older_than(now - retention_days * DAY_S)
    if any(counts.values()):
        try:
            store.compact()
        except CompanionError as exc:  # rows are gone already; the next run compacts
            log.warning("retention purge deleted %s but could not compact the store: %s", counts, exc)
        log.info("retention: deleted %s older than %s days", counts, retention_days)
    return counts


class RetentionTimer:
    """Runs `purge` every `interval_s` seconds on a daemon thread until `stop()`."""

    def __init__(
        self, store: Any, retention_days: float, *, interval_s: float = DAY_S, clock: Callable[[], float] = time.time
    ):
        if interval_s <= 0:
            raise InvalidInput(f"retention interval must be > 0 seconds, got {interval_s}")
        self.store, self.retention_days, self.interval_s, self.clock = store, retention_days, interval_s, clock
        self.runs = 0
        self.last_counts: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="companion-retention", daemon=True)

    def start(self) -> "RetentionTimer":
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.last_counts = purge(self.store, self.retention_days, now=self.clock())
            except Exception:  # a locked or closed store must not kill the timer; try again next time
                log.exception("retention purge failed; will retry in %.0f s", self.interval_s)
            self.runs += 1

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


def start(store: Any, privacy: PrivacySettings | None, *, interval_s: float = DAY_S) -> RetentionTimer | None:
    """Purge now, then daily. Returns the timer (stop it on close), or None when retention is off
    (privacy.retention_days None; privacy None = the defaults, which keep history)."""
    days = section_or_default(privacy, PrivacySettings).retention_days
    if days is None:
        return None
    purge(store, days)
    return RetentionTimer(store, days, interval_s=interval_s).start()
