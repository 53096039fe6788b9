"""Versioned schema migrations. Append a function to MIGRATIONS; never edit an applied one."""

from __future__ import annotations

import time
from typing import Callable

from sqlalchemy import Connection, text

from companion.errors import StoreUnavailable
from companion.memory import fulltext, schema


def _v1_initial(conn: Connection) -> None:
    schema.metadata.create_all(conn, tables=[schema.users, schema.turns, schema.moods, schema.facts])


def _v2_fact_lookup(conn: Connection) -> None:
    # Facts are replaced by (kind, key): "my sister is Ana" then "my sister is Eva" keeps one row.
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_facts_user_kind_key ON facts (user_id, kind, key)"))


def _v3_memories(conn: Connection) -> None:
    # Sentence memories, their keyword index (dialect-specific) and the per-user index epoch;
    # existing user turns with an embedding become one memory each. See docs/memory.md.
    schema.metadata.create_all(conn, tables=[schema.memories, schema.memory_state])
    fulltext.create(conn)
    conn.execute(
        text(
            "INSERT INTO memories (user_id, turn_id, text, at, embedding) SELECT user_id, id, text, at, "
            "embedding FROM turns WHERE role = 'user' AND embedding IS NOT NULL ORDER BY id"
        )
    )


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1_initial),
    (2, _v2_fact_lookup),
    (3, _v3_memories),
]

LATEST = MIGRATIONS[-1][0]
MIGRATION_LOCK = 0x656D626572  # "ember": an advisory-lock key no per-user key (64-bit hash) is likely to hit


def current_version(conn: Connection) -> int:
    schema.metadata.create_all(conn, tables=[schema.schema_version])
    row = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar()
    return int(row or 0)


def migrate(conn: Connection) -> list[int]:
    """Apply pending migrations in order, each recorded in schema_version. Returns those applied."""
    if conn.dialect.name == "postgresql":
        # Instances that start together must not both migrate: the second waits here, in the same
        # transaction, then finds the work done. (SQLite: one process per file.)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
    done = current_version(conn)
    if done > LATEST:
        raise StoreUnavailable(
            f"the database schema is version {done}, newer than this code ({LATEST}); "
            "upgrade the companion package before opening it"
        )
    applied = []
    for version, step in MIGRATIONS:
        if version > done:
            step(conn)
            conn.execute(schema.schema_version.insert().values(version=version, applied_at=time.time()))
            applied.append(version)
    return applied
