"""Vector side of memory search: each user's memory embeddings as one in-process float32 matrix.

Why a matrix in the process (and not sqlite-vec or pgvector): one matrix-vector product over
100k x 384 floats takes a few milliseconds, the same code serves SQLite and PostgreSQL, and the
standard-library sqlite3 here cannot load extensions at all (measurements in docs/memory.md).

The store stays the truth. The matrix is refreshed before each search from one cheap query
(the user's created_at, memory epoch and newest memory id): new memories are appended by id;
an edit or delete bumps the epoch (companion.memory.store) and the user is reloaded whole; a
forgotten-then-recreated user has a new created_at. Ids only grow, and one user's memories are
written by one turn at a time (the per-user turn lock; an advisory lock on PostgreSQL), so
"everything after the last id" misses none. Hits are read back from the table by id and user,
so even a stale matrix could never return a row that no longer exists.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

Stamp = tuple  # (users.created_at, memory_state.epoch): a change means "reload this user"
Loader = Callable[[int], Iterable[tuple[int, int, bytes, str]]]  # after_id -> (id, turn_id, embedding, text)
Words = Callable[[str], list[str]]  # a memory's keywords (companion.memory.fulltext.terms)


@dataclass
class _Matrix:
    """One user's vectors; rows [0, n) are in use, the rest is room to append without copying."""

    stamp: Stamp
    last_id: int = 0
    n: int = 0
    dim: int = 0
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    turns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    # how many memories hold each word: the keyword search skips words too common to tell
    # memories apart, without asking the database (that cost 10 ms a search on PostgreSQL)
    df: Counter = field(default_factory=Counter)

    def append(self, rows: list[tuple[int, int, bytes, str]], words: Words) -> None:
        for row in rows:
            self.df.update(words(row[3] or ""))
        new = [(i, t, np.frombuffer(b, np.float32)) for i, t, b, _ in rows if b]
        if not self.dim and new:
            self.dim = new[0][2].shape[0]
        new = [r for r in new if r[2].shape[0] == self.dim]  # a vector from another embedder is not comparable
        if rows:
            self.last_id = max(self.last_id, max(r[0] for r in rows))
        if not new:
            return
        need = self.n + len(new)
        if need > len(self.ids):  # grow by doubling: appending a turn must not copy 100k rows
            cap = max(need, 2 * len(self.ids), 64)
            ids, turns = np.zeros(cap, np.int64), np.zeros(cap, np.int64)
            vectors = np.zeros((cap, self.dim), np.float32)
            if self.n:
                ids[: self.n], turns[: self.n] = self.ids[: self.n], self.turns[: self.n]
                vectors[: self.n] = self.vectors[: self.n]
            self.ids, self.turns, self.vectors = ids, turns, vectors
        self.ids[self.n : need] = [r[0] for r in new]
        self.turns[self.n : need] = [r[1] or 0 for r in new]
        self.vectors[self.n : need] = np.stack([r[2] for r in new])
        self.n = need

    @property
    def nbytes(self) -> int:
        return self.vectors.nbytes + self.ids.nbytes + self.turns.nbytes


class VectorIndex:
    """Per-user matrices, least recently used dropped first past `max_bytes` (100k memories ~ 155 MB)."""

    def __init__(self, max_bytes: int = 512 * 2**20):
        self.max_bytes = max_bytes
        self._users: OrderedDict[str, _Matrix] = OrderedDict()
        self._lock = threading.Lock()

    def sync(self, user: str, stamp: Stamp, newest_id: int, load: Loader, words: Words) -> None:
        """Bring the user's matrix up to the store: reload on a new stamp, else append ids past the last."""
        with self._lock:
            entry = self._users.get(user)
            if entry is None or entry.stamp != stamp or newest_id < entry.last_id:
                entry = _Matrix(stamp)
            self._users[user] = entry
            self._users.move_to_end(user)
            if newest_id > entry.last_id:
                entry.append(list(load(entry.last_id)), words)
            self._evict()

    def top(self, user: str, query: np.ndarray, n: int, *, before_turn: int | None = None) -> list[tuple[int, float]]:
        """(memory id, cosine) of the n nearest memories, only those of turns before `before_turn`."""
        with self._lock:  # a snapshot: appends write past n, and a regrow makes new arrays
            entry = self._users.get(user)
            if entry is None or not entry.n:
                return []
            ids, turns, vectors = entry.ids[: entry.n], entry.turns[: entry.n], entry.vectors[: entry.n]
        if query.shape != (vectors.shape[1],):
            return []
        if before_turn is not None:  # turn ids grow with memory ids: the older memories are a prefix
            stop = int(np.searchsorted(turns, before_turn, side="left"))
            ids, vectors = ids[:stop], vectors[:stop]
        if not len(ids) or n <= 0:
            return []
        # einsum, not `@`: BLAS's thread pool made one product 8 ms at 10k rows on a busy 2-core box
        # (0.3 ms in one thread); memory bandwidth, not threads, bounds it at 100k rows anyway.
        scores = np.einsum("ij,j->i", vectors, query)
        if n < len(scores):
            best = np.argpartition(-scores, n - 1)[:n]
        else:
            best = np.arange(len(scores))
        best = best[np.argsort(-scores[best])]
        return [(int(ids[i]), float(scores[i])) for i in best]

    def cosine(self, user: str, query: np.ndarray, memory_ids: list[int]) -> dict[int, float]:
        """Cosine of the given memories (keyword hits that the vector top-n did not include)."""
        with self._lock:
            entry = self._users.get(user)
            if entry is None or not entry.n or not memory_ids:
                return {}
            ids, vectors = entry.ids[: entry.n], entry.vectors[: entry.n]
        if query.shape != (vectors.shape[1],):
            return {}
        wanted = np.asarray(memory_ids, np.int64)
        rows = np.clip(np.searchsorted(ids, wanted), 0, len(ids) - 1)
        found = ids[rows] == wanted
        scores = np.einsum("ij,j->i", vectors[rows[found]], query)
        return {int(i): float(s) for i, s in zip(wanted[found], scores)}

    def rarest(self, user: str, words: list[str], budget: int) -> list[str]:
        """The user's rarest of `words`, in their order, whose memory counts add up to under `budget`:
        a keyword search then reads at most about `budget` matches, whatever the words."""
        with self._lock:
            entry = self._users.get(user)
            counts = {w: (entry.df[w] if entry else 0) for w in words}
        kept, total = set(), 0
        for word in sorted(words, key=counts.__getitem__):
            total += counts[word]
            if total >= budget:
                break
            kept.add(word)
        return [w for w in words if w in kept]

    def drop(self, user: str | None = None) -> None:
        """Forget the user's vectors in this process (all users when None)."""
        with self._lock:
            if user is None:
                self._users.clear()
            else:
                self._users.pop(user, None)

    def size(self, user: str) -> int:
        with self._lock:
            entry = self._users.get(user)
            return entry.n if entry else 0

    def _evict(self) -> None:
        total = sum(e.nbytes for e in self._users.values())
        while len(self._users) > 1 and total > self.max_bytes:
            _, gone = self._users.popitem(last=False)
            total -= gone.nbytes
