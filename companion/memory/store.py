"""The memory store: SQLAlchemy Core over SQLite by default (any URL works).

Every method takes the user id and every query filters on it: no call can read or
delete another user's rows. Multi-row writes run in one transaction, so a turn is
either fully stored or not at all.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from sqlalchemy import and_, create_engine, delete, event, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DatabaseError, OperationalError

from companion.errors import StoreUnavailable
from companion.memory import fulltext, postgres, schema
from companion.memory.facts import Fact
from companion.memory.index import VectorIndex
from companion.memory.memory_methods import MemoryMethods
from companion.memory.migrations import migrate
from companion.types import MoodState

_TABLES_BY_USER = (schema.turns, schema.moods, schema.facts)
# a turn's sentence memories and the user's index epoch: deleted with them, not counted apart
_DERIVED_BY_USER = (schema.memories, schema.memory_state)


def _vec(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32)


def _blob(vector: Any) -> bytes | None:
    return None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()


class Store(MemoryMethods):
    def __init__(self, url: str, *, timeout_s: float = 10.0, pool_size: int = 10):
        self.url = make_url(url).render_as_string(hide_password=True)  # shown in errors: never the password
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = url.startswith("postgresql")
        if self.is_sqlite and ":memory:" not in url and url != "sqlite://":
            Path(url.split("///", 1)[1]).expanduser().parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {}
        if self.is_sqlite:
            options["connect_args"] = {"timeout": timeout_s, "check_same_thread": False}
        elif self.is_postgres:
            options = postgres.engine_options(timeout_s, pool_size)
        self.engine: Engine = create_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        with self._write() as conn:
            self.applied_migrations = migrate(conn)
        self.index = VectorIndex()  # this process's copy of the memory vectors; the tables stay the truth

    # -- plumbing -------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreUnavailable(_explain(exc, self.url)) from exc
        except DatabaseError as exc:
            raise StoreUnavailable(
                f"the memory store at {self.url} is damaged or not a database ({exc.orig}); "
                "move it aside and start again, or restore a backup"
            ) from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise StoreUnavailable(_explain(exc, self.url)) from exc

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def user_lock(self, user: str) -> Iterator[None]:
        """Serialise one user's turns across processes that share this database: a PostgreSQL
        advisory lock for the whole turn. SQLite (one file, one process): the caller's in-process
        lock is the whole story, so this does nothing."""
        with ExitStack() as held:
            if self.is_postgres:
                try:
                    held.enter_context(postgres.advisory_lock(self.engine, user))
                except OperationalError as exc:
                    raise StoreUnavailable(_explain(exc, self.url)) from exc
            yield

    # -- users -----------------------------------------------------------------------------
    def ensure_user(self, user: str, now: float | None = None) -> float:
        """Create the user's row or touch last_seen_at. Returns the row's created_at: a new value
        means the user was forgotten (perhaps by another instance) and began again."""
        now = time.time() if now is None else now
        t = schema.users
        new = dict(user_id=user, created_at=now, last_seen_at=now, consent="{}", calibration="{}", voice_baseline="{}")
        with self._write() as conn:
            if self.is_sqlite or self.is_postgres:  # one statement: two instances may add the same user at once
                upsert = (pg_insert if self.is_postgres else sqlite_insert)(t).values(**new)
                return float(
                    conn.execute(
                        upsert.on_conflict_do_update(
                            index_elements=[t.c.user_id], set_={"last_seen_at": now}
                        ).returning(t.c.created_at)
                    ).scalar()
                )
            created = conn.execute(select(t.c.created_at).where(t.c.user_id == user)).scalar()
            if created is not None:
                conn.execute(update(t).where(t.c.user_id == user).values(last_seen_at=now))
                return float(created)
            conn.execute(insert(t).values(**new))
            return now

    def user_exists(self, user: str) -> bool:
        with self._read() as conn:
            return (
                conn.execute(select(schema.users.c.user_id).where(schema.users.c.user_id == user)).first() is not None
            )

    def get_user_json(self, user: str, column: str) -> dict[str, Any]:
        col = schema.users.c[column]
        with self._read() as conn:
            value = conn.execute(select(col).where(schema.users.c.user_id == user)).scalar()
        return json.loads(value) if value else {}

    def set_user_json(self, user: str, column: str, value: dict[str, Any]) -> None:
        with self._write() as conn:
            conn.execute(update(schema.users).where(schema.users.c.user_id == user).values({column: json.dumps(value)}))

    def get_user_field(self, user: str, column: str) -> Any:
        with self._read() as conn:
            return conn.execute(select(schema.users.c[column]).where(schema.users.c.user_id == user)).scalar()

    def set_user_field(self, user: str, column: str, value: Any) -> None:
        with self._write() as conn:
            conn.execute(update(schema.users).where(schema.users.c.user_id == user).values({column: value}))

    def set_user_field_once(self, user: str, column: str, value: Any) -> bool:
        """Set `column` only while it is NULL, in one statement, so of two callers at once only one
        wins. True when this call set it."""
        t = schema.users
        with self._write() as conn:
            done = conn.execute(
                update(t).where(and_(t.c.user_id == user, t.c[column].is_(None))).values({column: value})
            )
        return done.rowcount == 1

    # -- turns and moods --------------------------------------------------------------------
    def save_exchange(
        self,
        user: str,
        *,
        user_text: str,
        reply_text: str,
        at: float,
        mood: MoodState | None,
        meta: dict[str, Any],
        embedding: Any = None,
        facts: Sequence[tuple[Fact, Any]] = (),
        store_mood: bool = True,
        memories: Sequence[tuple[str, Any]] | None = None,
    ) -> int:
        """Store one whole turn (user message, reply, mood, new facts, its memories) atomically.

        `memories`: (sentence, vector) pairs to retrieve the turn by; default one memory, the whole
        message with `embedding`. Returns the user turn id."""
        mood_json = json.dumps(mood.to_dict()) if (mood is not None and store_mood) else None
        with self._write() as conn:
            user_turn = conn.execute(
                insert(schema.turns).values(
                    user_id=user, role="user", text=user_text, at=at, mood=mood_json, meta=None, embedding=None
                )
            ).inserted_primary_key[0]  # the vector lives on its memories
            if memories is None:
                memories = [(user_text, embedding)] if embedding is not None else []
            if memories:
                conn.execute(
                    insert(schema.memories),
                    [
                        {"user_id": user, "turn_id": user_turn, "text": t, "at": at, "embedding": _blob(v)}
                        for t, v in memories
                    ],
                )
            conn.execute(
                insert(schema.turns).values(
                    user_id=user,
                    role="assistant",
                    text=reply_text,
                    at=at + 1e-3,
                    mood=None,
                    meta=json.dumps(meta),
                    embedding=None,
                )
            )
            if mood_json is not None and mood.known:
                conn.execute(insert(schema.moods).values(user_id=user, at=at, mood=mood_json, source="turn"))
            for fact, vector in facts:
                self._upsert_fact(conn, user, fact, vector, at)
        return int(user_turn)

    def add_mood(self, user: str, mood: MoodState, source: str) -> None:
        with self._write() as conn:
            conn.execute(
                insert(schema.moods).values(user_id=user, at=mood.at, mood=json.dumps(mood.to_dict()), source=source)
            )

    def recent_turns(self, user: str, limit: int) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                select(schema.turns.c.role, schema.turns.c.text, schema.turns.c.at, schema.turns.c.id)
                .where(schema.turns.c.user_id == user)
                .order_by(schema.turns.c.id.desc())
                .limit(limit)
            ).all()
        return [dict(r._mapping) for r in reversed(rows)]

    def last_flagged_at(self, user: str, flag: str) -> float | None:
        """When the companion last sent this user a reply carrying `flag` (from the turn's meta)."""
        needle = json.dumps(flag)  # flags are stored as a JSON list of strings
        with self._read() as conn:
            return conn.execute(
                select(func.max(schema.turns.c.at)).where(
                    schema.turns.c.user_id == user,
                    schema.turns.c.role == "assistant",
                    schema.turns.c.meta.contains(needle, autoescape=True),
                )
            ).scalar()

    def count_turns(self, user: str) -> int:
        with self._read() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(schema.turns).where(schema.turns.c.user_id == user)
                ).scalar()
                or 0
            )

    def moods(self, user: str, since: float | None = None) -> list[MoodState]:
        query = select(schema.moods.c.mood).where(schema.moods.c.user_id == user)
        if since is not None:
            query = query.where(schema.moods.c.at >= since)
        with self._read() as conn:
            rows = conn.execute(query.order_by(schema.moods.c.at)).scalars().all()
        return [MoodState.from_dict(json.loads(r)) for r in rows]

    def last_mood(self, user: str) -> MoodState | None:
        with self._read() as conn:
            row = conn.execute(
                select(schema.moods.c.mood)
                .where(schema.moods.c.user_id == user)
                .order_by(schema.moods.c.at.desc())
                .limit(1)
            ).scalar()
        return MoodState.from_dict(json.loads(row)) if row else None

    # -- facts -------------------------------------------------------------------------------
    def _upsert_fact(self, conn: Connection, user: str, fact: Fact, vector: Any, at: float) -> None:
        t = schema.facts
        # One value per name/relation/job/place; likes and dislikes accumulate.
        match = and_(t.c.user_id == user, t.c.kind == fact.kind, t.c.key == fact.key)
        if fact.kind in ("likes", "dislikes"):
            match = and_(match, func.lower(t.c.value) == fact.value.lower())
        conn.execute(delete(t).where(match))
        conn.execute(
            insert(t).values(
                user_id=user,
                kind=fact.kind,
                key=fact.key,
                value=fact.value,
                text=fact.text,
                at=at,
                embedding=_blob(vector),
            )
        )

    def add_fact(self, user: str, fact: Fact, vector: Any = None, at: float | None = None) -> None:
        with self._write() as conn:
            self._upsert_fact(conn, user, fact, vector, time.time() if at is None else at)

    def facts(self, user: str) -> list[dict[str, Any]]:
        t = schema.facts
        with self._read() as conn:
            rows = conn.execute(
                select(t.c.id, t.c.kind, t.c.key, t.c.value, t.c.text, t.c.at)
                .where(t.c.user_id == user)
                .order_by(t.c.id)
            ).all()
        return [dict(r._mapping) for r in rows]

    def delete_fact(self, user: str, fact_id: int) -> bool:
        with self._write() as conn:
            done = conn.execute(
                delete(schema.facts).where(and_(schema.facts.c.user_id == user, schema.facts.c.id == fact_id))
            )
        return done.rowcount > 0

    def update_fact(self, user: str, fact_id: int, text_value: str, vector: Any = None) -> bool:
        with self._write() as conn:
            done = conn.execute(
                update(schema.facts)
                .where(and_(schema.facts.c.user_id == user, schema.facts.c.id == fact_id))
                .values(text=text_value, value=text_value, embedding=_blob(vector))
            )
        return done.rowcount > 0

    # -- privacy -----------------------------------------------------------------------------
    def export(self, user: str) -> dict[str, Any]:
        with self._read() as conn:
            urow = conn.execute(select(schema.users).where(schema.users.c.user_id == user)).first()
            if urow is None:
                return {"user": user, "exists": False}
            profile = {k: v for k, v in urow._mapping.items() if k != "passphrase_hash"}
            profile["has_passphrase"] = urow.passphrase_hash is not None
            for key in ("consent", "calibration", "voice_baseline"):
                profile[key] = json.loads(profile[key] or "{}")
            turns = conn.execute(
                select(
                    schema.turns.c.id,
                    schema.turns.c.role,
                    schema.turns.c.text,
                    schema.turns.c.at,
                    schema.turns.c.mood,
                    schema.turns.c.meta,
                )
                .where(schema.turns.c.user_id == user)
                .order_by(schema.turns.c.id)
            ).all()
            moods = conn.execute(
                select(schema.moods.c.at, schema.moods.c.mood, schema.moods.c.source)
                .where(schema.moods.c.user_id == user)
                .order_by(schema.moods.c.at)
            ).all()
        return {
            "user": user,
            "exists": True,
            "exported_at": time.time(),
            "profile": profile,
            "facts": self.facts(user),
            "memories": self.memories(user),  # the turns' sentences as retrieved (vectors left out)
            "turns": [
                {
                    "id": r.id,
                    "role": r.role,
                    "text": r.text,
                    "at": r.at,
                    "mood": json.loads(r.mood) if r.mood else None,
                    "meta": json.loads(r.meta) if r.meta else None,
                }
                for r in turns
            ],
            "moods": [{"at": r.at, "source": r.source, "mood": json.loads(r.mood)} for r in moods],
        }

    def forget(self, user: str) -> dict[str, int]:
        """Delete every row of `user`; returns the count per table."""
        counts = {}
        with self._write() as conn:
            for table in _DERIVED_BY_USER:  # first: memories point at turns
                conn.execute(delete(table).where(table.c.user_id == user))
            for table in _TABLES_BY_USER:
                counts[table.name] = conn.execute(delete(table).where(table.c.user_id == user)).rowcount
            counts["users"] = conn.execute(delete(schema.users).where(schema.users.c.user_id == user)).rowcount
        self.index.drop(user)
        return counts

    def purge_older_than(self, cutoff: float) -> dict[str, int]:
        """Retention: delete turns and moods older than `cutoff` for every user."""
        with self._write() as conn:
            aged = (
                conn.execute(select(schema.memories.c.user_id).where(schema.memories.c.at < cutoff).distinct())
                .scalars()
                .all()
            )
            self._bump(conn, aged)  # their vectors are reloaded without the purged memories
            # a turn's memories are part of the turn: deleted with it, counted as the turn
            conn.execute(delete(schema.memories).where(schema.memories.c.at < cutoff))
            return {
                t.name: conn.execute(delete(t).where(t.c.at < cutoff)).rowcount for t in (schema.turns, schema.moods)
            }

    def compact(self) -> None:
        """SQLite: rewrite the file so deleted rows leave no bytes behind (VACUUM). PostgreSQL: plain
        VACUUM (postgres.vacuum says what that does and does not guarantee)."""
        if self.is_postgres:
            try:
                postgres.vacuum(self.engine, [t.name for t in schema.metadata.sorted_tables])
            except OperationalError as exc:
                raise StoreUnavailable(_explain(exc, self.url)) from exc
            return
        if not self.is_sqlite:
            return
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                fulltext.optimize(conn)  # drop deleted memories' words from the keyword index's pages
                conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
                conn.execute(text("VACUUM"))
                conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        except OperationalError as exc:
            raise StoreUnavailable(_explain(exc, self.url)) from exc

    def integrity_ok(self) -> bool:
        if not self.is_sqlite:
            return True
        with self._read() as conn:
            return conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
    except Exception:  # a read-only file cannot switch journal mode; reads still work
        pass
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA secure_delete=ON")  # deleted text is overwritten, not just unlinked
    cur.close()


def _explain(exc: OperationalError, url: str) -> str:
    msg = str(exc.orig) if exc.orig else str(exc)
    if url.startswith("postgresql") and ("connect" in msg or "No such file" in msg or "refused" in msg):
        return (
            f"cannot reach PostgreSQL at {url} ({' '.join(msg.split())}); start the server, or fix COMPANION_STORE_URL "
            "(e.g. postgresql+psycopg://user@host/dbname)"
        )
    if "locked" in msg:
        return (
            f"the memory store {url} is locked by another process ({msg}); close the other companion "
            "instance or wait and retry"
        )
    if "readonly" in msg or "read-only" in msg or "unable to open" in msg:
        return (
            f"the memory store {url} cannot be written ({msg}); set COMPANION_DATA_DIR to a writable folder "
            "or fix the file's permissions"
        )
    return f"the memory store {url} failed: {msg}"
