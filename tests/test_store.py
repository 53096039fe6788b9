import os
import sqlite3
import stat

import numpy as np
import pytest

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


def test_migrations_are_versioned_and_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    first = Store(url)
    assert first.applied_migrations == list(range(1, LATEST + 1))
    first.close()
    again = Store(url)
    assert again.applied_migrations == []
    versions = sqlite3.connect(tmp_path / "m.db").execute("SELECT version FROM schema_version").fetchall()
    assert [v for (v,) in versions] == list(range(1, LATEST + 1))
    assert sqlite3.connect(tmp_path / "m.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_refuses_a_newer_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'n.db'}"
    Store(url).close()
    con = sqlite3.connect(tmp_path / "n.db")
    con.execute("INSERT INTO schema_version VALUES (999, 0)")
    con.commit()
    with pytest.raises(StoreUnavailable, match="newer"):
        Store(url)


def test_exchange_is_stored_and_persists_across_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    s = Store(url)
    s.ensure_user("alice")
    s.save_exchange("alice", user_text="My name is Alice", reply_text="Hi Alice", at=1000.0, mood=mood(),
                    meta={"flags": []}, embedding=unit(1, 0, 0),
                    facts=[(Fact("name", "", "Alice", "The user's name is Alice."), unit(1, 0, 0))])
    s.close()
    s = Store(url)
    assert [t["text"] for t in s.recent_turns("alice", 10)] == ["My name is Alice", "Hi Alice"]
    assert [f["value"] for f in s.facts("alice")] == ["Alice"]
    assert s.last_mood("alice").label == "sadness"


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
        store.save_exchange(user, user_text=text, reply_text="ok", at=5.0, mood=mood(), meta={},
                            embedding=unit(1, 1, 0), facts=[(Fact("likes", "", text, f"The user likes {text}."),
                                                            unit(1, 1, 0))])
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
    store.save_exchange("c", user_text="about dogs", reply_text="ok", at=1.0, mood=None, meta={}, embedding=unit(1, 0, 0))
    store.save_exchange("c", user_text="about cats", reply_text="ok", at=2.0, mood=None, meta={}, embedding=unit(0, 1, 0))
    hits = store.search("c", unit(0.1, 1, 0), 1)
    assert hits[0]["text"] == "about cats"


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


def test_read_only_database_gives_clear_error(tmp_path):
    if os.geteuid() == 0:
        # root ignores file modes; use SQLite's own read-only open mode instead
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
