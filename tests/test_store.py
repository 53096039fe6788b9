"""The memory store. Tests taking `store` or `store_url` run on SQLite and on PostgreSQL
(tests/pgserver.py starts a throwaway server); the rest are about one backend's own behaviour."""

import os
import sqlite3
import stat
import threading
import time

import numpy as np
import pytest
from sqlalchemy import create_engine
from sqlalchemy import text as sql_text

from companion.errors import StoreUnavailable
from companion.memory.facts import Fact
from companion.memory.migrations import LATEST
from companion.memory.store import Store
from companion.types import MoodState


def unit(*values):
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def mood(valence=-0.5, at=1000.0):
    return MoodState(probs={"sadness": 0.8, "neutral": 0.2}, valence=valence, arousal=-0.2, confidence=0.7, at=at)


@pytest.fixture
def store(store_url):
    """Overrides conftest's SQLite-only store: every test here that takes it runs on both backends."""
    s = Store(store_url)
    yield s
    s.close()


def sql(url, statement, **params):
    """Run one statement on a connection of its own (not the Store's); returns all rows."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sql_text(statement), params)
            return result.all() if result.returns_rows else []
    finally:
        engine.dispose()


def test_migrations_are_versioned_and_idempotent(store_url):
    first = Store(store_url)
    assert first.applied_migrations == list(range(1, LATEST + 1))
    first.close()
    again = Store(store_url)
    assert again.applied_migrations == []
    again.close()
    assert [v for (v,) in sql(store_url, "SELECT version FROM schema_version ORDER BY version")] == list(
        range(1, LATEST + 1)
    )
    if store_url.startswith("sqlite"):
        assert sql(store_url, "PRAGMA journal_mode")[0][0] == "wal"


def test_instances_starting_together_migrate_once(store_url):
    """App instances that start at the same moment on one new database: one migrates, the others wait."""
    stores, errors = [], []

    def open_store():
        try:
            stores.append(Store(store_url))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if store_url.startswith("sqlite"):  # a second SQLite writer may find the file locked; it says so
        assert all(isinstance(e, StoreUnavailable) for e in errors)
    else:
        assert errors == []
    assert sorted(len(s.applied_migrations) for s in stores)[-1] == LATEST
    assert sum(len(s.applied_migrations) for s in stores) == LATEST
    assert [v for (v,) in sql(store_url, "SELECT version FROM schema_version ORDER BY version")] == list(
        range(1, LATEST + 1)
    )
    for s in stores:
        s.close()


def test_refuses_a_newer_schema(store_url):
    Store(store_url).close()
    sql(store_url, "INSERT INTO schema_version VALUES (999, 0)")
    with pytest.raises(StoreUnavailable, match="newer"):
        Store(store_url)


def test_exchange_is_stored_and_persists_across_restart(store_url):
    url = store_url
    s = Store(url)
    s.ensure_user("alice")
    s.save_exchange(
        "alice",
        user_text="My name is Alice",
        reply_text="Hi Alice",
        at=1000.0,
        mood=mood(),
        meta={"flags": []},
        embedding=unit(1, 0, 0),
        facts=[(Fact("name", "", "Alice", "The user's name is Alice."), unit(1, 0, 0))],
    )
    s.close()
    s = Store(url)
    assert [t["text"] for t in s.recent_turns("alice", 10)] == ["My name is Alice", "Hi Alice"]
    assert [f["value"] for f in s.facts("alice")] == ["Alice"]
    assert s.last_mood("alice").label == "sadness"
    s.close()


def test_ensure_user_keeps_the_row_and_a_forgotten_user_starts_anew(store):
    first = store.ensure_user("eve", 100.0)
    assert store.ensure_user("eve", 200.0) == first == 100.0  # created_at stays; last_seen_at moves
    assert store.get_user_field("eve", "last_seen_at") == 200.0
    store.forget("eve")
    assert store.ensure_user("eve", 300.0) == 300.0  # a new epoch: caches of the old one are void


def test_mood_is_not_stored_without_consent(store):
    store.ensure_user("bob")
    store.save_exchange("bob", user_text="hi", reply_text="hello", at=1.0, mood=mood(), meta={}, store_mood=False)
    assert store.moods("bob") == []
    assert all(t["mood"] is None for t in store.export("bob")["turns"])


def test_facts_replace_by_kind_and_key(store):
    store.ensure_user("a")
    store.add_fact("a", Fact("relation", "sister", "Ana", "The user's sister is Ana."))
    store.add_fact("a", Fact("relation", "sister", "Eva", "The user's sister is Eva."))
    store.add_fact("a", Fact("likes", "", "tea", "The user likes tea."))
    store.add_fact("a", Fact("likes", "", "jazz", "The user likes jazz."))
    assert sorted(f["value"] for f in store.facts("a")) == ["Eva", "jazz", "tea"]


def test_every_query_is_scoped_by_user(store):
    for user, text in (("alice", "alice secret"), ("bob", "bob secret")):
        store.ensure_user(user)
        store.save_exchange(
            user,
            user_text=text,
            reply_text="ok",
            at=5.0,
            mood=mood(),
            meta={},
            embedding=unit(1, 1, 0),
            facts=[(Fact("likes", "", text, f"The user likes {text}."), unit(1, 1, 0))],
        )
    assert all("bob" not in m["text"] for m in store.search("alice", unit(1, 1, 0), 10))
    bob_fact = store.facts("bob")[0]["id"]
    assert store.delete_fact("alice", bob_fact) is False  # alice cannot delete bob's fact
    assert store.update_fact("alice", bob_fact, "hacked") is False
    assert store.facts("bob")[0]["value"] == "bob secret"
    store.forget("alice")
    assert store.export("alice") == {"user": "alice", "exists": False}
    assert store.count_turns("bob") == 2


def test_search_ranks_by_similarity(store):
    store.ensure_user("c")
    store.save_exchange(
        "c", user_text="about dogs", reply_text="ok", at=1.0, mood=None, meta={}, embedding=unit(1, 0, 0)
    )
    store.save_exchange(
        "c", user_text="about cats", reply_text="ok", at=2.0, mood=None, meta={}, embedding=unit(0, 1, 0)
    )
    hits = store.search("c", unit(0.1, 1, 0), 1)
    assert hits[0]["text"] == "about cats"


def test_user_lock_serialises_one_user_across_stores(store_url):
    """Two instances (two Stores on one database): one user's turns never overlap, others' do."""
    if store_url.startswith("sqlite"):
        pytest.skip("SQLite serves one process per file; Companion's in-process lock serialises a user")
    a, b = Store(store_url), Store(store_url)
    events = []
    holding, release = threading.Event(), threading.Event()

    def first():
        with a.user_lock("alice"):
            events.append("a in")
            holding.set()
            release.wait(10)
            events.append("a out")

    t = threading.Thread(target=first)
    t.start()
    holding.wait(10)
    with b.user_lock("bob"):  # another user: not blocked
        events.append("b bob")
    late = threading.Thread(target=lambda: (b.user_lock("alice").__enter__(), events.append("b in")))
    late.start()
    time.sleep(0.3)
    assert "b in" not in events  # still waiting for alice's lock held by the other store
    release.set()
    t.join(10)
    late.join(10)
    assert events == ["a in", "b bob", "a out", "b in"]
    a.close()
    b.close()  # closing the connection that still holds alice's lock releases it server-side
    c = Store(store_url)
    with c.user_lock("alice"):
        pass
    c.close()


def test_forget_on_postgresql_deletes_rows_then_vacuums(store_url):
    """What forget guarantees on PostgreSQL: no row left, then VACUUM (docs/deploy.md: WAL, backups)."""
    if not store_url.startswith("postgresql"):
        pytest.skip("SQLite: test_forget_leaves_no_bytes_after_compaction checks the file itself")
    s = Store(store_url)
    s.ensure_user("zed")
    s.save_exchange("zed", user_text="zanzibar-7731", reply_text="noted", at=1.0, mood=mood(), meta={})
    s.forget("zed")
    s.compact()
    s.close()
    assert sql(store_url, "SELECT COUNT(*) FROM turns WHERE text LIKE '%zanzibar%'")[0][0] == 0
    vacuumed = dict(sql(store_url, "SELECT relname, last_vacuum IS NOT NULL FROM pg_stat_user_tables"))
    assert vacuumed["turns"] and vacuumed["moods"] and vacuumed["facts"] and vacuumed["users"]


def test_unreachable_postgresql_gives_clear_error(tmp_path):
    pytest.importorskip("psycopg")
    with pytest.raises(StoreUnavailable, match="cannot reach PostgreSQL.*COMPANION_STORE_URL") as caught:
        Store(f"postgresql+psycopg://nobody:secret-pw@/companion?host={tmp_path}", timeout_s=1)
    assert "secret-pw" not in str(caught.value)  # the URL is shown, its password never


def test_forget_leaves_no_bytes_after_compaction(tmp_path):
    path = tmp_path / "f.db"
    s = Store(f"sqlite:///{path}")
    s.ensure_user("zed")
    secret = "my very private zanzibar-7731 story"
    s.save_exchange("zed", user_text=secret, reply_text="noted", at=1.0, mood=mood(), meta={})
    s.forget("zed")
    s.compact()
    s.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("f.db"))
    assert b"zanzibar-7731" not in data


def test_read_only_database_gives_clear_error(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        # root ignores file modes; use SQLite's own read-only open mode instead. The store makes the
        # parent folder of what follows "sqlite:///", here the relative "file:/tmp/...": keep it in tmp_path.
        monkeypatch.chdir(tmp_path)
        url = f"sqlite:///file:{tmp_path / 'ro.db'}?mode=ro&uri=true"
        Store(f"sqlite:///{tmp_path / 'ro.db'}").close()
    else:
        Store(f"sqlite:///{tmp_path / 'ro.db'}").close()
        os.chmod(tmp_path / "ro.db", stat.S_IREAD)
        url = f"sqlite:///{tmp_path / 'ro.db'}"
    ro = Store.__new__(Store)
    with pytest.raises(StoreUnavailable, match="COMPANION_DATA_DIR|permissions|read"):
        Store.__init__(ro, url)
        ro.ensure_user("x")


def test_locked_database_gives_clear_error(tmp_path):
    path = tmp_path / "l.db"
    Store(f"sqlite:///{path}").close()
    holder = sqlite3.connect(path, timeout=0.1)
    holder.execute("BEGIN EXCLUSIVE")
    s = Store.__new__(Store)
    with pytest.raises(StoreUnavailable, match="locked"):
        Store.__init__(s, f"sqlite:///{path}", timeout_s=0.2)
        s.ensure_user("x")
    holder.rollback()


def test_integrity_and_purge(store):
    store.ensure_user("old")
    store.save_exchange("old", user_text="ancient", reply_text="ok", at=10.0, mood=mood(at=10.0), meta={})
    store.save_exchange("old", user_text="recent", reply_text="ok", at=5000.0, mood=mood(at=5000.0), meta={})
    counts = store.purge_older_than(100.0)
    assert counts["turns"] == 2 and counts["moods"] == 1
    assert [t["text"] for t in store.recent_turns("old", 10)] == ["recent", "ok"]
    assert store.integrity_ok()
