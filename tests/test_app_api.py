"""The app's HTTP API, driven with gradio_client: every endpoint acts only as the user signed in
in the caller's own session; internal handlers are not callable; streaming works end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.browser import media
from tests.browser.appserver import SlowEcho, make_companion, serve

pytestmark = pytest.mark.slow
PASS = "correct horse battery"
PUBLIC = {
    "/sign_in",
    "/sign_out",
    "/chat",
    "/voice",
    "/set_consent",
    "/memory",
    "/edit_fact",
    "/delete_fact",
    "/export",
    "/forget",
}


def text_of(outputs) -> str:
    return json.dumps(outputs, ensure_ascii=False, default=str)


@pytest.fixture
def served(tmp_path, monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio-cache"))
    bot = make_companion(tmp_path / "data", SlowEcho())
    with serve(bot) as url:
        yield bot, url


def test_only_the_documented_endpoints_are_public_and_none_takes_a_user_id(served):
    _, url = served
    api = Client(url, verbose=False).view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == PUBLIC
    for name, info in api["named_endpoints"].items():
        params = {p["parameter_name"] for p in info["parameters"]}
        assert name == "/sign_in" or not params & {"user", "user_id", "session"}, name
    assert not api["unnamed_endpoints"]


def test_signed_out_callers_are_refused_and_private_handlers_are_not_callable(served):
    bot, url = served
    client = Client(url, verbose=False)
    for call in (
        lambda: client.predict("hello", False, api_name="/chat"),
        lambda: client.predict(api_name="/memory"),
        lambda: client.predict(api_name="/export"),
        lambda: client.predict(api_name="/forget"),
    ):
        with pytest.raises(AppError, match="sign in"):
            call()
    for name in ("/observe", "/pick_fact", "/after_turn", "/ask_forget"):
        with pytest.raises(ValueError, match="Cannot find a function"):
            client.predict(api_name=name)
    assert bot.store.count_turns("alice") == 0


def test_chat_streams_and_each_session_sees_only_its_own_user(served):
    bot, url = served
    alice = Client(url, verbose=False)
    assert "Signed in as **alice**" in text_of(alice.predict("alice", PASS, api_name="/sign_in"))
    job = alice.submit("My name is Alice and I love zarzuela", False, api_name="/chat")
    final = job.result()
    updates = job.outputs()
    reply = bot.last_reply("alice")
    assert final[0][-1]["content"][0]["text"] == reply.text
    assert final[0][-2]["content"][0]["text"] == "My name is Alice and I love zarzuela"
    assert len(updates) >= 3, "the reply did not stream (placeholder, pieces, final)"
    assert final[0][-1]["content"][0]["text"].startswith(
        updates[1][0][-1]["content"][0]["text"].rstrip("… ").strip()[:5]
    )
    assert "zarzuela" in alice.predict(api_name="/memory")[0]

    bob = Client(url, verbose=False)
    refused = text_of(bob.predict("alice", "not alices passphrase", api_name="/sign_in"))
    assert "wrong passphrase" in refused and "zarzuela" not in refused
    with pytest.raises(AppError, match="sign in"):
        bob.predict(api_name="/memory")
    assert "Signed in as **bob**" in text_of(bob.predict("bob", "bobs own passphrase", api_name="/sign_in"))
    memory = bob.predict(api_name="/memory")
    assert "remembers nothing" in memory[0] and "zarzuela" not in text_of(memory)

    alice_fact = bot.store.facts("alice")[0]
    with pytest.raises(AppError):  # an id from another user's memory is not among this session's choices
        bob.predict(alice_fact["id"], "bob was here", api_name="/edit_fact")
    with pytest.raises(AppError):
        bob.predict(alice_fact["id"], api_name="/delete_fact")
    assert bot.store.facts("alice")[0]["text"] == alice_fact["text"]

    exported = bob.predict(api_name="/export")[0]
    data = json.loads(Path(exported if isinstance(exported, str) else exported["value"]).read_text())
    assert data["user"] == "bob" and "zarzuela" not in json.dumps(data)


def test_voice_endpoint_transcribes_replies_and_keeps_no_recording(served, tmp_path, monkeypatch):
    import webapp.talk

    bot, url = served
    discarded: list[Path] = []
    real_discard = webapp.talk.discard_upload

    def spy(path):
        discarded.append(Path(path))
        real_discard(path)

    monkeypatch.setattr(webapp.talk, "discard_upload", spy)
    wav = media.speech_wav(tmp_path / "speech.wav")
    client = Client(url, verbose=False)
    client.predict("mia", PASS, api_name="/sign_in")
    final = client.predict(handle_file(str(wav)), False, api_name="/voice")
    heard = final[0][-2]["content"][0]["text"]
    assert heard.startswith("🎤") and "tired" in heard.lower()
    assert final[0][-1]["content"][0]["text"] == bot.last_reply("mia").text
    assert len(discarded) == 1 and discarded[0].name == "speech.wav"
    assert not discarded[0].exists(), "the uploaded recording was kept"

    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all\n" * 50)
    outputs = client.predict(handle_file(str(bad)), False, api_name="/voice")
    assert "could not read" in text_of(outputs)
    assert not discarded[-1].exists()
    assert bot.store.count_turns("mia") == 2


def test_forget_via_api_deletes_everything_and_ends_the_session(served):
    bot, url = served
    client = Client(url, verbose=False, download_files=False)  # file outputs stay on the server
    client.predict("nora", PASS, api_name="/sign_in")
    client.predict("My name is Nora and I love sailing", False, api_name="/chat")
    client.predict(False, False, True, api_name="/set_consent")
    assert bot.consent("nora")["store_mood"] is True
    assert bot.store.facts("nora")
    exported = client.predict(api_name="/export")[0]
    on_server = Path(exported["value"]["path"])
    assert "sailing" in on_server.read_text()
    client.predict(api_name="/forget")
    assert bot.export("nora") == {"user": "nora", "exists": False}
    assert not on_server.exists(), "the export file outlived forget-me"
    with pytest.raises(AppError, match="sign in"):
        client.predict(api_name="/memory")
