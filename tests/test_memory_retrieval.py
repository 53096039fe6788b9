"""Memory retrieval: sentence memories, hybrid search, dates, and an index that stays exact after
edits, deletes, forget and retention purges, within one process and across two (SQLite and PostgreSQL)."""

import time

import pytest
from pgserver import stored_bytes
from sqlalchemy import create_engine

from companion import Companion, Settings
from companion.generation.echo import EchoGenerator
from companion.memory import fulltext, migrations, retrieval
from companion.memory.store import Store
from tests.fakes import WordEmbedder

EMBED = WordEmbedder()
LONG = (
    "Work has been a mess this week and I barely slept. My cousin Priya moved to Denver on Monday. "
    "Anyway the weather was awful and the trains were late again."
)


def vec(text):
    return EMBED.embed([text])[0]


def say(store, user, text, at=1000.0):
    turn = retrieval.embed_turn(EMBED.embed, text)
    return store.save_exchange(
        user, user_text=text, reply_text="ok", at=at, mood=None, meta={}, embedding=turn.query, memories=turn.memories
    )


def found(store, user, query, k=5):
    return [m["text"] for m in store.search(user, vec(query), k, text=query)]


@pytest.fixture
def pair(store_url):
    """Two stores on one database: two app instances, each with its own in-process index."""
    a, b = Store(store_url), Store(store_url)
    a.ensure_user("ann")
    yield a, b
    a.close()
    b.close()


def test_long_messages_become_sentence_memories_and_short_ones_stay_whole():
    assert retrieval.split_sentences("I feel low today.") == ["I feel low today."]
    assert retrieval.split_sentences("Hi. Ok. I feel low today.") == ["Hi. Ok. I feel low today."]  # fragments join
    parts = retrieval.split_sentences(LONG)
    assert len(parts) == 3 and parts[1] == "My cousin Priya moved to Denver on Monday."


def test_a_fact_inside_a_long_message_is_found_by_its_sentence(store):
    store.ensure_user("ann")
    say(store, "ann", LONG)
    for i in range(30):
        say(store, "ann", f"Filler message number {i} about my day and my job.", at=2000.0 + i)
    hits = store.search("ann", vec("Where did Priya move?"), 3, text="Where did Priya move?")
    assert hits[0]["text"] == "My cousin Priya moved to Denver on Monday."
    assert hits[0]["keyword"] == 1.0  # the rare name found it by keyword as well


def test_the_keyword_search_keeps_the_rarest_words_within_its_budget(store, monkeypatch):
    monkeypatch.setattr(fulltext, "COMMON", 3)  # 1,000 in use: a search reads at most about that many matches
    store.ensure_user("ann")
    for i in range(4):
        say(store, "ann", f"coffee again, cup number {i}", at=1000.0 + i)
    say(store, "ann", "zanzibar trip", at=2000.0)
    hits = {h["text"]: h["keyword"] for h in store.search("ann", vec("coffee zanzibar"), 5, text="coffee zanzibar")}
    assert hits["zanzibar trip"] == 1.0 and len(hits) == 5
    assert all(score == 0.0 for text, score in hits.items() if "coffee" in text)
    assert store.index.rarest("ann", ["coffee", "zanzibar", "unseen"], 3) == ["zanzibar", "unseen"]
    assert store.index.rarest("ann", ["coffee", "zanzibar", "unseen"], 6) == ["coffee", "zanzibar", "unseen"]


def test_new_memories_are_appended_to_the_index_without_a_reload(store):
    store.ensure_user("ann")
    say(store, "ann", "I adopted a kitten called Mochi")
    assert found(store, "ann", "kitten Mochi")[0] == "I adopted a kitten called Mochi"
    before = store.index._users["ann"]
    say(store, "ann", "I went camping at Crater Lake", at=1001.0)
    assert found(store, "ann", "camping Crater Lake")[0] == "I went camping at Crater Lake"
    assert store.index._users["ann"] is before and store.index.size("ann") == 2


def test_an_edited_memory_is_found_by_its_new_words_only_in_both_instances(pair):
    a, b = pair
    say(a, "ann", "My dentist is Dr Hale")
    assert found(b, "ann", "dentist Hale") == ["My dentist is Dr Hale"]  # b's index is warm now
    memory = a.memories("ann")[0]
    assert a.update_memory("ann", memory["id"], "My dentist is Dr Okafor", vec("My dentist is Dr Okafor"))
    for store in (a, b):
        assert all("Hale" not in t for t in found(store, "ann", "dentist Hale"))
        assert found(store, "ann", "dentist Okafor")[0] == "My dentist is Dr Okafor"
        new_cosine = float(vec("My dentist is Dr Okafor") @ vec("dentist Okafor"))  # scored by the new vector
        assert store.search("ann", vec("dentist Okafor"), 1, text="dentist Okafor")[0]["cosine"] == pytest.approx(
            new_cosine
        )


def test_a_deleted_memory_is_never_retrieved_again_in_either_instance(pair):
    a, b = pair
    say(a, "ann", "My secret code word is zanzibar")
    say(a, "ann", "I like tea in the morning", at=1001.0)
    assert "My secret code word is zanzibar" in found(b, "ann", "secret code zanzibar")
    secret = next(m for m in a.memories("ann") if "zanzibar" in m["text"])
    assert b.delete_memory("ann", secret["id"])
    assert not b.delete_memory("bob", secret["id"])  # only the owner's ids count
    for store in (a, b):
        assert all("zanzibar" not in t for t in found(store, "ann", "secret code zanzibar", k=10))


def test_forget_leaves_nothing_retrievable_even_for_a_warm_index_in_another_instance(pair, store_url):
    a, b = pair
    for i in range(3):
        say(a, "ann", f"private story number {i} about quokkas", at=1000.0 + i)
    assert found(b, "ann", "quokkas story")  # b holds ann's vectors
    a.forget("ann")
    assert found(b, "ann", "quokkas story") == []
    assert b.index.size("ann") == 0
    # ann begins again with as many memories as before: b must not score the old vectors
    a.ensure_user("ann", now=time.time())
    for i in range(3):
        say(a, "ann", f"new note {i} about gardening", at=5000.0 + i)
    hits = b.search("ann", vec("private story about quokkas"), 10, text="quokkas story")
    assert all("quokkas" not in h["text"] for h in hits)
    assert all(
        h["cosine"] == pytest.approx(float(vec(h["text"]) @ vec("private story about quokkas")), abs=1e-5) for h in hits
    )
    a.compact()
    if store_url.startswith("sqlite"):  # forget leaves no bytes: the keyword index's pages included
        assert b"quokkas" not in stored_bytes(store_url)


def test_retention_purge_drops_old_memories_from_every_instance(pair):
    a, b = pair
    say(a, "ann", "An ancient memory about the lighthouse", at=10.0)
    say(a, "ann", "A recent memory about the harbour", at=5000.0)
    assert len(found(b, "ann", "memory lighthouse harbour")) == 2
    counts = a.purge_older_than(100.0)
    assert counts["turns"] == 2 and len(a.memories("ann")) == 1
    for store in (a, b):
        assert found(store, "ann", "memory lighthouse harbour") == ["A recent memory about the harbour"]


def test_memories_of_the_turns_still_in_view_are_not_recalled(store):
    store.ensure_user("ann")
    first = say(store, "ann", "I lost my keys at the station")
    second = say(store, "ann", "I lost my wallet at the station", at=1001.0)
    assert found(store, "ann", "lost at the station") and len(found(store, "ann", "lost station")) == 2
    only_old = store.search("ann", vec("lost station"), 5, text="lost station", before_turn=second)
    assert [h["turn_id"] for h in only_old] == [first]
    assert store.search("ann", vec("lost station"), 5, text="lost station", exclude_recent=1) == only_old


def test_a_second_hop_links_what_the_best_hit_names():
    store = Store("sqlite://")
    store.ensure_user("ann")
    say(store, "ann", "My best friend Imani opened a bakery")
    for i in range(20):
        say(store, "ann", f"Today I felt tired after work, day {i}", at=1001.0 + i)
    say(store, "ann", "Imani got a great review in the paper", at=2000.0)
    query = "How is my best friend doing?"
    plain = [m.text for m in store.recall("ann", vec(query), 2, text=query, link=False)]
    linked = [m.text for m in store.recall("ann", vec(query), 2, text=query, link=True)]
    assert "Imani got a great review in the paper" not in plain
    assert linked == ["My best friend Imani opened a bakery", "Imani got a great review in the paper"]


def test_the_version_2_store_gains_memories_for_its_old_turns(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:  # a store as version 2 left it: embeddings on the turns
        migrations.current_version(conn)  # creates schema_version
        for version, step in migrations.MIGRATIONS[:2]:
            step(conn)
            conn.exec_driver_sql("INSERT INTO schema_version VALUES (?, 0)", (version,))
        conn.exec_driver_sql(
            "INSERT INTO users (user_id, created_at, last_seen_at, consent, calibration, "
            "voice_baseline) VALUES ('ann', 1, 1, '{}', '{}', '{}')"
        )
        conn.exec_driver_sql(
            "INSERT INTO turns (user_id, role, text, at, embedding) VALUES "
            "('ann', 'user', 'I grew up near the sea', 5, ?)",
            (vec("I grew up near the sea").tobytes(),),
        )
    engine.dispose()
    store = Store(url)
    assert store.applied_migrations == [v for v, _ in migrations.MIGRATIONS[2:]]
    assert found(store, "ann", "where did I grow up near the sea") == ["I grew up near the sea"]
    store.close()


class CountingEmbedder(WordEmbedder):
    def __init__(self):
        self.calls = []

    def embed(self, texts):
        self.calls.append(list(texts))
        return super().embed(texts)


def test_a_turn_embeds_once_and_the_prompt_shows_dates_and_today(tmp_path):
    embedder, generator = CountingEmbedder(), EchoGenerator(reply="I hear you.")
    bot = Companion(
        Settings(data_dir=tmp_path, history_turns=0),
        generator=generator,
        embedder=embedder,
        analyzers={m: None for m in ("text", "voice", "face")},
    )
    bot.respond("ann", "I went camping at Crater Lake with my cousins")
    embedder.calls.clear()
    reply = bot.respond("ann", "When did I go camping at Crater Lake?")
    assert embedder.calls == [["When did I go camping at Crater Lake?"]]  # search and storage share it
    block = reply.context["memories"]
    today = time.localtime()
    assert f"today is {time.strftime('%A', today)} {today.tm_mday} " in block
    assert f"on {today.tm_mday} {time.strftime('%b', today)} (today) they said: I went camping at Crater Lake" in block
    assert "Crater Lake" in generator.calls[-1][0]["content"]
    assert [m["text"] for m in bot.export("ann")["memories"]] == [
        "I went camping at Crater Lake with my cousins",
        "When did I go camping at Crater Lake?",
    ]
    bot.close()


def test_a_memory_told_to_one_instance_is_recalled_by_the_other_on_its_next_turn(store_url):
    def instance(generator):
        return Companion(
            Settings(store_url=store_url, history_turns=0),
            store=Store(store_url),
            generator=generator,
            embedder=WordEmbedder(),
            analyzers={m: None for m in ("text", "voice", "face")},
        )

    seen_by_b = EchoGenerator(reply="I hear you.")
    a, b = instance(EchoGenerator(reply="I hear you.")), instance(seen_by_b)
    b.respond("ann", "Hello, a first hello to warm this instance up")  # b's index holds ann already
    a.respond("ann", "I went camping at Crater Lake with my cousins")
    reply = b.respond("ann", "When did I go camping at Crater Lake?")
    assert "they said: I went camping at Crater Lake" in reply.context["memories"]
    a.forget("ann")
    reply = b.respond("ann", "When did I go camping at Crater Lake?")
    assert "Crater" not in reply.context.get("memories", "")  # forgotten through a, gone for b too
    a.close()
    b.close()
