"""The memory half of the Store: sentence memories, their search, edits and deletes.

A mixin so that store.py stays about users, turns and privacy; it uses the Store's `_read`,
`_write` and `index`. Every query filters on the user id, like the rest of the Store.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from companion.memory import fulltext, retrieval, schema


class MemoryMethods:
    def search(
        self,
        user: str,
        query: Any,
        k: int,
        *,
        exclude_recent: int = 0,
        text: str | None = None,
        before_turn: int | None = None,
        min_score: float | None = None,
    ) -> list[dict[str, Any]]:
        """Top-k of the user's memories for `query` (the message's vector) and `text` (its words),
        by cosine plus keyword score (companion.memory.retrieval), skipping the user's last
        `exclude_recent` turns or every turn from `before_turn` on."""
        return [
            m.to_dict()
            for m in self.recall(
                user, query, k, exclude_recent=exclude_recent, text=text, before_turn=before_turn, min_score=min_score
            )
        ]

    def recall(
        self,
        user: str,
        query: Any,
        k: int,
        *,
        exclude_recent: int = 0,
        text: str | None = None,
        before_turn: int | None = None,
        min_score: float | None = None,
        keyword_weight: float = retrieval.KEYWORD_WEIGHT,
        link: bool = retrieval.LINK,
    ) -> list[retrieval.Memory]:
        if k <= 0 or query is None:
            return []
        with self._read() as conn:
            self._sync_index(conn, user)
            if exclude_recent > 0:
                cut = conn.execute(
                    select(schema.turns.c.id)
                    .where(and_(schema.turns.c.user_id == user, schema.turns.c.role == "user"))
                    .order_by(schema.turns.c.id.desc())
                    .offset(exclude_recent - 1)
                    .limit(1)
                ).scalar()
                if cut is not None:
                    before_turn = cut if before_turn is None else min(before_turn, cut)
            return retrieval.search(
                conn,
                self.index,
                user,
                query,
                k,
                text=text,
                before_turn=before_turn,
                min_score=min_score,
                keyword_weight=keyword_weight,
                link=link,
            )

    def _sync_index(self, conn: Connection, user: str) -> None:
        """One indexed lookup tells whether this process's vectors are current (see memory/index.py)."""
        t, st, u = schema.memories, schema.memory_state, schema.users
        row = conn.execute(
            select(u.c.created_at, st.c.epoch, select(func.max(t.c.id)).where(t.c.user_id == user).scalar_subquery())
            .select_from(u.outerjoin(st, st.c.user_id == u.c.user_id))
            .where(u.c.user_id == user)
        ).first()
        if row is None:
            self.index.drop(user)
            return

        def load(after: int):
            return conn.execute(
                select(t.c.id, t.c.turn_id, t.c.embedding, t.c.text)
                .where(and_(t.c.user_id == user, t.c.id > after))
                .order_by(t.c.id)
            ).all()

        self.index.sync(user, (row[0], row[1] or 0), int(row[2] or 0), load, fulltext.words)

    def _bump(self, conn: Connection, users: Sequence[str]) -> None:
        """Mark the users' memories as changed: every process reloads their vectors before its next search."""
        st = schema.memory_state
        for user in users:
            if not conn.execute(update(st).where(st.c.user_id == user).values(epoch=st.c.epoch + 1)).rowcount:
                conn.execute(insert(st).values(user_id=user, epoch=1))

    def memories(self, user: str) -> list[dict[str, Any]]:
        t = schema.memories
        with self._read() as conn:
            rows = conn.execute(
                select(t.c.id, t.c.turn_id, t.c.text, t.c.at).where(t.c.user_id == user).order_by(t.c.id)
            ).all()
        return [dict(r._mapping) for r in rows]

    def update_memory(self, user: str, memory_id: int, text_value: str, vector: Any) -> bool:
        """Correct a memory (its text and vector); the index of every process follows."""
        t = schema.memories
        with self._write() as conn:
            done = conn.execute(
                update(t)
                .where(and_(t.c.user_id == user, t.c.id == memory_id))
                .values(text=text_value, embedding=np.asarray(vector, np.float32).tobytes())
            ).rowcount
            if done:
                self._bump(conn, [user])
        return done > 0

    def delete_memory(self, user: str, memory_id: int) -> bool:
        t = schema.memories
        with self._write() as conn:
            done = conn.execute(delete(t).where(and_(t.c.user_id == user, t.c.id == memory_id))).rowcount
            if done:
                self._bump(conn, [user])
        return done > 0
