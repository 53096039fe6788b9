"""Browser tests: Playwright driving Debian's Chromium (never `playwright install`).

Fake media: Chromium plays a WAV as the microphone and a Y4M video as the camera. The
video is a real photo of a face (skimage.data.astronaut(), shipped in the scikit-image
wheel); the speech is espeak-ng. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.browser import media
from tests.browser.pages import ARTIFACTS

CHROMIUM = "/usr/bin/chromium"
SHOTS = ARTIFACTS / "screenshots"
BASE_FLAGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the app in headless Chromium (Playwright)")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def face_y4m(media_dir) -> Path:
    return media.face_video(media_dir / "face.y4m")


@pytest.fixture(scope="session")
def speech_wav(media_dir) -> Path:
    return media.speech_wav(media_dir / "speech.wav")


@pytest.fixture(scope="session")
def playwright_driver():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); "
            "these tests never download a browser"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def launch_browser(playwright_driver, face_y4m, speech_wav):
    """launch_browser(fake_media=True, video=None, audio=None) -> Browser; closed after the test."""
    opened = []

    def launch(*, fake_media: bool = True, video: Path | None = None, audio: Path | None = None):
        flags = list(BASE_FLAGS)
        if fake_media:
            flags += [
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={audio or speech_wav}",
                f"--use-file-for-fake-video-capture={video or face_y4m}",
            ]
        else:  # a real browser with no camera allowed: getUserMedia is refused
            flags += ["--use-fake-device-for-media-stream", "--deny-permission-prompts"]
        browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        opened.append(browser)
        return browser

    yield launch
    for browser in opened:
        browser.close()


@pytest.fixture
def gradio_tmp(tmp_path, monkeypatch) -> Path:
    """Gradio's upload cache for this test, to check that no recording is left behind."""
    folder = tmp_path / "gradio-cache"
    folder.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


@pytest.fixture
def shot() -> Iterator:
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, full_page: bool = True) -> Path:
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    yield take


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # the app runs on 127.0.0.1; a proxy from the environment must not intercept it
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
