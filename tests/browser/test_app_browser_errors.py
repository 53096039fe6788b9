"""Bad input in a real browser: a non-audio file, a file too large, a refused camera and microphone,
and a connection dropped mid-turn. Each ends in a clear message in the page and nothing half-stored."""

from __future__ import annotations

import time

import numpy as np
from playwright.sync_api import expect

from tests.browser.appserver import SlowEcho, make_companion, serve
from tests.browser.pages import audio_files, last_bot, new_page, send, shown_reply, sign_in, tab


def test_non_audio_upload_gives_a_clear_message(tmp_path, launch_browser, shot, gradio_tmp):
    bot = make_companion(tmp_path, SlowEcho())
    with serve(bot) as url:
        page = new_page(launch_browser())
        sign_in(page, url, "ivy")
        fake = tmp_path / "notes.wav"
        fake.write_text("these are my notes, not a recording\n" * 20)
        page.locator("#mic button[aria-label='Upload file']").click()
        page.locator("#mic input[type=file]").set_input_files(str(fake))
        expect(page.locator("#notice")).to_contain_text("could not read")
        shot(page, "11-non-audio-upload")
        assert bot.store.count_turns("ivy") == 0
        assert audio_files(gradio_tmp) == []


def test_very_large_upload_is_refused(tmp_path, launch_browser, shot):
    bot = make_companion(tmp_path, SlowEcho())
    with serve(bot) as url:
        page = new_page(launch_browser())
        sign_in(page, url, "jay")
        import soundfile as sf

        big = tmp_path / "long.wav"
        sf.write(str(big), np.zeros(48_000 * 300, np.int16), 48_000)  # 5 minutes: ~29 MB
        page.locator("#mic button[aria-label='Upload file']").click()
        page.locator("#mic input[type=file]").set_input_files(str(big))
        expect(page.locator("#mic-error")).to_contain_text("files up to 25 MB are accepted")
        shot(page, "12-large-upload")
        assert bot.store.count_turns("jay") == 0


def test_denied_camera_and_microphone_are_explained(tmp_path, launch_browser, shot):
    bot = make_companion(tmp_path, SlowEcho())
    with serve(bot) as url:
        page = new_page(launch_browser(fake_media=False))
        sign_in(page, url, "kim")
        tab(page, "Mood")
        page.get_by_text("Click to Access Webcam").click()
        expect(page.locator("#cam-error")).to_contain_text("refused access to the camera")
        page.click("#mic .record-button")
        expect(page.locator("#mic-error")).to_contain_text("refused access to the microphone")
        shot(page, "13-denied-camera")
        send(page, "Can we just talk?")
        shown_reply(page, bot, "kim", 0)


def test_dropped_connection_mid_reply_stores_nothing(tmp_path, launch_browser):
    slow = SlowEcho(delay_s=0.3)  # each candidate takes seconds: time to close the tab mid-turn
    bot = make_companion(tmp_path, slow)
    with serve(bot) as url:
        browser = launch_browser()
        page = new_page(browser)
        sign_in(page, url, "lou")
        send(page, "Tell me a long story about the sea and the mountains and the wind")
        expect(last_bot(page)).to_have_text("…")  # the turn is under way
        page.context.close()  # the tab (and its connection) goes away before the reply is out
        assert slow.finished.wait(60)
        time.sleep(3)  # let the server notice the dropped connection and close the turn
        assert bot.store.count_turns("lou") == 0, "a turn whose reply never reached the user was stored"
        assert bot.last_reply("lou") is None

        slow.delay_s = 0.0
        page = new_page(browser)
        sign_in(page, url, "lou")  # the user's turn lock was released: a new turn works
        send(page, "Are you still there?")
        shown_reply(page, bot, "lou", 0)
