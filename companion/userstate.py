"""This process's per-user state: the turn lock and the caches. All of it is safe to lose.

What matters (mood history, calibration, consent, turns, facts) lives in the store, so any app
instance can serve any user. What is kept here only saves queries (the latest mood, the latest
estimates), holds what the user did not allow storing (per-session calibration), or hands a
streamed Reply to its caller. A user forgotten and started again (by any instance) gets a new
`users.created_at`, and `sync` then drops everything this process still held about them.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from companion.types import EmotionEstimate, MoodState, Reply


class UserState:
    def __init__(self, store: Any):
        self.store = store
        self._guard = threading.Lock()
        self._locks: dict[str, list] = {}  # user -> [lock, holders and waiters]; gone when nobody needs it
        self._epochs: dict[str, float] = {}  # user -> users.created_at the caches below belong to
        self.moods: dict[str, MoodState] = {}
        self.last: dict[str, Reply] = {}
        self.last_estimates: dict[str, tuple[EmotionEstimate, ...]] = {}
        # Calibration and voice baselines of users who did not allow storing mood data live here,
        # for this process only (they describe the person's face and voice, so they follow that consent).
        self.unsaved: dict[tuple[str, str], dict] = {}

    @contextmanager
    def serialised(self, user: str, *, across_instances: bool = True) -> Iterator[float]:
        """One user's turns one at a time; other users' turns run at once. Yields the seconds spent
        waiting. In-process lock first, so one process queues a user's turns without holding more
        than one database connection for them; then the store's lock across instances."""
        asked = time.monotonic()
        with self._guard:
            entry = self._locks.setdefault(user, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                if not across_instances:
                    yield time.monotonic() - asked
                    return
                with self.store.user_lock(user):
                    yield time.monotonic() - asked
        finally:
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[user]

    def sync(self, user: str, epoch: float | None) -> None:
        """Drop what this process holds about `user` if the store's user row is not the one it was
        cached for (forgotten here or on another instance; `None`: no row now)."""
        with self._guard:
            if user in self._epochs and self._epochs[user] == epoch:
                return
            self._drop(user)
            if epoch is not None:
                self._epochs[user] = epoch

    def forget(self, user: str) -> None:
        with self._guard:
            self._drop(user)

    def _drop(self, user: str) -> None:
        self._epochs.pop(user, None)
        for cache in (self.moods, self.last, self.last_estimates):
            cache.pop(user, None)
        for key in [k for k in self.unsaved if k[0] == user]:
            del self.unsaved[key]

    def latest_mood(self, user: str) -> MoodState | None:
        """The newer of this process's mood and the store's: another instance may have moved it on."""
        cached, stored = self.moods.get(user), self.store.last_mood(user)
        if cached is None or (stored is not None and stored.at > cached.at):
            return stored
        return cached
