"""Tables of the memory store. Every row but `schema_version` belongs to one user."""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", Float, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
    Column("passphrase_hash", String(256)),  # set by the app's sign-in; NULL for API users
    Column("consent", Text, nullable=False, default="{}"),  # JSON
    Column("calibration", Text, nullable=False, default="{}"),  # JSON, companion.fusion.Calibration
    Column("voice_baseline", Text, nullable=False, default="{}"),  # JSON, pipelines.voice.update_baseline
    Column("session_started_at", Float),  # continuous-use start, for AI-disclosure reminders
    Column("disclosed_at", Float),
)

turns = Table(
    "turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(64), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),  # user | assistant
    Column("text", Text, nullable=False),
    Column("at", Float, nullable=False),
    Column("mood", Text),  # JSON MoodState (user turns, if consented)
    Column("meta", Text),  # JSON: strategy, flags
    Column("embedding", LargeBinary),  # float32 bytes, L2-normalised
)
Index("ix_turns_user_at", turns.c.user_id, turns.c.at)

moods = Table(
    "moods",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(64), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("at", Float, nullable=False),
    Column("mood", Text, nullable=False),  # JSON MoodState
    Column("source", String(16), nullable=False),  # turn | observe | feedback
)
Index("ix_moods_user_at", moods.c.user_id, moods.c.at)

facts = Table(
    "facts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(64), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),  # name | likes | dislikes | relation | job | place | other
    Column("key", String(128), nullable=False),  # e.g. "sister" for relation, "" for name
    Column("value", Text, nullable=False),
    Column("text", Text, nullable=False),  # the fact as a sentence about the user
    Column("at", Float, nullable=False),
    Column("embedding", LargeBinary),
)
Index("ix_facts_user", facts.c.user_id)

# Retrieval units: a user turn, or each sentence of a long one (a fact inside a long message is
# otherwise diluted in one vector). AUTOINCREMENT: ids are never reused, so the in-process index
# (companion.memory.index) can load "everything after the last id it holds" after any delete.
memories = Table(
    "memories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(64), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("turn_id", Integer, ForeignKey("turns.id", ondelete="CASCADE")),
    Column("text", Text, nullable=False),
    Column("at", Float, nullable=False),
    Column("embedding", LargeBinary),  # float32 bytes, L2-normalised
    sqlite_autoincrement=True,
)
Index("ix_memories_user_id", memories.c.user_id, memories.c.id)

# Bumped in the same transaction as any edit or delete of a user's memories: an index that holds
# an older epoch reloads that user, so no edited or deleted vector is ever scored again.
memory_state = Table(
    "memory_state",
    metadata,
    Column("user_id", String(64), ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True),
    Column("epoch", Integer, nullable=False, default=0),
)
