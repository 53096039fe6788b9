"""Consent, export, verifiable delete, retention and raw media, end to end through Companion,
on SQLite and on PostgreSQL (the `store_url` fixture, tests/pgserver.py).

The language model is the echo generator and the analyzers are recorders at the model's edge
(what is tested is whether Companion calls them); the embedder is the real MiniLM.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import MiniLM
from pgserver import stored_bytes, user_rows

from companion import retention
from companion.config import Settings
from companion.core import Companion
from companion.errors import InvalidInput
from companion.generation.echo import EchoGenerator
from companion.types import EMOTIONS, EmotionEstimate, MoodState


class Recorder:
    """An analyzer at the model's edge: remembers every signal it was given, returns one reading."""

    def __init__(self, modality: str, label: str):
        self.modality, self.label, self.calls = modality, label, []

    def analyze(self, signal, **_kwargs):
        self.calls.append(signal)
        probs = {k: (0.7 if k == self.label else 0.05) for k in EMOTIONS}
        return EmotionEstimate(self.modality, probs, valence=-0.5, arousal=0.1, confidence=0.7, source="recorder")


class Transcriber:
    def __init__(self, text: str = "hello there"):
        self.text = text

    def transcribe(self, audio):
        return type("Transcript", (), {"text": self.text})()


def make_bot(
    data_dir: Path, *, url: str | None = None, privacy: dict | None = None, reply: str | None = None
) -> Companion:
    settings = Settings(data_dir=data_dir, store_url=url, privacy=privacy or {})
    analyzers = {
        "text": Recorder("text", "sadness"),
        "face": Recorder("face", "joy"),
        "voice": Recorder("voice", "anger"),
    }
    return Companion(
        settings, generator=EchoGenerator(reply), embedder=MiniLM(), analyzers=analyzers, transcriber=Transcriber()
    )


def frame(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def clip(seed: int = 0) -> tuple[int, np.ndarray]:
    return 16000, np.random.default_rng(seed).uniform(-0.5, 0.5, 8000).astype(np.float32)


# -- consent ------------------------------------------------------------------------------------
def test_without_consent_face_and_voice_are_ignored_and_flagged(tmp_path, store_url):
    bot = make_bot(tmp_path, url=store_url)
    assert bot.consent("alice") == {"face": False, "voice": False, "store_mood": False}
    reply = bot.respond("alice", "hello", image=frame(), audio=clip())
    face, voice = bot.parts.analyzer("face"), bot.parts.analyzer("voice")
    assert face.calls == [] and voice.calls == []
    assert {"face_ignored_no_consent", "voice_ignored_no_consent"} <= set(reply.flags)
    assert [e.modality for e in reply.estimates] == ["text"]
    bot.observe("alice", image=frame(1), audio=clip(1))
    assert face.calls == [] and voice.calls == []


def test_consent_is_per_modality_stored_exported_and_withdrawable(tmp_path, store_url):
    bot = make_bot(tmp_path, url=store_url)
    assert bot.consent("alice", face=True) == {"face": True, "voice": False, "store_mood": False}
    reply = bot.respond("alice", "hello", image=frame(), audio=clip())
    assert sorted(e.modality for e in reply.estimates) == ["face", "text"]
    assert "voice_ignored_no_consent" in reply.flags and "face_ignored_no_consent" not in reply.flags
    assert len(bot.parts.analyzer("face").calls) == 1 and bot.parts.analyzer("voice").calls == []
    bot.close()

    again = make_bot(tmp_path, url=store_url)  # a restart: consent comes from the store
    assert again.consent("alice") == {"face": True, "voice": False, "store_mood": False}
    assert again.export("alice")["profile"]["consent"] == {"face": True, "voice": False, "store_mood": False}
    again.consent("alice", face=False, voice=True)
    reply = again.respond("alice", "hi again", image=frame(), audio=clip())
    assert "face_ignored_no_consent" in reply.flags and "voice_ignored_no_consent" not in reply.flags
    assert again.parts.analyzer("face").calls == [] and len(again.parts.analyzer("voice").calls) == 1
    assert again.consent("bob") == {"face": False, "voice": False, "store_mood": False}  # per user


def test_deployment_policy_blocks_face_and_voice_even_with_consent(tmp_path, store_url):
    bot = make_bot(tmp_path, url=store_url, privacy={"no_biometric_inference": True})
    bot.consent("alice", face=True, voice=True, store_mood=True)
    reply = bot.respond("alice", "hello", image=frame(), audio=clip())
    bot.observe("alice", image=frame(), audio=clip())
    assert bot.parts.analyzer("face").calls == [] and bot.parts.analyzer("voice").calls == []
    assert {"face_ignored_by_policy", "voice_ignored_by_policy"} <= set(reply.flags)


def test_mood_history_is_kept_only_with_consent(tmp_path, store_url):
    bot = make_bot(tmp_path, url=store_url)
    bot.respond("alice", "I feel low today")
    bot.feedback("alice", "sadness")
    assert user_rows(store_url, "alice")["moods"] == 0
    assert bot.export("alice")["moods"] == []
    assert all(t["mood"] is None for t in bot.export("alice")["turns"])
    bot.consent("alice", store_mood=True)
    bot.respond("alice", "still low")
    bot.feedback("alice", "sadness")
    assert user_rows(store_url, "alice")["moods"] == 2
    assert [m["source"] for m in bot.export("alice")["moods"]] == ["turn", "feedback"]


def test_unknown_consent_key_is_a_clear_error(tmp_path, store_url):
    bot = make_bot(tmp_path, url=store_url)
    with pytest.raises(InvalidInput, match="valid keys"):
        bot.consent("alice", microphone=True)


# -- export and verifiable delete ---------------------------------------------------------------
def test_export_returns_every_stored_row_as_json(tmp_path, store_url):
    bot = make_bot(tmp_path, url=store_url)
    bot.consent("alice", face=True, store_mood=True)
    bot.respond("alice", "My sister is Ana and I love hiking.", image=frame())
    bot.respond("alice", "I had a long day.")
    bot.feedback("alice", "joy")
    data = json.loads(json.dumps(bot.export("alice")))  # JSON-serialisable as it stands
    rows = user_rows(store_url, "alice")
    assert rows["users"] == 1
    assert len(data["turns"]) == rows["turns"] == 4
    assert len(data["moods"]) == rows["moods"] and rows["moods"] >= 2
    assert len(data["facts"]) == rows["facts"] >= 1
    assert {t["text"] for t in data["turns"] if t["role"] == "user"} == {
        "My sister is Ana and I love hiking.",
        "I had a long day.",
    }
    assert data["profile"]["consent"]["face"] is True and data["profile"]["calibration"]
    assert "passphrase_hash" not in data["profile"]


def test_forget_leaves_no_rows_and_no_bytes_behind(tmp_path, store_url):
    bot = make_bot(tmp_path, url=store_url)
    secret, kept = "zebra marmalade quokka 4417", "pelican tangerine 9923"
    for user, text in (("user-qx7", secret), ("bob", kept)):
        bot.consent(user, store_mood=True)
        bot.respond(user, f"My password hint is {text}. I love {text}.")  # a turn and a fact
        bot.respond(user, f"Remember {text} for me.")
        bot.feedback(user, "joy")
    bot.store.compact()
    before = stored_bytes(store_url)
    assert secret.encode() in before and kept.encode() in before  # the byte check can see text

    counts = bot.forget("user-qx7")
    assert counts["turns"] == 4 and counts["users"] == 1 and counts["facts"] >= 1 and counts["moods"] >= 2
    assert all(n == 0 for n in user_rows(store_url, "user-qx7").values())
    after = stored_bytes(store_url)
    assert secret.encode() not in after and b"user-qx7" not in after
    assert kept.encode() in after and user_rows(store_url, "bob")["turns"] == 4  # others untouched
    assert bot.export("user-qx7") == {"user": "user-qx7", "exists": False}
    assert not bot.mood("user-qx7").known and bot.last_reply("user-qx7") is None
    assert bot.store.integrity_ok()


# -- retention ----------------------------------------------------------------------------------
def test_retention_purges_old_turns_and_moods_and_their_bytes(tmp_path, store_url):
    bot = make_bot(tmp_path, url=store_url)
    now = time.time()
    old_text, new_text = "ancient walrus memo 5531", "fresh heron memo 7720"
    probs = {k: (0.7 if k == "sadness" else 0.05) for k in EMOTIONS}
    for user in ("alice", "bob"):
        bot.store.ensure_user(user, now)
        for at, text in ((now - 40 * 86400, old_text), (now - 86400, new_text)):
            mood = MoodState(probs=probs, valence=-0.5, arousal=0.0, confidence=0.7, at=at)
            bot.store.save_exchange(user, user_text=f"{user} {text}", reply_text="ok", at=at, mood=mood, meta={})
    counts = retention.purge(bot.store, 30, now=now)
    assert counts == {"turns": 4, "moods": 2}
    assert [len(bot.store.moods(u)) for u in ("alice", "bob")] == [1, 1]
    for user in ("alice", "bob"):
        assert [t["text"] for t in bot.store.recent_turns(user, 10) if t["role"] == "user"] == [f"{user} {new_text}"]
    data = stored_bytes(store_url)
    assert old_text.encode() not in data and new_text.encode() in data
    assert retention.purge(bot.store, None) == {}
    with pytest.raises(InvalidInput, match="retention_days"):
        retention.purge(bot.store, -1)


def test_retention_runs_on_start_and_then_on_its_timer(tmp_path, store_url):
    bot = make_bot(tmp_path, url=store_url)
    now = time.time()
    bot.store.ensure_user("alice", now)
    bot.store.save_exchange("alice", user_text="old one", reply_text="ok", at=now - 10 * 86400, mood=None, meta={})
    assert retention.start(bot.store, Settings(data_dir=tmp_path).privacy) is None  # retention off by default
    assert bot.store.count_turns("alice") == 2

    timer = retention.start(
        bot.store, Settings(data_dir=tmp_path, privacy={"retention_days": 7}).privacy, interval_s=0.05
    )
    try:
        assert bot.store.count_turns("alice") == 0  # purged on start
        assert timer.alive
        bot.store.save_exchange("alice", user_text="old two", reply_text="ok", at=now - 9 * 86400, mood=None, meta={})
        deadline = time.time() + 30
        while (bot.store.count_turns("alice") or timer.runs < 1) and time.time() < deadline:
            time.sleep(0.05)
        assert bot.store.count_turns("alice") == 0 and timer.runs >= 1  # purged again by the timer
    finally:
        timer.stop()
    assert not timer.alive


def test_companion_starts_retention_and_close_stops_it(tmp_path, store_url):
    now = time.time()
    first = make_bot(tmp_path, url=store_url)
    first.store.ensure_user("alice", now)
    first.store.save_exchange("alice", user_text="stale turn", reply_text="ok", at=now - 10 * 86400, mood=None, meta={})
    first.close()
    bot = make_bot(tmp_path, url=store_url, privacy={"retention_days": 7})
    try:
        assert bot.store.count_turns("alice") == 0  # purged when the companion started
        assert bot._retention is not None and bot._retention.alive
    finally:
        bot.close()
    assert not bot._retention.alive
    assert make_bot(tmp_path, url=store_url)._retention is None  # retention is off unless a number of days is set


def test_calibration_and_voice_baseline_are_stored_only_with_mood_consent(tmp_path, store_url):
    bot = make_bot(tmp_path, url=store_url)
    bot.consent("alice", voice=True, face=True)  # inference allowed, storing mood data not
    bot.respond("alice", "hi", audio=clip(3), image=frame(3))
    bot.feedback("alice", "joy")
    profile = bot.export("alice")["profile"]
    assert not profile.get("calibration") and not profile.get("voice_baseline")
    assert bot._personal("alice", "calibration")  # learned, but kept in memory for this process only
    bot.consent("alice", store_mood=True)
    bot.feedback("alice", "sadness")
    assert bot.export("alice")["profile"].get("calibration")


# -- raw media ----------------------------------------------------------------------------------
def test_raw_audio_and_frames_are_never_stored(tmp_path, store_url):
    bot = make_bot(tmp_path, url=store_url)
    bot.consent("alice", face=True, voice=True, store_mood=True)
    image, (rate, samples) = frame(7), clip(7)
    bot.respond("alice", "look at me", image=image, audio=(rate, samples))
    bot.respond("alice", audio=(rate, samples))  # a spoken turn: only the transcript is kept
    bot.observe("alice", image=image)
    data = stored_bytes(store_url)
    for raw in (image.tobytes(), samples.tobytes()):
        for start in range(0, len(raw) - 64, len(raw) // 8):
            assert raw[start : start + 64] not in data
    exported = json.dumps(bot.export("alice"))
    assert len(exported) < 100_000 and "hello there" in exported  # transcript yes, samples no
