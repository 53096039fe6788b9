"""The app in a real browser: sign-in, streamed chat, microphone, webcam, consent, memory, forget-me
and two users. The LLM is EchoGenerator (the one fake); everything else is real."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.appserver import MISSING, SlowEcho, make_companion, serve
from tests.browser.pages import (
    ARTIFACTS,
    RECORD_BOT_TEXTS,
    audio_files,
    consent,
    new_page,
    send,
    shown_reply,
    sign_in,
    start_camera,
    tab,
)


def test_sign_in_and_streamed_reply(tmp_path, launch_browser, shot, gradio_tmp):
    bot = make_companion(tmp_path, SlowEcho(delay_s=0.3))
    with serve(bot) as url:
        page = new_page(launch_browser())
        page.goto(url)
        shot(page, "01-sign-in")
        sign_in(page, url, "alice", "short", ok=False)
        expect(page.locator("#signin-msg")).to_contain_text("at least 8 characters")
        sign_in(page, url, "alice")
        expect(page.locator("#chat")).to_contain_text("Hi, I'm Ember")
        shot(page, "02-first-time-user")

        page.evaluate(RECORD_BOT_TEXTS)
        send(page, "My name is Alice and I love green tea")
        expect(page.locator('#chat [data-testid="user"]').last).to_contain_text("I love green tea")
        final = shown_reply(page, bot, "alice", 0)
        seen = page.evaluate("window.__botTexts")
        # the turn shows up at once, as a placeholder, and is filled in as the pieces stream in
        assert seen[0] == "…" and final.split()[0] in seen[-1], seen
        reply = bot.last_reply("alice")
        if reply.strategy is not None:
            expect(page.locator("#strategy")).to_contain_text(reply.strategy.name.replace("_", " "))
        tab(page, "Memory")
        expect(page.locator("#facts")).to_contain_text("Alice")
        shot(page, "03-chat-reply-and-memory")
        assert bot.store.count_turns("alice") == 2


def test_microphone_transcript_reply_and_spoken_reply(tmp_path, launch_browser, shot, gradio_tmp):
    bot = make_companion(tmp_path, SlowEcho())
    with serve(bot) as url:
        page = new_page(launch_browser())
        sign_in(page, url, "mia")  # voice consent stays off: words are transcribed, the tone is not read
        tab(page, "Mood")
        page.click("#mic .record-button")
        page.wait_for_timeout(4000)  # the fake microphone plays the sentence (and loops it)
        page.click("#mic .stop-button")
        user_turn = page.locator('#chat [data-testid="user"]').last
        expect(user_turn).to_contain_text("🎤")
        expect(user_turn).to_contain_text("tired")
        shown_reply(page, bot, "mia", 0)
        reply = bot.last_reply("mia")
        assert "tired" in reply.transcript.lower()
        assert not any(e.modality == "voice" for e in reply.estimates)
        assert "voice_ignored_no_consent" in reply.flags
        shot(page, "04-microphone-transcript")
        assert audio_files(gradio_tmp) == [], "the recording must not be kept"
        assert bot.store.count_turns("mia") == 2

        page.locator("#speak input").check()
        send(page, "Thank you for listening")
        shown_reply(page, bot, "mia", 2)
        expect(page.locator("#spoken audio").first).to_be_attached()
        shot(page, "05-spoken-reply")


def test_microphone_with_voice_consent_reads_the_tone(tmp_path, launch_browser, shot):
    bot = make_companion(tmp_path, SlowEcho())
    if bot.parts.analyzer("voice") is None:
        pytest.skip(f"real voice analyzer unavailable: {MISSING.get('voice')}")
    with serve(bot) as url:
        page = new_page(launch_browser())
        sign_in(page, url, "vera")
        consent(page, "voice", True)
        tab(page, "Mood")
        page.click("#mic .record-button")
        page.wait_for_timeout(4000)
        page.click("#mic .stop-button")
        shown_reply(page, bot, "vera", 0)
        assert any(e.modality == "voice" for e in bot.last_reply("vera").estimates)
        expect(page.locator('#mood [data-modality="voice"] .mod-read')).not_to_have_text("—")
        shot(page, "05b-voice-tone-read")


def test_webcam_face_estimate_with_consent_and_none_after_withdrawal(tmp_path, launch_browser, shot):
    bot = make_companion(tmp_path, SlowEcho())
    if bot.parts.analyzer("face") is None:
        pytest.skip(f"real face analyzer unavailable: {MISSING.get('face')}")
    with serve(bot) as url:
        page = new_page(launch_browser())
        sign_in(page, url, "fern")
        consent(page, "face", True)
        start_camera(page)
        indicator = page.locator('#face .face-indicator[data-state="estimate"]')
        expect(indicator).to_be_visible()
        expect(page.locator('#mood [data-modality="face"] .mod-read')).not_to_have_text("—")
        spy = bot.parts.analyzer("face")
        calls, start = spy.calls, time.time()
        page.wait_for_timeout(5000)
        rate = (spy.calls - calls) / (time.time() - start)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "webcam_rate.txt").write_text(f"{rate:.1f} frames/s analysed (target >= 5)\n")
        shot(page, "06-webcam-face-estimate")

        consent(page, "face", False)
        tab(page, "Mood")
        expect(page.locator('#face .face-indicator[data-state="off"]')).to_be_visible()
        calls = spy.calls
        page.wait_for_timeout(2000)
        assert spy.calls == calls, "frames were analysed after consent was withdrawn"
        expect(page.locator('#face .face-indicator[data-state="estimate"]')).to_have_count(0)


def test_webcam_without_consent_gives_no_face_estimate(tmp_path, launch_browser, shot):
    bot = make_companion(tmp_path, SlowEcho())
    with serve(bot) as url:
        page = new_page(launch_browser())
        sign_in(page, url, "gus")
        start_camera(page)
        page.wait_for_timeout(4000)
        expect(page.locator('#face .face-indicator[data-state="off"]')).to_be_visible()
        expect(page.locator('#mood [data-modality="face"] .mod-read')).to_have_text("—")
        spy = bot.parts.analyzer("face")
        assert spy is None or spy.calls == 0, "a frame was analysed without consent"
        assert bot.store.moods("gus") == []
        shot(page, "07-webcam-without-consent")


def test_memory_edit_delete_export_and_forget_me(tmp_path, launch_browser, shot):
    bot = make_companion(tmp_path, SlowEcho())
    with serve(bot) as url:
        page = new_page(launch_browser())
        sign_in(page, url, "alice")
        send(page, "My name is Alice and my sister Ana lives in Porto")
        shown_reply(page, bot, "alice", 0)
        send(page, "I love hiking")
        shown_reply(page, bot, "alice", 2)
        tab(page, "Memory")
        facts = page.locator("#facts")
        expect(facts).to_contain_text("Alice")
        expect(facts).to_contain_text("hiking")
        before = len(bot.store.facts("alice"))

        hiking = next(f for f in bot.store.facts("alice") if "hiking" in f["text"])
        page.locator("#fact-pick input").click()
        page.get_by_role("option", name=f"#{hiking['id']} {hiking['text']}").click()
        expect(page.locator("#fact-text textarea, #fact-text input").first).to_have_value(hiking["text"])
        page.locator("#fact-text").locator("textarea, input").first.fill("Alice loves long hikes in the hills")
        page.click("#save-fact-btn")
        expect(facts).to_contain_text("long hikes in the hills")
        assert any("long hikes" in f["text"] for f in bot.store.facts("alice"))

        sister = next(f for f in bot.store.facts("alice") if "Ana" in f["text"])
        page.locator("#fact-pick input").click()
        page.get_by_role("option", name=f"#{sister['id']} {sister['text']}").click()
        page.click("#delete-fact-btn")
        expect(page.locator("#memory-msg")).to_contain_text("Forgot")
        expect(facts).not_to_contain_text("Ana")
        assert len(bot.store.facts("alice")) == before - 1

        page.click("#export-btn")
        link = page.locator("#export-file a").first
        expect(link).to_be_visible()
        with page.expect_download() as download:
            link.click()
        exported = json.loads(Path(download.value.path()).read_text())
        assert exported["user"] == "alice" and any("Alice" in f["text"] for f in exported["facts"])
        assert "passphrase_hash" not in exported["profile"]

        page.click("#forget-btn")
        expect(page.locator("#confirm-box")).to_contain_text("cannot be undone")
        shot(page, "08-forget-me-confirmation")
        page.click("#confirm-forget-btn")
        expect(page.locator("#signin-box")).to_be_visible()
        expect(page.locator("#signin-msg")).to_contain_text("was deleted")
        assert bot.export("alice") == {"user": "alice", "exists": False}

        sign_in(page, url, "alice", "a brand new passphrase")
        expect(page.locator("#whoami")).to_contain_text("Your private space is ready")
        tab(page, "Memory")
        expect(page.locator("#facts")).to_contain_text("remembers nothing")
        expect(page.locator('#chat [data-testid="bot"]')).to_have_count(0)
        shot(page, "09-after-forget-me")


def test_another_user_cannot_see_the_first_users_memory(tmp_path, launch_browser, shot):
    bot = make_companion(tmp_path, SlowEcho())
    with serve(bot) as url:
        browser = launch_browser()
        alice = new_page(browser)
        sign_in(alice, url, "alice")
        send(alice, "My name is Alice and my secret is that I love zarzuela")
        shown_reply(alice, bot, "alice", 0)

        bob = new_page(browser)  # a separate browser context: its own session
        sign_in(bob, url, "alice", "not alices passphrase", ok=False)
        expect(bob.locator("#signin-msg")).to_contain_text("wrong passphrase")
        expect(bob.locator("#main-box")).to_be_hidden()
        sign_in(bob, url, "bob", "bobs own passphrase")
        tab(bob, "Memory")
        expect(bob.locator("#facts")).to_contain_text("remembers nothing")
        assert "zarzuela" not in bob.content() and "Alice" not in bob.locator("#chat").inner_text()
        shot(bob, "10-second-user-sees-only-own-space")
        send(bob, "What do you know about me?")
        said = shown_reply(bob, bot, "bob", 0)  # said from Bob's own facts: there are none
        assert "zarzuela" not in said and "haven't told me much" in said
        calls = len(bot.parts.generator().calls)
        send(bob, "Tell me something about my evening plans.")
        assert "zarzuela" not in shown_reply(bob, bot, "bob", 2)
        assert len(bot.parts.generator().calls) > calls  # this one reached the model: its prompt holds none of Alice
        assert all("zarzuela" not in m["content"] for m in bot.parts.generator().calls[-1])
