"""Page helpers for the browser tests: sign in, send, read the reply, switch tabs and consent."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Page, expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"  # screenshots and measurements of a run
PASS = "correct horse battery"
VIEW = {"width": 1280, "height": 900}
LONG = 60_000  # ms: first model use on a shared 2-core machine can be slow


def new_page(browser) -> Page:
    context = browser.new_context(viewport=VIEW)
    page = context.new_page()
    page.set_default_timeout(LONG)
    return page


def sign_in(page: Page, url: str, user: str, passphrase: str = PASS, ok: bool = True) -> None:
    if page.url != url:
        page.goto(url)
    page.locator("#signin-user").locator("input, textarea").first.fill(user)
    page.locator("#signin-pass input").fill(passphrase)
    page.click("#signin-btn")
    if ok:
        expect(page.locator("#main-box")).to_be_visible()
        expect(page.locator("#whoami")).to_contain_text(f"Signed in as {user}")


def send(page: Page, text: str) -> None:
    page.locator("#msg textarea").fill(text)
    page.click("#send-btn")


def last_bot(page: Page):
    return page.locator('#chat [data-testid="bot"]').last


def shown_reply(page: Page, bot, user: str, turns_before: int) -> str:
    """Wait until the turn is stored; the page must then show the Companion's own reply."""
    deadline = time.time() + LONG / 1000
    while bot.store.count_turns(user) < turns_before + 2 or bot.last_reply(user) is None:
        assert time.time() < deadline, "no reply was stored"
        time.sleep(0.1)
    text = bot.last_reply(user).text
    expect(last_bot(page)).to_contain_text(text.split("\n")[0][:60])
    return text


RECORD_BOT_TEXTS = """() => {
  window.__botTexts = [];
  const chat = document.querySelector('#chat');
  new MutationObserver(() => {
    const bots = chat.querySelectorAll('[data-testid="bot"]');
    const text = bots.length ? bots[bots.length - 1].innerText.trim() : '';
    const seen = window.__botTexts;
    if (text && seen[seen.length - 1] !== text) seen.push(text);
  }).observe(chat, {subtree: true, childList: true, characterData: true});
}"""


def tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def consent(page: Page, which: str, on: bool) -> None:
    tab(page, "Privacy")
    box = page.locator(f"#consent-{which} input")
    box.check() if on else box.uncheck()
    word = {"face": "Face reading", "voice": "voice reading", "store": "mood history"}[which]
    expect(page.locator("#consent-msg")).to_contain_text(f"{word} {'on' if on else 'off'}")


def start_camera(page: Page) -> None:
    tab(page, "Mood")
    page.get_by_text("Click to Access Webcam").click()
    page.locator("#cam button[aria-label='capture photo']").click()


def audio_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix.lower() in (".wav", ".webm", ".ogg", ".mp3", ".m4a")]
