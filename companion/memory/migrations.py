"""Versioned schema migrations. Append a function to MIGRATIONS; never edit an applied one."""
from __future__ import annotations

import time
from typing import Callable

from sqlalchemy import Connection, text

from companion.errors import StoreUnavailable
from companion.memory import schema


def _v1_initial(conn: Connection) -> None:
    schema.metadata.create_all(conn, tables=[schema.users, schema.turns, schema.moods, schema.facts])


def _v2_fact_lookup(conn: Connection) -> None:
    # Facts are replaced by (kind, key): "my sister is Ana" then "my sister is Eva" keeps one row.
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_facts_user_kind_key ON facts (user_id, kind, key)"))


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _v1_initial),
    (2, _v2_fact_lookup),
]

LATEST = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    schema.metadata.create_all(conn, tables=[schema.schema_version])
    row = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar()
    return int(row or 0)


def migrate(conn: Connection) -> list[int]:
    """Apply pending migrations in order, each recorded in schema_version. Returns those applied."""
    done = current_version(conn)
    if done > LATEST:
        raise StoreUnavailable(f"the database schema is version {done}, newer than this code ({LATEST}); "
                           "upgrade the companion package before opening it")
    applied = []
    for version, step in MIGRATIONS:
        if version > done:
            step(conn)
            conn.execute(schema.schema_version.insert().values(version=version, applied_at=time.time()))
            applied.append(version)
    return applied
