"""User isolation: no call can read, change or delete another user's data, through Companion,
the Store, or the app's HTTP API (gradio_client, each client its own session).

The SQL trace test records every statement the store sends while one user acts and checks that
each touching a user table is bound to that user's id. Companion and Store tests run on SQLite
and on PostgreSQL (tests/pgserver.py).
"""

from __future__ import annotations

import json
import re

import pytest
from pgserver import BACKENDS
from sqlalchemy import event

from companion.config import Settings
from companion.core import Companion
from companion.errors import InvalidInput
from companion.generation.echo import EchoGenerator
from tests.fakes import MiniLM, SadText

ALICE_SECRET, BOB_SECRET = "alice-secret-orchid-3321", "bob-secret-walnut-8812"


def build_two_users(data_dir, url=None):
    generator = EchoGenerator()
    bot = Companion(
        Settings(data_dir=data_dir, store_url=url),
        generator=generator,
        embedder=MiniLM(),
        analyzers={"text": SadText()},
    )
    for user, secret in (("alice", ALICE_SECRET), ("bob", BOB_SECRET)):
        bot.consent(user, store_mood=True)
        bot.respond(user, f"My sister is {secret.split('-')[2].title()} and I love {secret}.")
        bot.respond(user, f"Please remember {secret}.")
        bot.feedback(user, "sadness")
    return bot, generator


@pytest.fixture
def two_users(tmp_path, store_url):
    """Alice and Bob with turns, facts, moods and consent, for a test that changes them."""
    return build_two_users(tmp_path, store_url)


@pytest.fixture(scope="module", params=BACKENDS)
def shared_users(request, tmp_path_factory):
    """The same, built once per backend, for the tests that only read or are refused."""
    url = request.getfixturevalue("pg_server").create_database() if request.param == "postgresql" else None
    return build_two_users(tmp_path_factory.mktemp("isolation"), url)


def test_companion_calls_never_show_one_user_anothers_data(two_users):
    bot, generator = two_users
    generator.calls.clear()
    reply = bot.respond("alice", f"What do you remember? Anything like {BOB_SECRET}?")
    prompt = json.dumps(generator.calls)
    assert BOB_SECRET not in prompt.replace(f"Anything like {BOB_SECRET}?", "")  # only alice's own words carry it
    assert "Walnut" not in prompt and ALICE_SECRET in prompt  # her facts and memories are there, bob's are not
    assert BOB_SECRET not in json.dumps(dict(reply.context)).replace(f"Anything like {BOB_SECRET}?", "")
    assert BOB_SECRET not in json.dumps(bot.export("alice")).replace(f"Anything like {BOB_SECRET}?", "")
    assert all(ALICE_SECRET not in t["text"] for t in bot.export("bob")["turns"])
    bot.consent("alice", face=True)
    assert bot.consent("bob")["face"] is False


def test_forget_and_consent_of_one_user_leave_the_other_untouched(two_users):
    bot, _ = two_users
    before = bot.export("bob")
    bot.forget("alice")
    after = bot.export("bob")
    for key in ("turns", "facts", "moods"):
        assert after[key] == before[key]
    assert after["profile"]["consent"] == before["profile"]["consent"]
    assert bot.mood("bob").known


def test_store_calls_with_another_users_ids_find_nothing(shared_users):
    bot, _ = shared_users
    store = bot.store
    bob_fact = store.facts("bob")[0]
    assert not store.delete_fact("alice", bob_fact["id"])
    assert not store.update_fact("alice", bob_fact["id"], "hijacked")
    assert store.facts("bob")[0] == bob_fact
    query = MiniLM().embed([f"Please remember {BOB_SECRET}."])[0]  # bob's own words as the query
    assert all(BOB_SECRET not in hit["text"] for hit in store.search("alice", query, 50))
    assert all(BOB_SECRET not in t["text"] for t in store.recent_turns("alice", 100))


@pytest.mark.parametrize("lookalike", ["Alice", "ALICE", "a_ice", "alic", "alice.", "alice-", "al%"])
def test_lookalike_ids_are_other_users_or_refused(shared_users, lookalike):
    bot, _ = shared_users
    try:
        data = bot.export(lookalike)
    except InvalidInput:
        return  # refused outright
    assert data == {"user": lookalike, "exists": False}
    assert bot.forget(lookalike) == {"turns": 0, "moods": 0, "facts": 0, "users": 0}
    assert bot.store.count_turns("alice") == 4


@pytest.mark.parametrize(
    "evil", ["alice' OR '1'='1", "alice; DROP TABLE turns", "../alice", "alice\x00", "*", "", "alice bob", "a" * 65]
)
def test_injection_shaped_ids_are_refused(shared_users, evil):
    bot, _ = shared_users
    for call in (
        lambda: bot.export(evil),
        lambda: bot.forget(evil),
        lambda: bot.respond(evil, "hi"),
        lambda: bot.consent(evil, face=True),
    ):
        with pytest.raises(InvalidInput):
            call()
    assert bot.store.count_turns("alice") == 4 and bot.store.count_turns("bob") == 4


_USER_TABLE = re.compile(r"\b(?:FROM|UPDATE|INTO|JOIN)\s+(users|turns|moods|facts)\b", re.I)


def test_every_store_statement_is_bound_to_the_acting_user(two_users):
    bot, _ = two_users
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if _USER_TABLE.search(statement):
            seen.append((statement, parameters))

    event.listen(bot.store.engine, "before_cursor_execute", record)
    try:
        bot.respond("alice", "My friend is Zoe and I like tea.")
        bot.stream("alice", "another one")  # not consumed: must not touch the store
        bot.feedback("alice", "joy")
        bot.consent("alice", voice=True)
        bot.export("alice")
        bot.mood("alice")
        fact = bot.store.facts("alice")[0]
        bot.store.update_fact("alice", fact["id"], "My friend is Zoe.")
        bot.store.delete_fact("alice", fact["id"])
        bot.forget("alice")
    finally:
        event.remove(bot.store.engine, "before_cursor_execute", record)
    assert len(seen) > 20
    for statement, params in seen:
        flat = json.dumps(params, default=str)
        assert "user_id" in statement, statement
        assert '"alice"' in flat and '"bob"' not in flat, (statement, params)


def test_app_api_sessions_cannot_reach_another_users_data(tmp_path, monkeypatch):
    pytest.importorskip("app")
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from tests.browser.appserver import SlowEcho, make_companion, serve

    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio-cache"))
    bot = make_companion(tmp_path / "data", SlowEcho())
    with serve(bot) as url:
        alice, bob, mallory = (Client(url, verbose=False, download_files=False) for _ in range(3))
        alice.predict("alice", "alice passphrase 1", api_name="/sign_in")
        alice.predict(f"My sister is Ana and I love {ALICE_SECRET}", False, api_name="/chat")
        alice.predict(True, False, True, api_name="/set_consent")
        rows = bot.store.count_turns("alice"), bot.store.facts("alice"), bot.consent("alice")

        refused = json.dumps(mallory.predict("alice", "a guessed passphrase", api_name="/sign_in"), default=str)
        assert ALICE_SECRET not in refused
        for name in ("/memory", "/export", "/forget"):
            with pytest.raises(AppError, match="sign in"):
                mallory.predict(api_name=name)

        bob.predict("bob", "bob passphrase 22", api_name="/sign_in")
        bob.predict(False, True, False, api_name="/set_consent")
        chat = json.dumps(bob.predict(f"what is {ALICE_SECRET[:5]}?", False, api_name="/chat"), default=str)
        assert ALICE_SECRET not in chat
        assert ALICE_SECRET not in json.dumps(bob.predict(api_name="/memory"), default=str)
        for fact in rows[1]:
            with pytest.raises(AppError):
                bob.predict(fact["id"], api_name="/delete_fact")
        bob.predict(api_name="/forget")
        assert (bot.store.count_turns("alice"), bot.store.facts("alice"), bot.consent("alice")) == rows
        assert ALICE_SECRET in json.dumps(alice.predict(api_name="/memory"), default=str)
