"""The app layer talks to `Companion`'s public methods only: webapp/ never reaches into
`Companion.store` or `Companion.parts`, and the methods it uses instead (facts, history, mood
history, sign-in, speech, preload) keep each user's data to that user. Accounts write through
the Store's methods, inside its error handling."""

from __future__ import annotations

import ast
import re
import sqlite3
import time
from pathlib import Path

import pytest

from companion import Companion, Settings
from companion.accounts import SignInError, Throttle
from companion.errors import InvalidInput, StoreUnavailable
from companion.generation.echo import EchoGenerator
from companion.profile import MAX_FACT_CHARS
from tests.fakes import FixedAnalyzer, WordEmbedder

ROOT = Path(__file__).resolve().parents[1]
APP_FILES = sorted((ROOT / "webapp").glob("*.py")) + [ROOT / "app.py"]
PRIVATE = {"store", "parts"}
PASS = "correct horse battery"


# -- the boundary -----------------------------------------------------------------------------------
def reaches_inside(source: str) -> list[str]:
    """Where `source` touches Companion's internals: `x.store`/`x.parts` (any alias), getattr(x,
    "store"), or an import of the store, the components or pipelines/ (the layer under companion/)."""
    found = [
        f"line {source[: m.start()].count(chr(10)) + 1}: {m.group()}" for m in re.finditer(r"\.(store|parts)\b", source)
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in PRIVATE
        ):
            found.append(f"line {node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and (
                node.module.split(".")[0] == "pipelines"
                or node.module.startswith("companion.memory")
                or node.module in ("companion.components", "companion.core")
                and any(a.name == "Components" for a in node.names)
            )
        ):
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import) and any(
            a.name.startswith(("companion.memory", "companion.components", "pipelines")) for a in node.names
        ):
            found.append(f"line {node.lineno}: import {', '.join(a.name for a in node.names)}")
    return sorted(set(found))


def test_the_web_app_uses_the_public_api_only():
    assert len(APP_FILES) > 5
    leaks = {str(p.relative_to(ROOT)): reaches_inside(p.read_text(encoding="utf-8")) for p in APP_FILES}
    assert {k: v for k, v in leaks.items() if v} == {}


@pytest.mark.parametrize(
    "source",
    [
        "companion.store.facts('a')",
        "self.c.parts.speak('hi', None)",
        "p = bot.parts\np.embed(['x'])",
        "s = getattr(companion, 'store')",
        "from companion.memory.store import Store",
        "import companion.components",
        "from pipelines import audio",
        "import pipelines.audio",
    ],
)
def test_the_boundary_check_catches_each_way_in(source):
    assert reaches_inside(source)


def test_the_boundary_check_leaves_plain_words_alone():
    assert reaches_inside('text = "Nothing is stored. The parts of speech."\nconsent_store = 1') == []


# -- Companion's public methods -------------------------------------------------------------------------
class Speaker:
    """A synthesizer at the model's edge: a second of silence per call, remembering what it said."""

    def __init__(self):
        self.said = []

    def synthesize(self, text, mood=None):
        self.said.append((text, mood))
        return 16000, [0.0] * 16000


class Transcriber:
    def transcribe(self, audio):
        return type("Transcript", (), {"text": "hello"})()


@pytest.fixture
def bot(tmp_path):
    companion = Companion(
        Settings(data_dir=tmp_path),
        generator=EchoGenerator(reply="I hear you."),
        embedder=WordEmbedder(),
        analyzers={"text": FixedAnalyzer("text", "sadness"), "voice": None, "face": None},
        synthesizer=Speaker(),
        transcriber=Transcriber(),
    )
    yield companion
    companion.close()


def test_facts_can_be_read_edited_and_deleted_by_their_owner_only(bot):
    bot.respond("alice", "My name is Alice and I love hiking")
    bot.respond("bob", "I love chess")
    facts = bot.facts("alice")
    assert [(f["kind"], f["value"]) for f in facts] == [("name", "Alice"), ("likes", "hiking")]
    hiking = facts[1]["id"]
    bobs = bot.facts("bob")[0]["id"]

    assert bot.edit_fact("alice", hiking, "  The user likes long hikes in the hills.  ")
    assert bot.facts("alice")[1]["text"] == "The user likes long hikes in the hills."
    assert not bot.edit_fact("alice", bobs, "The user likes checkers.")  # not hers: nothing changes
    assert not bot.delete_fact("alice", bobs)
    assert [f["value"] for f in bot.facts("bob")] == ["chess"]

    reply = bot.respond("alice", "What do I like to do?")
    assert "The user likes long hikes in the hills." in reply.context["facts"]  # the edit is what is recalled

    assert bot.delete_fact("alice", hiking) and not bot.delete_fact("alice", hiking)
    assert [f["value"] for f in bot.facts("alice")] == ["Alice"]
    assert bot.facts("carol") == []


@pytest.mark.parametrize("text,message", [("   ", "empty"), ("x" * (MAX_FACT_CHARS + 1), "limit"), (None, "text")])
def test_an_edit_that_cannot_be_used_changes_nothing(bot, text, message):
    bot.respond("alice", "I love hiking")
    fact = bot.facts("alice")[0]
    with pytest.raises(InvalidInput, match=message):
        bot.edit_fact("alice", fact["id"], text)
    assert bot.facts("alice") == [fact]


@pytest.mark.parametrize(
    "call",
    [
        lambda b: b.facts("../etc"),
        lambda b: b.edit_fact("alice", "1", "text"),
        lambda b: b.delete_fact("alice", None),
        lambda b: b.delete_fact("alice", True),
        lambda b: b.history("alice", -1),
        lambda b: b.history("alice", 2.5),
        lambda b: b.mood_history(""),
    ],
)
def test_bad_arguments_get_invalid_input(bot, call):
    with pytest.raises(InvalidInput):
        call(bot)


def test_history_is_the_users_last_messages_oldest_first(bot):
    bot.respond("alice", "first message")
    bot.respond("alice", "second message")
    bot.respond("bob", "bob's message")
    texts = [(t["role"], t["text"]) for t in bot.history("alice", 3)]
    assert texts[0] == ("assistant", bot.history("alice", 4)[1]["text"])
    assert [t for t in texts if t[0] == "user"] == [("user", "second message")]
    assert [t["text"] for t in bot.history("alice", 100) if t["role"] == "user"] == ["first message", "second message"]
    assert bot.history("alice", 0) == [] and bot.history("carol", 5) == []
    assert {"role", "text", "at", "id"} <= set(bot.history("alice", 1)[0])


def test_mood_history_holds_stored_moods_only_with_consent(bot):
    bot.respond("alice", "I failed my exam")
    assert bot.mood_history("alice") == []  # store_mood starts off
    bot.consent("alice", store_mood=True)
    bot.respond("alice", "I failed again")
    bot.respond("bob", "I failed too")  # bob did not allow it
    moods = bot.mood_history("alice")
    assert len(moods) == 1 and moods[0].label == "sadness"
    assert bot.mood_history("alice", since=time.time() + 60) == []
    assert bot.mood_history("bob") == []


def test_sign_in_and_session_validity_go_through_the_companion(bot):
    throttle = Throttle(attempts=2, window_s=60)
    account = bot.sign_in(" alice ", PASS, throttle)
    assert account.created and account.user == "alice" and bot.session_valid("alice", account.token)
    assert not bot.sign_in("alice", PASS).created
    for _ in range(2):
        with pytest.raises(SignInError, match="wrong passphrase"):
            bot.sign_in("alice", "a wrong passphrase", throttle)
    with pytest.raises(SignInError, match="too many"):
        bot.sign_in("alice", PASS, throttle)
    assert not bot.session_valid("alice", "") and not bot.session_valid("bob", account.token)
    bot.forget("alice")
    assert not bot.session_valid("alice", account.token)


def test_read_voice_gives_samples_at_the_analyzers_rate_and_a_clear_error_for_other_files(bot, tmp_path):
    import numpy as np
    import soundfile

    wav = tmp_path / "hello.wav"
    soundfile.write(wav, 0.1 * np.sin(np.linspace(0, 2000, 44100)).astype(np.float32), 44100)  # 1 s at 44.1 kHz
    rate, samples, seconds = bot.read_voice(str(wav), max_seconds=30)
    assert rate == 16000 and seconds == pytest.approx(1.0, abs=0.05) and len(samples) == pytest.approx(16000, abs=800)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a recording")
    with pytest.raises(InvalidInput, match="notes.txt.*sound recording"):
        bot.read_voice(str(notes), max_seconds=30)


def test_speak_and_preload_use_the_companions_parts(bot):
    mood = bot.respond("alice", "I failed my exam").mood
    rate, samples = bot.speak("Hello there.", mood)
    assert rate == 16000 and len(samples) == 16000
    assert bot.preload() == {}  # everything given, the analyzers switched off: nothing to report


def test_preload_reports_each_part_that_failed_and_loads_the_rest(tmp_path):
    class BrokenTranscriber:
        def transcribe(self, audio):
            raise RuntimeError("no speech model here")

    bot = Companion(
        Settings(data_dir=tmp_path),
        generator=EchoGenerator(),
        embedder=WordEmbedder(),
        analyzers={"text": None, "voice": None, "face": None},
        transcriber=BrokenTranscriber(),
    )
    try:
        assert bot.preload() == {"speech recogniser": "no speech model here"}
    finally:
        bot.close()


# -- accounts write through the Store ------------------------------------------------------------------
def test_a_field_is_set_once_only(store):
    store.ensure_user("alice")
    assert store.set_user_field_once("alice", "passphrase_hash", "first")
    assert not store.set_user_field_once("alice", "passphrase_hash", "second")
    assert store.get_user_field("alice", "passphrase_hash") == "first"
    assert not store.set_user_field_once("nobody", "passphrase_hash", "x")


def test_accounts_use_no_sql_of_their_own():
    tree = ast.parse((ROOT / "companion" / "accounts.py").read_text(encoding="utf-8"))
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in modules if m and (m.startswith("sqlalchemy") or m == "companion.memory.schema")}
    assert not [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ("engine", "_write")]


def test_claiming_a_passphrase_on_a_locked_store_is_a_store_unavailable(tmp_path):
    """The claim at first sign-in runs inside the Store's error handling: a locked database gives
    the project's StoreUnavailable with its advice, not a raw SQLAlchemy error."""
    from companion.memory.store import Store

    store = Store(f"sqlite:///{tmp_path / 'store.db'}", timeout_s=0.1)
    store.ensure_user("alice")
    other = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")  # another process writing
        with pytest.raises(StoreUnavailable, match="locked"):
            store.set_user_field_once("alice", "passphrase_hash", "hash")
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()
