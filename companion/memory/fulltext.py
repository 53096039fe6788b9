"""Keyword side of memory search: SQLite FTS5, or PostgreSQL full-text search, chosen by dialect.

Embeddings miss rare exact words (a name, "Lisbon", "camping"); keywords find them. Both engines
index the `memories` table itself, so the store stays the one truth: SQLite through an
external-content FTS5 table kept by triggers, PostgreSQL through a GIN expression index.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

# Words that say nothing about which memory is meant (questions are full of them).
_STOP = frozenset(
    """a about after again all also am an and any are as at be because been before being both but by
can could did do does doing don't down during each few for from further had has have having he her here hers
him his how i i'm i've if in into is it it's its just me more most my myself no nor not now of off on once only
or other our out over own same she should so some such than that the their them then there these they this
those through to too under until up very was we were what when where which while who whom why will with would
you your yours remember tell told said say know think thought really much many get got one thing things ever
still back going went go like feel feeling felt""".split()
)
_WORD = re.compile(r"[a-z0-9]+")
_NAME = re.compile(r"\b[A-Z][a-z]+\b")
MAX_TERMS = 12
# A keyword search reads at most about this many matches: the rarest words are kept until their
# memory counts add up to it (companion.memory.index.rarest). Common words say little about which
# memory is meant, and ranking all their matches cost 27 ms p50 at 100k memories on SQLite, 51 ms
# for one query on PostgreSQL (4 ms without them).
COMMON = 1000


def words(message: str) -> list[str]:
    """The message's content words, lower-case, unique, in order: only [a-z0-9], so safe in a query."""
    return list(dict.fromkeys(w for w in _WORD.findall(message.lower()) if len(w) > 2 and w not in _STOP))


def terms(message: str) -> list[str]:
    """The words a search for `message` asks for: its first MAX_TERMS content words."""
    return words(message)[:MAX_TERMS]


def names(message: str) -> list[str]:
    """Capitalised words ("Rosa", "Lisbon", "Golf"), lower-case: the entities a second hop follows."""
    found = [w.lower() for w in _NAME.findall(message)]
    return list(dict.fromkeys(w for w in found if len(w) > 2 and w not in _STOP))[:MAX_TERMS]


def create(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(
            text(
                "CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5(text, content='memories', "
                "content_rowid='id', tokenize='porter unicode61')"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER IF NOT EXISTS memories_fts_ai AFTER INSERT ON memories BEGIN "
                "INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text); END"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER IF NOT EXISTS memories_fts_ad AFTER DELETE ON memories BEGIN "
                "INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text); END"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER IF NOT EXISTS memories_fts_au AFTER UPDATE OF text ON memories BEGIN "
                "INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text); "
                "INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text); END"
            )
        )
    elif conn.dialect.name == "postgresql":  # stored, so ranking does not re-parse every matched text
        conn.execute(
            text(
                "ALTER TABLE memories ADD COLUMN IF NOT EXISTS tsv tsvector "
                "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
            )
        )
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_memories_tsv ON memories USING GIN (tsv)"))
    # any other database: keyword search is off and retrieval is embedding-only (search() returns [])


def search(conn: Connection, user: str, words: list[str], limit: int) -> list[tuple[int, float]]:
    """(memory id, keyword score > 0, higher is better) of the user's best keyword matches."""
    if not words or limit <= 0:
        return []
    if conn.dialect.name == "sqlite":
        query = " OR ".join(f'"{w}"' for w in words)
        rows = conn.execute(
            text(
                "SELECT m.id, -bm25(memories_fts) FROM memories_fts JOIN memories m ON m.id = memories_fts.rowid "
                "WHERE memories_fts MATCH :q AND m.user_id = :u ORDER BY bm25(memories_fts) LIMIT :n"
            ),
            {"q": query, "u": user, "n": limit},
        ).all()
    elif conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(
                "SELECT id, ts_rank(tsv, q) FROM memories, to_tsquery('english', :q) q "
                "WHERE user_id = :u AND tsv @@ q ORDER BY 2 DESC LIMIT :n"
            ),
            {"q": " | ".join(words), "u": user, "n": limit},
        ).all()
    else:
        return []
    return [(int(i), float(s)) for i, s in rows]


def optimize(conn: Connection) -> None:
    """Merge FTS5 segments so that tokens of deleted memories leave the index's pages (then VACUUM
    removes them from the file): forget and retention must leave no trace, the keyword index included."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("INSERT INTO memories_fts(memories_fts) VALUES ('optimize')"))
