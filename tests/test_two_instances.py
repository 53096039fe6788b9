"""Two instances, one truth: app instances that share one PostgreSQL database serve any user.

First two Companions in this process, each with its own Store (its own connection pool, so its own
database sessions and advisory locks): exact checks of what one instance sees of the other's
work. Then the real thing: two app processes (python app.py) on one database and one llama.cpp
HTTP server started here on 127.0.0.1, driven through gradio_client like two browsers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from companion.config import Settings
from companion.core import Companion
from companion.generation.echo import EchoGenerator
from tests.fakes import MiniLM, SadText

ROOT = Path(__file__).resolve().parent.parent
HELD_S = 1.5  # how long the test holds a user's lock while that user's turns arrive


class SlowEcho(EchoGenerator):
    """Echo at the model's edge, slow enough that two turns started together overlap."""

    def stream(self, messages, **kwargs):
        for piece in super().stream(messages, **kwargs):
            time.sleep(0.05)
            yield piece


def instance(url, tmp_path, name):
    return Companion(
        Settings(data_dir=tmp_path / name, store_url=url),
        generator=SlowEcho(),
        embedder=MiniLM(),
        analyzers={"text": SadText()},
    )


@pytest.fixture
def pair(pg_server, tmp_path):
    url = pg_server.create_database()
    a, b = instance(url, tmp_path, "a"), instance(url, tmp_path, "b")
    yield a, b
    a.close()
    b.close()


def prompt_text(bot):
    return json.dumps(bot.parts.generator().calls[-1])


def test_turns_alternating_between_instances_share_memory_mood_and_consent(pair):
    a, b = pair
    a.consent("alice", store_mood=True, face=True)
    a.respond("alice", "My sister is Ana and I love kayaking.")
    assert b.consent("alice") == {"face": True, "voice": False, "store_mood": True}
    b.respond("alice", "Work was busy today.")
    assert "Ana" in prompt_text(b) and "kayaking" in prompt_text(b)  # a's turn is in b's prompt
    a.respond("alice", "We went to the park together.")
    assert "Work was busy today." in prompt_text(a)
    assert [m.label for m in b.store.moods("alice")] == ["sadness"] * 3  # one history, written by both
    assert a.mood("alice").at == b.mood("alice").at  # both read the newest mood, whoever wrote it
    assert [t["role"] for t in b.export("alice")["turns"]] == ["user", "assistant"] * 3


def test_simultaneous_turns_of_one_user_are_serialised_and_stored_in_order(pair):
    a, b = pair
    a.consent("bob", store_mood=True)
    replies = {}
    threads = [
        threading.Thread(target=lambda bot=bot, n=n: replies.__setitem__(n, bot.respond("bob", f"message {n}")))
        for n, bot in (("one", a), ("two", b))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(replies) == {"one", "two"}
    assert "message one" in replies["one"].text and "message two" in replies["two"].text  # each its own Reply
    first, second = sorted(replies.values(), key=lambda r: r.context["timings"]["wait_s"])
    assert second.context["timings"]["wait_s"] >= 0.5 * first.context["timings"]["reply_s"]  # it waited its turn
    turns = b.export("bob")["turns"]
    assert [t["role"] for t in turns] == ["user", "assistant"] * 2
    later = turns[2]["text"]
    earlier = turns[0]["text"]
    assert earlier in json.dumps(
        [c for bot in (a, b) for c in bot.parts.generator().calls if later in json.dumps(c[-1:])]
    )  # the later turn saw the earlier one


def test_forget_on_one_instance_is_seen_by_the_other(pair):
    a, b = pair
    a.consent("carol", store_mood=True)
    b.respond("carol", "My name is Carol and I like tea.")
    assert b.mood("carol").known and b.last_estimates("carol")
    a.forget("carol")
    assert not b.mood("carol").known  # b's cached mood belonged to the forgotten account
    assert b.export("carol") == {"user": "carol", "exists": False}
    b.respond("carol", "Hello again.")
    assert "Carol" not in prompt_text(b) and "tea" not in prompt_text(b)
    assert b.consent("carol") == {"face": False, "voice": False, "store_mood": False}
    assert b.store.moods("carol") == []  # consent went with the account


# -- two app processes, one database, one llama.cpp server ----------------------------------------------
@pytest.fixture(scope="module")
def llama_server():
    """llama.cpp's own HTTP server (OpenAI-compatible) on 127.0.0.1, with the embedded SmolLM2."""
    xllamacpp = pytest.importorskip("xllamacpp")
    from pipelines.loading import smollm2_gguf

    params = xllamacpp.CommonParams()
    params.model.path = str(smollm2_gguf())
    params.n_parallel, params.n_ctx = 2, 4096  # two slots: unserialised turns would decode side by side
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 2
    params.verbosity = -1
    server = xllamacpp.Server(params)
    yield server.listening_address.rstrip("/") + "/v1"
    del server


def start_app(tmp_path: Path, name: str, store: str, llm: str) -> tuple[subprocess.Popen, str, Path]:
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(
        COMPANION_STORE_URL=store,
        COMPANION_LLM__BACKEND="openai",
        COMPANION_LLM__BASE_URL=llm,
        COMPANION_LLM__PARALLEL="2",
        COMPANION_PORT=str(port),
        COMPANION_DATA_DIR=str(tmp_path / name),
        GRADIO_TEMP_DIR=str(tmp_path / name / "gradio"),
        COMPANION_CRISIS_CLASSIFIER="off",
        # What is shared is under test, not the face and voice models: lighter start-up.
        COMPANION_ANALYZERS__FACE="none",
        COMPANION_ANALYZERS__VOICE="none",
        COMPANION_SPEECH__ASR_MODEL="tiny.en",
    )
    log = tmp_path / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w")
    )
    return proc, f"http://127.0.0.1:{port}/", log


def wait_up(proc: subprocess.Popen, url: str, log: Path, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the app exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the app did not answer in {timeout_s:.0f} s: {log.read_text()[-2000:]}")


def waits(log: Path) -> list[float]:
    """wait_s of every turn an app logged (companion.turns: one line per turn)."""
    return [float(x) for x in re.findall(r"turn wait_s=([0-9.]+)", log.read_text())]


@pytest.mark.slow
def test_two_app_processes_share_one_database_and_one_model_server(pg_server, llama_server, tmp_path):
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    from sqlalchemy import create_engine, text

    url = pg_server.create_database()
    apps = [start_app(tmp_path, name, url, llama_server) for name in ("one", "two")]
    try:
        for proc, address, log in apps:
            wait_up(proc, address, log)
        one, two = (Client(address, verbose=False, download_files=False) for _, address, _ in apps)
        engine = create_engine(url)

        def count(table):
            with engine.connect() as conn:
                return conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE user_id = 'alice'")).scalar()

        # Alternating: consent and a fact given on one are there on two, and both write one history.
        one.predict("alice", "alice passphrase 1", api_name="/sign_in")
        one.predict(True, False, True, api_name="/set_consent")
        one.predict("My sister is Ana and I love kayaking.", False, api_name="/chat")
        signed = json.dumps(two.predict("alice", "alice passphrase 1", api_name="/sign_in"), default=str)
        assert "kayaking" in signed  # the chat history and memory panel, read from the shared store
        assert "Ana" in json.dumps(two.predict(api_name="/memory"), default=str)
        two.predict("Work was busy today.", False, api_name="/chat")
        assert count("turns") == 4 and count("moods") == 2  # consent to keep moods, given on one, held on two

        # The same user on both at once: both turns stored, whole and in order. The test holds alice's
        # lock itself while both turns arrive, so both must queue behind it, however fast the model is.
        from companion.memory import postgres

        with postgres.advisory_lock(engine, "alice"):
            jobs = [client.submit(f"message {n}", False, api_name="/chat") for n, client in (("x", one), ("y", two))]
            time.sleep(HELD_S)
            assert not any(job.done() for job in jobs)  # neither instance ran a turn past the lock
        for job in jobs:
            job.result(timeout=120)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT role, text FROM turns WHERE user_id = 'alice' ORDER BY id")).all()
        assert [r.role for r in rows] == ["user", "assistant"] * 4
        assert {rows[4].text, rows[6].text} == {"message x", "message y"}
        last_waits = [waits(log)[-1] for _, _, log in apps]
        print(f"\ntwo instances: the simultaneous turns waited {last_waits} s for the user's lock")
        assert min(last_waits) >= HELD_S / 2, last_waits  # both queued for the lock across instances

        # Forget on one: gone for two as well.
        one.predict(api_name="/forget")
        assert count("turns") == count("moods") == count("facts") == count("users") == 0
        with pytest.raises(AppError, match="sign in"):
            two.predict(api_name="/memory")
        again = json.dumps(two.predict("alice", "a new passphrase 2", api_name="/sign_in"), default=str)
        assert "kayaking" not in again and "Ana" not in again
        engine.dispose()
    finally:
        for proc, _, _ in apps:
            proc.terminate()
        for proc, _, _ in apps:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
