"""Concurrency in one process: different users' turns run at once, one user's turns one at a time,
each call gets its own Reply, and the real analyzers give the same answers from several threads."""

from __future__ import annotations

import threading

import numpy as np
from fakes import MiniLM

from companion.config import Settings
from companion.core import Companion
from companion.generation.echo import EchoGenerator


class Meeting(EchoGenerator):
    """Echo at the model's edge that waits until `parties` streams are inside it at the same time
    (or a timeout): it shows whether turns reached the model together."""

    def __init__(self, parties: int, timeout_s: float = 20.0):
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=timeout_s)
        self.met = 0

    def stream(self, messages, **kwargs):
        try:
            self.barrier.wait()
            self.met += 1
        except threading.BrokenBarrierError:
            pass
        yield from super().stream(messages, **kwargs)


def run_all(*calls):
    """Run the calls in threads at once; their results by key (a failure is reported with its message)."""
    out, errors = {}, []

    def run(key, call):
        try:
            out[key] = call()
        except Exception as exc:
            errors.append(f"{key}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=item) for item in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and len(out) == len(calls), errors
    return out


def test_different_users_reach_the_model_together(tmp_path):
    generator = Meeting(parties=3)
    bot = Companion(Settings(data_dir=tmp_path), generator=generator, embedder=MiniLM(), analyzers={"text": None})
    replies = run_all(*((u, lambda u=u: bot.respond(u, f"hello from {u}")) for u in ("ann", "ben", "cy")))
    assert generator.met == 3  # all three were decoding at once: no global reply lock
    assert all(f"hello from {u}" in replies[u].text for u in ("ann", "ben", "cy"))


def test_one_users_turns_take_turns_and_each_call_gets_its_own_reply(tmp_path):
    generator = Meeting(parties=2, timeout_s=1.0)
    bot = Companion(Settings(data_dir=tmp_path), generator=generator, embedder=MiniLM(), analyzers={"text": None})
    replies = run_all(*((n, lambda n=n: bot.respond("dee", f"message {n}")) for n in ("one", "two")))
    assert generator.met == 0  # never two of dee's turns in the model at once
    assert "message one" in replies["one"].text and "message two" in replies["two"].text
    assert [t["role"] for t in bot.store.recent_turns("dee", 10)] == ["user", "assistant"] * 2
    waits = sorted(r.context["timings"]["wait_s"] for r in replies.values())
    assert waits[1] > 0 and set(replies["one"].context["timings"]) >= {
        "wait_s",
        "sensed_s",
        "first_piece_s",
        "reply_s",
        "total_s",
    }


def test_real_analyzers_give_the_same_answers_from_several_threads():
    """The text analyzer and the embedder share one fast tokenizer, whose truncation and padding are
    state on the object: unlocked, a long text was cut into the wrong windows while another thread
    embedded (about 1 call in 3), and the embedder failed with "Unable to create tensor"."""
    from pipelines.text import TextEmotionAnalyzer

    analyzer, embedder = TextEmotionAnalyzer(), MiniLM()
    long_text = "I'm so tired of all this, nothing works and I keep trying. " * 30  # several windows
    short = ["That scared me.", "I can't believe it, this is wonderful!"]
    alone, vectors = analyzer.analyze(long_text).probs, embedder.embed(short)
    differ, errors, done = [], [], threading.Event()

    def analyze():
        try:
            for _ in range(40):
                probs = analyzer.analyze(long_text).probs
                if any(abs(probs[k] - alone[k]) > 1e-4 for k in probs):
                    differ.append("analyzer")
        except Exception as exc:
            errors.append(f"analyzer: {type(exc).__name__}: {exc}")
        finally:
            done.set()

    def embed():
        try:
            while not done.is_set():
                if not np.allclose(embedder.embed(short), vectors, atol=1e-4):
                    differ.append("embedder")
        except Exception as exc:
            errors.append(f"embedder: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=analyze)] + [threading.Thread(target=embed) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == [] and differ == [], (errors[:3], len(differ))


def test_reply_concurrency_follows_the_parallel_setting(tmp_path, monkeypatch):
    """One knob: llama.cpp slots (passed to the generator) and the app's replies at once."""
    import app
    from companion import registry
    from webapp import queue_options

    made = {}
    monkeypatch.setattr(registry, "create", lambda kind, name, **kw: made.setdefault(kind, kw) and EchoGenerator())
    bot = Companion(Settings(data_dir=tmp_path, llm={"parallel": 3}), embedder=MiniLM(), analyzers={"text": None})
    bot.parts.generator()
    assert made["generator"]["parallel"] == 3
    demo = app.build_app(bot)
    limits = {fn.api_name: fn.concurrency_limit for fn in demo.fns.values()}
    assert limits["chat"] == limits["voice"] == 3
    assert queue_options(bot)["default_concurrency_limit"] >= 3
    bot.close()
