"""Companion end to end with fakes at the models' edge (fixed analyzers, echo generator)."""

import pytest

from companion import EMOTIONS, Companion, Settings
from companion.errors import InvalidInput
from companion.generation.echo import EchoGenerator
from tests.fakes import FailingGenerator, FixedAnalyzer, WordEmbedder


def make(tmp_path, generator=None, **analyzers):
    settings = Settings(data_dir=tmp_path)
    return Companion(
        settings,
        generator=generator or EchoGenerator(reply="I hear you. Tell me more."),
        embedder=WordEmbedder(),
        analyzers={m: analyzers.get(m) for m in ("text", "voice", "face")},
    )


def test_no_analyzers_means_mood_unknown(tmp_path):
    bot = make(tmp_path)
    reply = bot.respond("alice", "Hello there")
    assert reply.mood.known is False and reply.mood.label == "unknown"
    assert reply.estimates == () and reply.text.strip()


def test_text_estimate_drives_the_mood_and_the_prompt(tmp_path):
    gen = EchoGenerator(reply="That sounds hard.")
    bot = make(tmp_path, generator=gen, text=FixedAnalyzer("text", "sadness"))
    reply = bot.respond("alice", "I failed my exam")
    assert reply.mood.label == "sadness" and [e.modality for e in reply.estimates] == ["text"]
    system = gen.calls[-1][0]["content"]
    assert "sadness" in system


def test_stream_yields_pieces_then_last_reply(tmp_path):
    bot = make(tmp_path)
    pieces = list(bot.stream("bob", "hi"))
    assert len(pieces) > 2
    reply = bot.last_reply("bob")
    assert reply is not None and reply.text.strip()
    assert "".join(pieces).split() == reply.text.split()


def test_facts_are_remembered_across_instances(tmp_path):
    make(tmp_path).respond("alice", "My name is Alice and I love hiking")
    gen = EchoGenerator(reply="You told me about hiking.")
    bot = make(tmp_path, generator=gen)
    reply = bot.respond("alice", "What do you remember about me?")
    assert "The user's name is Alice." in reply.context["facts"]
    assert "The user likes hiking." in reply.context["facts"]
    assert "your name is Alice and you like hiking" in reply.text and not gen.calls  # said from the facts
    bot.respond("alice", "I had a long day at work.")
    assert "Alice" in gen.calls[-1][0]["content"]  # and the model's prompt carries them
    assert [f["value"] for f in bot.export("alice")["facts"]] == ["Alice", "hiking"]


def test_history_is_passed_to_the_generator(tmp_path):
    gen = EchoGenerator(reply="ok.")
    bot = make(tmp_path, generator=gen)
    bot.respond("carol", "first message")
    bot.respond("carol", "second message")
    roles = [m["role"] for m in gen.calls[-1]]
    assert roles[0] == "system" and roles[-1] == "user" and "assistant" in roles
    assert any(m["content"] == "first message" for m in gen.calls[-1])


def test_face_and_voice_need_consent(tmp_path):
    face = FixedAnalyzer("face", "joy")
    bot = make(tmp_path, text=FixedAnalyzer("text", "neutral"), face=face)
    reply = bot.respond("dan", "hello", image="frame")
    assert "face_ignored_no_consent" in reply.flags and face.seen == []
    assert "face" not in bot.observe("dan", image="frame").contributions and face.seen == []
    before = bot.mood("dan").probs["joy"]
    bot.consent("dan", face=True)
    mood = bot.observe("dan", image="frame")
    assert "face" in mood.contributions and face.seen == ["frame"]
    assert mood.probs["joy"] > before


def test_deployment_policy_blocks_biometric_inference(tmp_path):
    settings = Settings(data_dir=tmp_path)
    settings.privacy.no_biometric_inference = True
    face = FixedAnalyzer("face", "joy")
    bot = Companion(
        settings,
        generator=EchoGenerator(reply="ok."),
        embedder=WordEmbedder(),
        analyzers={"text": None, "voice": None, "face": face},
    )
    bot.consent("erin", face=True)
    reply = bot.respond("erin", "hi", image="frame")
    assert "face_ignored_by_policy" in reply.flags and face.seen == []


def test_feedback_validates_and_sets_mood(tmp_path):
    bot = make(tmp_path, text=FixedAnalyzer("text", "joy"))
    bot.respond("fay", "great day")
    with pytest.raises(InvalidInput, match="choose one of"):
        bot.feedback("fay", "meh")
    assert bot.feedback("fay", "sadness").label == "sadness"
    assert bot.mood("fay").label == "sadness"


@pytest.mark.parametrize("user", ["", "../etc/passwd", "a/b", "x" * 65, "a" * 1_000_000, None, "bad id"])
def test_invalid_user_ids_are_rejected(tmp_path, user):
    bot = make(tmp_path)
    with pytest.raises(InvalidInput, match="user id"):
        bot.respond(user, "hi")


@pytest.mark.parametrize("text", ["", "   \n\t ", "x" * 100_000])
def test_bad_messages_are_rejected_and_nothing_is_stored(tmp_path, text):
    bot = make(tmp_path)
    with pytest.raises(InvalidInput, match="empty|limit"):
        bot.respond("gus", text)
    assert bot.store.count_turns("gus") == 0


def test_generator_failure_leaves_nothing_half_written(tmp_path):
    bot = make(tmp_path, generator=FailingGenerator())
    with pytest.raises(RuntimeError):
        bot.respond("hal", "My name is Hal")
    assert bot.store.count_turns("hal") == 0 and bot.store.facts("hal") == []


def test_crisis_message_gets_the_fixed_reply(tmp_path):
    gen = EchoGenerator(reply="Have fun!")
    bot = make(tmp_path, generator=gen)
    reply = bot.respond("ivy", "I want to kill myself")
    assert "crisis" in reply.flags and "988" in reply.text and "Have fun" not in reply.text
    assert gen.calls == []


def test_ai_disclosure_at_first_contact_only(tmp_path):
    bot = make(tmp_path)
    first = bot.respond("jo", "hi")
    second = bot.respond("jo", "again")
    assert "ai_disclosure" in first.flags and "AI" in first.text
    assert "ai_disclosure" not in second.flags


def test_export_and_forget(tmp_path):
    bot = make(tmp_path, text=FixedAnalyzer("text", "joy"))
    bot.consent("kim", store_mood=True)
    bot.respond("kim", "I love tea")
    data = bot.export("kim")
    assert data["exists"] and len(data["turns"]) == 2 and data["moods"]
    assert data["profile"]["consent"]["store_mood"] is True
    import json

    json.dumps(data)
    bot.forget("kim")
    assert bot.export("kim") == {"user": "kim", "exists": False}
    assert bot.mood("kim").known is False


def test_feedback_labels_are_the_emotions():
    assert "sadness" in EMOTIONS


def test_a_low_week_gets_one_check_in_a_day_not_one_every_turn(tmp_path):
    import time

    from companion.types import MoodState

    bot = make(tmp_path, text=FixedAnalyzer("text", "sadness"))
    bot.consent("dana", store_mood=True)
    now = time.time()
    probs = {k: (0.8 if k == "sadness" else 0.2 / 6) for k in EMOTIONS}
    for days_ago in (1, 2, 3, 4):
        bot.store.add_mood(
            "dana",
            MoodState(probs=probs, valence=-0.6, arousal=-0.2, confidence=0.8, at=now - days_ago * 86400),
            "turn",
        )
    first = bot.respond("dana", "I went to work and came home.")
    assert "checkin_trend" in first.flags
    second = bot.respond("dana", "I made some dinner afterwards.")
    assert "checkin_trend" not in second.flags  # asked already today
