"""AI disclosure end to end: said at first contact, repeated after each interval of continuous use,
and no generated reply that claims to be human ever reaches the user (streamed or whole)."""

from __future__ import annotations

import re
import types

import pytest
from fakes import MiniLM

from companion.config import Settings
from companion.core import Companion
from companion.generation.echo import EchoGenerator

AI_NOTE = re.compile(r"\bI'?m an AI\b|\bI am an AI\b", re.I)
HUMAN_CLAIM = re.compile(
    r"\b(?:i\s*am|i'?m|im)\s+(?:a\s+|an\s+)?(?:real\s+|actual\s+)?(?:human(?:\s+being)?|person|man|woman|guy|girl)\b"
    r"|\b(?:i'?m|i\s+am)\s+not\s+(?:an?\s+)?(?:ai|bot|robot|machine|computer|program)\b|\bas\s+a\s+human\b",
    re.I,
)


class Clock:
    """Stands in for the `time` module inside companion.core: the test moves the hands."""

    def __init__(self, start: float = 1_700_000_000.0):
        self.now = start

    def time(self) -> float:
        return self.now


def make_bot(tmp_path, reply=None, **privacy):
    settings = Settings(data_dir=tmp_path, privacy=privacy)
    return Companion(settings, generator=EchoGenerator(reply), embedder=MiniLM(), analyzers={"text": None})


def test_discloses_at_first_contact_and_every_interval_of_continuous_use(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr("companion.core.time", types.SimpleNamespace(time=clock.time))
    bot = make_bot(tmp_path)
    first = bot.respond("alice", "hi")
    assert AI_NOTE.search(first.text) and "ai_disclosure" in first.flags

    disclosed_at = []
    for minute in range(45, 7 * 60, 45):  # a message every 45 minutes for 7 hours
        clock.now = 1_700_000_000.0 + minute * 60
        reply = bot.respond("alice", f"message at minute {minute}")
        if "ai_disclosure" in reply.flags:
            assert "reminder" in reply.text.lower() and AI_NOTE.search(reply.text)
            disclosed_at.append(minute)
    assert disclosed_at == [180, 360]  # every 3 hours (the default), not more often

    assert "ai_disclosure" in bot.respond("bob", "hello").flags  # per user: bob's first contact


def test_disclosure_interval_is_a_setting(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr("companion.core.time", types.SimpleNamespace(time=clock.time))
    bot = make_bot(tmp_path, disclosure_interval_h=0.5)
    bot.respond("alice", "hi")
    clock.now += 29 * 60
    assert "ai_disclosure" not in bot.respond("alice", "still here").flags
    clock.now += 2 * 60
    assert "ai_disclosure" in bot.respond("alice", "and now?").flags


def test_crisis_reply_also_says_it_is_an_ai(tmp_path):
    bot = make_bot(tmp_path)
    bot.respond("alice", "hello")
    reply = bot.respond("alice", "I want to kill myself")
    assert "crisis" in reply.flags and AI_NOTE.search(reply.text)


@pytest.mark.parametrize(
    "claim",
    [
        "I am a human, not a bot.",
        "Don't worry, I'm a real person just like you.",
        "I'm not an AI, I promise. Tell me more about your day.",
        "As a human, I totally understand how you feel.",
    ],
)
def test_a_reply_claiming_to_be_human_never_reaches_the_user(tmp_path, claim):
    bot = make_bot(tmp_path, reply=claim)
    bot.respond("alice", "hi")  # first contact (its disclosure would mask the check below)
    streamed = "".join(bot.stream("alice", "Are you a real person?"))
    whole = bot.last_reply("alice").text
    assert not HUMAN_CLAIM.search(streamed), streamed
    assert not HUMAN_CLAIM.search(whole), whole
    assert whole.strip()  # the user still gets an answer
