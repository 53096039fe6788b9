"""Memory retrieval: what is stored per turn (sentence memories), how a search is scored (embedding
plus keywords), and how a hit is shown to the reply model (with its date).

Numbers here (k, threshold, keyword weight) were tuned on the dev split of
`benchmarks/memory_data.py` and checked once on its test split: see docs/memory.md.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import numpy as np
from sqlalchemy import Connection, and_, select

from companion.memory import fulltext, schema
from companion.memory.index import VectorIndex

KEYWORD_WEIGHT = 0.2  # a perfect keyword match adds this to the cosine (tuned on dev)
LINK = True  # a second hop from the best hit's rare words (tuned on dev: multi-turn questions)
MIN_WORDS = 4  # shorter pieces ("Yes.", "Oh well.") join their neighbour
MAX_SENTENCES = 16
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\s*\n+\s*")


@dataclass(frozen=True)
class Memory:
    id: int
    turn_id: int | None
    text: str
    at: float
    score: float  # cosine + KEYWORD_WEIGHT * keyword score (0..1, relative to the best keyword hit)
    cosine: float
    keyword: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "turn",
            "id": self.id,
            "turn_id": self.turn_id,
            "text": self.text,
            "at": self.at,
            "score": self.score,
            "cosine": self.cosine,
            "keyword": self.keyword,
        }


def split_sentences(message: str) -> list[str]:
    """A long message as its sentences (each becomes a memory); a one-sentence message as itself."""
    pieces = [p.strip() for p in _SENTENCE_END.split(message.strip()) if p and p.strip()]
    merged: list[str] = []
    for piece in pieces:
        if merged and (len(piece.split()) < MIN_WORDS or len(merged[-1].split()) < MIN_WORDS):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    if len(merged) > MAX_SENTENCES:  # bounded work per turn: the tail stays one memory
        merged = merged[: MAX_SENTENCES - 1] + [" ".join(merged[MAX_SENTENCES - 1 :])]
    return merged if len(merged) > 1 else [message.strip()]


def search(
    conn: Connection,
    index: VectorIndex,
    user: str,
    query: Any,
    k: int,
    *,
    text: str | None = None,
    before_turn: int | None = None,
    min_score: float | None = None,
    keyword_weight: float = KEYWORD_WEIGHT,
    link: bool = LINK,
) -> list[Memory]:
    """The user's k best memories for a message (its vector `query`, its words `text`), best first.

    Candidates are the vector top-n and the keyword top-n; every candidate is scored by its exact
    cosine plus the weighted keyword score, then read back from the table by id and user. With
    `link`, the names in the best hit find one more memory, shown right after it ("my best
    friend Rosa opened a bakery" links "Rosa's bakery got a great review"): a second hop.
    """
    if k <= 0 or query is None:
        return []
    q = np.asarray(query, dtype=np.float32)
    pool = max(4 * k, 24)
    vector_hits = dict(index.top(user, q, pool, before_turn=before_turn))
    words = index.rarest(user, fulltext.terms(text or ""), fulltext.COMMON)
    keyword_hits = dict(fulltext.search(conn, user, words, pool)) if keyword_weight else {}
    best_keyword = max(keyword_hits.values(), default=0.0)
    missing = [i for i in keyword_hits if i not in vector_hits]
    cosines = {**index.cosine(user, q, missing), **vector_hits}
    ranked = sorted(
        cosines, key=lambda i: cosines[i] + keyword_weight * _rel(keyword_hits.get(i), best_keyword), reverse=True
    )
    found = []
    for i, row in _rows(conn, user, ranked[: 2 * k + 8], before_turn):  # room for rows deleted or too recent
        kw = _rel(keyword_hits.get(i), best_keyword)
        memory = Memory(
            id=i,
            turn_id=row.turn_id,
            text=row.text,
            at=row.at,
            score=cosines[i] + keyword_weight * kw,
            cosine=cosines[i],
            keyword=kw,
        )
        if min_score is None or memory.score >= min_score:
            found.append(memory)
    if link and found and k > 1:
        linked = _linked(conn, index, user, q, found[0], set(words), {m.turn_id for m in found[:k]}, before_turn)
        if linked is not None:
            found.insert(1, linked)
    return found[:k]


def _rows(conn: Connection, user: str, ids: list[int], before_turn: int | None):
    """(id, row) of the user's memories among `ids`, in that order, skipping turns from `before_turn` on."""
    t = schema.memories
    if not ids:
        return []
    rows = {
        r.id: r
        for r in conn.execute(
            select(t.c.id, t.c.turn_id, t.c.text, t.c.at).where(and_(t.c.user_id == user, t.c.id.in_(ids)))
        ).all()
    }
    return [(i, rows[i]) for i in ids if i in rows and (before_turn is None or (rows[i].turn_id or 0) < before_turn)]


def _linked(
    conn: Connection,
    index: VectorIndex,
    user: str,
    q: np.ndarray,
    head: Memory,
    asked: set[str],
    shown_turns: set,
    before_turn: int | None,
) -> Memory | None:
    new_words = index.rarest(user, [w for w in fulltext.names(head.text) if w not in asked], fulltext.COMMON)
    hits = fulltext.search(conn, user, new_words, 6)
    for i, row in _rows(conn, user, [i for i, _ in hits], before_turn):
        if row.turn_id not in shown_turns:
            cosine = index.cosine(user, q, [i]).get(i, 0.0)
            # ranked with its source: it is shown exactly when the memory that led to it is
            return Memory(
                id=i, turn_id=row.turn_id, text=row.text, at=row.at, score=head.score - 1e-6, cosine=cosine, keyword=0.0
            )
    return None


def _rel(score: float | None, best: float) -> float:
    return 0.0 if not score or best <= 0 else score / best


def dated(memories: Sequence[Any], now: float | None = None) -> tuple[str, ...]:
    """Memories as the reply model sees them: today's date first, then each memory with its date,
    so "when did I go camping?" can be answered. Empty when there is nothing to recall."""
    if not memories:
        return ()
    now = time.time() if now is None else now
    today = datetime.fromtimestamp(now)
    lines = [f"today is {today:%A} {today.day} {today:%B %Y}"]
    for m in memories:
        at, said = (m.at, m.text) if isinstance(m, Memory) else (m["at"], m["text"])
        lines.append(f"{_when(datetime.fromtimestamp(at), today)} they said: {said}")
    return tuple(lines)


def _when(then: datetime, today: datetime) -> str:
    days = (today.date() - then.date()).days
    ago = "today" if days == 0 else "yesterday" if days == 1 else f"{days} days ago"
    year = f" {then.year}" if then.year != today.year else ""
    return f"on {then.day} {then:%b}{year} ({ago})"


@dataclass(frozen=True)
class TurnVectors:
    """A message embedded once per turn: its vector is the search query, and it (or its
    sentences) and the new facts' vectors are what the turn is stored with."""

    query: np.ndarray
    memories: tuple[tuple[str, np.ndarray], ...]
    facts: tuple[np.ndarray, ...]


def embed_turn(embed: Any, message: str, fact_texts: Sequence[str] = ()) -> TurnVectors:
    """One batch through the embedder: the message, then its sentences if it has several, then facts."""
    sentences = split_sentences(message)
    own = sentences if len(sentences) > 1 else []
    vectors = np.asarray(embed([message, *own, *fact_texts]), dtype=np.float32)
    query = vectors[0]
    memories = tuple(zip(own, vectors[1 : 1 + len(own)])) if own else ((message, query),)
    return TurnVectors(query=query, memories=memories, facts=tuple(vectors[1 + len(own) :]))
