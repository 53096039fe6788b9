"""What the store does differently on PostgreSQL: pool sizing, per-user advisory locks, VACUUM.

SQLite keeps one file per box and needs none of this; PostgreSQL is the store that several app
instances share (docs/deploy.md), so a user's turns must be serialised by the database itself.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import text
from sqlalchemy.engine import Engine


def engine_options(timeout_s: float, pool_size: int) -> dict[str, Any]:
    # A turn holds one connection for its user lock and borrows another for each query, so the pool
    # must outgrow the number of concurrent turns; pre_ping survives a database restart.
    return dict(
        connect_args={"connect_timeout": max(1, int(timeout_s))},
        pool_size=pool_size,
        max_overflow=2 * pool_size,
        pool_timeout=timeout_s,
        pool_pre_ping=True,
    )


def lock_key(user: str) -> int:
    """A stable signed 64-bit advisory-lock key per user (Python's hash() differs between processes).
    Two users sharing a key would only wait for each other, never see each other's data."""
    return int.from_bytes(
        hashlib.blake2b(f"companion-user:{user}".encode(), digest_size=8).digest(), "big", signed=True
    )


@contextmanager
def advisory_lock(engine: Engine, user: str) -> Iterator[None]:
    """Hold a session advisory lock on a connection of its own until the block ends. The server drops
    the lock when that connection closes, so a crashed instance never leaves a user locked out."""
    key = lock_key(user)
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")  # no idle open transaction
    try:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
    except BaseException:
        conn.close()
        raise
    try:
        yield
    finally:
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        except Exception:  # a broken connection: discarding it releases the lock server-side
            conn.invalidate()
        conn.close()


def vacuum(engine: Engine, tables: list[str]) -> None:
    """Plain VACUUM: deleted rows' space is reclaimed for reuse. It does not scrub bytes already in
    the WAL, in backups, or in pages not yet reused (docs/deploy.md: what a DBA must add). VACUUM
    FULL would rewrite the tables, but it locks every user's turns out while it runs."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM refuses a transaction block
        for name in tables:
            conn.execute(text(f'VACUUM "{name}"'))
