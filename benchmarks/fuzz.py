"""python -m companion fuzz [--examples N] [--targets a,b] [--seed S]

Hypothesis-generated input for every entry point that takes user input: user ids, messages,
crisis detection, fact extraction, emotion estimates and fusion, the text/face/voice analyzers,
audio decoding, and Companion itself (respond, stream, observe, feedback, consent, export, forget).
A case ends in one of three ways: ok, a documented error (the ValueError family, or TypeError
where the target documents it for non-str input), or a crash (anything else, or a broken
post-condition). Default: 1,000 cases per target, over 10,000 in all. Exit status 1 on any crash.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

SEED_TEXTS = [
    "I want to kill myself",
    "this homework is killing me",
    "he is hitting me",
    "My sister is Ana.",
    "I love hiking and I hate mornings",
    "😭😭😭",
    ":'( :) <3",
    "\x00\x01\x1b[31m",
    "‮reversed",
    "ǅ" * 50,
    "a" * 4001,
    " \n\t ",
    "",
    "DROP TABLE turns; --",
    "alice' OR '1'='1",
    "<script>alert(1)</script>",
    "\ud800" if False else "\U0001f600" * 300,
    "I'm not suicidal",
    "kms lol",
    "Ich bin traurig",
    "悲しい",
]


@dataclass
class Target:
    name: str
    what: str
    make: Callable[[], tuple[Any, Callable[[Any], None]]]  # -> (strategy, check)
    documented: tuple[type[BaseException], ...] = (ValueError,)


@dataclass
class Result:
    name: str
    counts: Counter = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: str = ""


# -- strategies ---------------------------------------------------------------------------------
def texts(max_size: int = 400, repeat: int = 40):
    """Any unicode, known awkward strings, and mixtures of them repeated up to `repeat` times."""
    from hypothesis import strategies as st

    return st.one_of(
        st.text(max_size=max_size),
        st.sampled_from(SEED_TEXTS),
        st.builds(
            lambda a, b, n: (a + " " + b) * n, st.sampled_from(SEED_TEXTS), st.text(max_size=30), st.integers(1, repeat)
        ),
    )


def junk():
    from hypothesis import strategies as st

    return st.one_of(
        st.none(),
        st.integers(),
        st.floats(),
        st.binary(max_size=50),
        st.booleans(),
        st.lists(st.integers(), max_size=5),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )


def images():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    dtype = st.sampled_from([np.uint8, np.float32, np.float64, np.int16, np.bool_])
    shape = st.one_of(
        st.tuples(st.integers(0, 80), st.integers(0, 80), st.sampled_from([1, 2, 3, 4])),
        st.tuples(st.integers(0, 80), st.integers(0, 80)),
        st.tuples(st.integers(0, 50)),
        st.tuples(st.integers(1, 3), st.integers(0, 40), st.integers(0, 40), st.just(3)),
    )
    noise = st.builds(
        lambda s, h, w: np.random.default_rng(s).integers(0, 256, (h, w, 3), dtype=np.uint8),
        st.integers(0, 2**32 - 1),
        st.integers(1, 240),
        st.integers(1, 320),
    )
    rgb = hnp.arrays(np.uint8, st.tuples(st.integers(1, 96), st.integers(1, 96), st.just(3)))
    return st.one_of(noise, noise, rgb, hnp.arrays(dtype, shape), junk())  # mostly valid frames


def audios():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    rate = st.one_of(
        st.sampled_from([8000, 16000, 22050, 44100, 48000]),
        st.integers(-10, 600_000),
        st.floats(),
        st.text(max_size=5),
        st.none(),
    )
    dtype = st.sampled_from([np.int16, np.int32, np.uint8, np.float32, np.float64])
    shape = st.one_of(
        st.tuples(st.integers(0, 4000)),
        st.tuples(st.integers(0, 2000), st.integers(0, 9)),
        st.tuples(st.integers(0, 3), st.integers(0, 2000)),
        st.tuples(),
    )
    tone = st.builds(
        lambda f, amp, n, r: (r, (amp * np.sin(2 * np.pi * f * np.arange(n) / r)).astype(np.float32)),
        st.floats(20, 4000),
        st.floats(0, 2),
        st.integers(0, 40_000),
        st.sampled_from([8000, 16000, 44100]),
    )
    return st.one_of(st.tuples(rate, hnp.arrays(dtype, shape)), tone, junk(), st.tuples(rate, junk()))


# -- targets ------------------------------------------------------------------------------------
def t_user_id():
    from hypothesis import strategies as st

    from companion.safety import validate_user

    return st.one_of(
        texts(80), junk(), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.@\-]{0,70}", fullmatch=True)
    ), validate_user


def t_message():
    from hypothesis import strategies as st

    from companion.safety import clean_message

    def check(ex):
        out = clean_message(ex[0], ex[1])
        assert isinstance(out, str) and out and len(out) <= ex[1]

    return st.tuples(st.one_of(texts(), junk()), st.integers(100, 5000)), check


def t_crisis_patterns():
    import ast
    import re

    from companion.crisis import CATEGORIES, detect_patterns, normalize, screened

    def check(text):
        found = detect_patterns(text)
        if found.is_crisis:  # an alarm names the words it matched, and they are in what the patterns read
            assert found.category in CATEGORIES and found.score == 1.0, found
            assert ast.literal_eval(found.reason.removeprefix("pattern: ")) in screened(text), found
            assert re.search("[a-z]", normalize(text)), found  # no letters, no words, no alarm
        else:
            assert found.category is None and found.score == 0.0 and not found.reason, found
        # one explicit sentence raises the alarm whatever surrounds it
        embedded = detect_patterns(f"{text}. I want to kill myself. {text}")
        assert embedded.is_crisis and embedded.category == "self_harm", embedded

    return texts(), check


def t_crisis_detect():
    from companion.crisis import CrisisClassifier, detect

    clf = CrisisClassifier()

    def check(text):
        found = detect(text, classifier=clf)
        assert found.category in (None, "self_harm", "danger") and 0.0 <= found.score <= 1.0 + 1e-6

    return texts(300, repeat=6), check  # long messages go through the companion target


def t_crisis_reply():
    from hypothesis import strategies as st

    from companion.crisis import crisis_reply

    def check(ex):
        assert "I'm an AI" in crisis_reply(*ex)

    return st.tuples(
        st.one_of(st.text(max_size=12), st.sampled_from(["US", "uk", "en-GB", "IE_ie"]), st.none()),
        st.one_of(st.none(), st.sampled_from(["self_harm", "danger"]), st.text(max_size=8)),
    ), check


def t_facts():
    from companion.memory.facts import extract_facts

    return texts(), extract_facts


def _estimate_args():
    from hypothesis import strategies as st

    from companion.types import EMOTIONS

    num = st.one_of(st.floats(-2, 2), st.floats(), st.integers(-3, 3))
    unit = st.floats(-1, 1)
    valid_probs = st.lists(st.floats(0, 1), min_size=7, max_size=7).map(
        lambda p: {k: v / sum(p) for k, v in zip(EMOTIONS, p)} if sum(p) > 0 else {"neutral": 1.0}
    )
    odd_probs = st.one_of(
        st.dictionaries(st.sampled_from(EMOTIONS), num, max_size=7),
        st.dictionaries(st.text(max_size=8), num, max_size=3),
    )
    valid = st.tuples(
        st.sampled_from(["text", "voice", "face"]), valid_probs, unit, unit, st.floats(0, 1), st.floats(-50, 10)
    )
    odd = st.tuples(st.sampled_from(["text", "voice", "face", "smell"]), odd_probs, num, num, num, num)
    return st.one_of(valid, valid, odd)  # two thirds valid, so the success paths get their share


def t_estimate():
    from companion.types import EmotionEstimate

    def check(a):
        e = EmotionEstimate(a[0], a[1], valence=a[2], arousal=a[3], confidence=a[4], source="fuzz", at=a[5])
        assert abs(sum(e.probs.values()) - 1) < 1e-3

    return _estimate_args(), check


def t_fusion():
    from hypothesis import strategies as st

    from companion import fusion
    from companion.types import EmotionEstimate, InvalidEstimate

    def build(a):
        try:
            return EmotionEstimate(
                a[0],
                a[1],
                valence=a[2],
                arousal=a[3],
                confidence=a[4],
                source="fuzz",
                at=1_700_000_000.0 + float(a[5]) * 10 if np.isfinite(float(a[5])) else a[5],
            )
        except (InvalidEstimate, ValueError, TypeError, OverflowError):
            return None

    estimate = _estimate_args().map(build)
    items = st.one_of(
        st.lists(st.one_of(estimate, st.none()), max_size=8),
        st.lists(st.one_of(estimate, st.none(), junk()), max_size=8),
    )

    def check(ex):
        mood = fusion.fuse(ex, now=1_700_000_100.0)
        assert abs(sum(mood.probs.values()) - 1) < 1e-3

    return items, check


def t_text_analyzer():
    from hypothesis import strategies as st

    from pipelines.text import TextEmotionAnalyzer

    analyzer = TextEmotionAnalyzer()
    return st.one_of(texts(), junk()), analyzer.analyze


def t_face_analyzer():
    from hypothesis import strategies as st

    from pipelines.face import FaceEmotionAnalyzer

    analyzer = FaceEmotionAnalyzer()
    return st.tuples(images(), st.booleans()), lambda ex: analyzer.analyze(ex[0], detect=ex[1])


def t_voice_analyzer():
    from pipelines.voice import VoiceEmotionAnalyzer

    analyzer = VoiceEmotionAnalyzer()
    return audios(), analyzer.analyze


def t_audio_load():
    from pipelines.audio import load

    def check(signal):
        out = load(signal)
        assert out.dtype == np.float32 and out.ndim == 1 and np.isfinite(out).all()

    return audios(), check


def t_companion():
    from hypothesis import strategies as st

    from companion.config import Settings
    from companion.core import Companion
    from companion.generation.echo import EchoGenerator
    from companion.registry import UnknownBackend
    from pipelines.embedding import MiniLMEmbedder

    class Transcriber:  # at the model's edge: Whisper itself is too slow for 1,000 cases
        def transcribe(self, audio):
            return type("T", (), {"text": "" if len(str(audio)) % 3 == 0 else "hello from audio"})()

    embedder = MiniLMEmbedder()

    class Embedder:
        def embed(self, texts):
            return embedder.embed(texts)

    analyzers = {}
    for modality in ("text", "face", "voice"):  # the real ones where they exist
        try:
            from companion import registry

            name = getattr(Settings().analyzers, modality)
            analyzers[modality] = registry.create(modality, name)
        except (ImportError, UnknownBackend, FileNotFoundError):
            analyzers[modality] = None
    tmp = tempfile.mkdtemp(prefix="companion-fuzz-")
    bot = Companion(
        Settings(data_dir=tmp),
        generator=EchoGenerator(),
        embedder=Embedder(),
        analyzers=analyzers,
        transcriber=Transcriber(),
    )
    for user in ("alice", "bob"):  # so their face and voice signals reach the analyzers
        bot.consent(user, face=True, voice=True, store_mood=True)
    known = st.sampled_from(["alice", "bob", "carol.x@y", "d-1"])
    users = st.one_of(
        known, known, known, st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}", fullmatch=True), texts(70), junk()
    )
    ops = st.sampled_from(["respond", "respond", "stream", "observe", "feedback", "consent", "export", "forget"])
    consent = st.dictionaries(
        st.sampled_from(["face", "voice", "store_mood", "camera"]),
        st.one_of(st.booleans(), st.none(), st.integers(0, 2)),
        max_size=3,
    )
    words = st.sampled_from(SEED_TEXTS[:5] + ["hello", "I feel a bit low today", "We went to the beach!"])
    example = st.fixed_dictionaries(
        {
            "op": ops,
            "user": users,
            "text": st.one_of(words, words, texts(), texts(), st.none(), junk()),
            "image": st.one_of(st.none(), st.none(), images()),
            "audio": st.one_of(st.none(), st.none(), audios()),
            "label": st.one_of(st.sampled_from(["joy", "sadness"]), st.text(max_size=8)),
            "consent": consent,
        }
    )

    def check(ex):
        op, user = ex["op"], ex["user"]
        if op in ("respond", "stream"):
            if op == "respond":
                reply = bot.respond(user, ex["text"], image=ex["image"], audio=ex["audio"])
            else:
                pieces = list(bot.stream(user, ex["text"], image=ex["image"], audio=ex["audio"]))
                reply = bot.last_reply(user)
                assert "".join(pieces).strip() == reply.text.strip()
            assert isinstance(reply.text, str) and reply.text.strip()
        elif op == "observe":
            bot.observe(user, image=ex["image"], audio=ex["audio"])
        elif op == "feedback":
            bot.feedback(user, ex["label"])
        elif op == "consent":
            bot.consent(user, **ex["consent"])
        elif op == "export":
            import json

            json.dumps(bot.export(user))
        else:
            bot.forget(user)

    return example, check


TARGETS = [
    Target("user_id", "safety.validate_user", t_user_id),
    Target("message", "safety.clean_message", t_message),
    Target("crisis_patterns", "crisis.detect_patterns", t_crisis_patterns),
    Target("crisis_detect", "crisis.detect (patterns + classifier)", t_crisis_detect),
    Target("crisis_reply", "crisis.crisis_reply(locale, category)", t_crisis_reply),
    Target("facts", "memory.facts.extract_facts", t_facts),
    Target("estimate", "types.EmotionEstimate(...)", t_estimate),
    Target("fusion", "fusion.fuse(estimates)", t_fusion),
    Target("text_analyzer", "pipelines.text.TextEmotionAnalyzer.analyze", t_text_analyzer, (ValueError, TypeError)),
    Target("face_analyzer", "pipelines.face.FaceEmotionAnalyzer.analyze", t_face_analyzer),
    Target("voice_analyzer", "pipelines.voice.VoiceEmotionAnalyzer.analyze", t_voice_analyzer),
    Target("audio_load", "pipelines.audio.load", t_audio_load),
    Target("companion", "Companion respond/stream/observe/feedback/consent/export/forget", t_companion),
]


def run_target(target: Target, examples: int, seed: int) -> Result:
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as fixed_seed

    result = Result(target.name)
    started = time.perf_counter()
    try:
        strategy, check = target.make()
    except (ImportError, FileNotFoundError) as exc:
        result.skipped = f"{type(exc).__name__}: {exc}"[:100]
        return result

    @fixed_seed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @given(strategy)
    def case(example):
        result.counts["cases"] += 1
        try:
            check(example)
            result.counts["ok"] += 1
        except target.documented as exc:
            result.counts["documented"] += 1
            result.counts[f"documented:{type(exc).__name__}"] += 1
            if not str(exc).strip():
                raise AssertionError(f"{type(exc).__name__} without a message") from exc
        except Exception as exc:  # anything else is a crash: record it and keep going
            result.counts["crash"] += 1
            if len(result.crashes) < 3:
                where = traceback.extract_tb(exc.__traceback__)[-1]
                result.crashes.append(
                    f"{type(exc).__name__}: {str(exc)[:160]} at {where.filename.split('/')[-1]}:"
                    f"{where.lineno} for {repr(example)[:160]}"
                )

    try:
        case()
    except AssertionError as exc:  # a documented error without a message
        result.counts["crash"] += 1
        result.crashes.append(str(exc)[:200])
    result.seconds = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion fuzz", description=__doc__.split("\n\n")[1])
    parser.add_argument("--examples", type=int, default=1000, help="cases per target (default 1000)")
    parser.add_argument(
        "--targets", default="", help="comma-separated subset of: " + ", ".join(t.name for t in TARGETS)
    )
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    chosen = [t for t in TARGETS if not args.targets or t.name in args.targets.split(",")]
    from pipelines.loading import torch_threads

    torch_threads(2)
    results = []
    print("| target          | cases | ok    | documented errors              | crashes | seconds |")
    print("|-----------------|------:|------:|--------------------------------|--------:|--------:|")
    for target in chosen:
        r = run_target(target, args.examples, args.seed)
        results.append(r)
        if r.skipped:
            print(f"| {r.name:<15} | skipped: {r.skipped}")
            continue
        kinds = ", ".join(
            f"{k.split(':', 1)[1]} {v}" for k, v in sorted(r.counts.items()) if k.startswith("documented:")
        )
        print(
            f"| {r.name:<15} | {r.counts['cases']:>5} | {r.counts['ok']:>5} | {kinds or '-':<30} | "
            f"{r.counts['crash']:>7} | {r.seconds:>7.1f} |",
            flush=True,
        )
    total = sum(r.counts["cases"] for r in results)
    crashes = sum(r.counts["crash"] for r in results)
    print(
        f"\ntotal: {total:,} cases over {sum(not r.skipped for r in results)} targets, {crashes} crashes"
        + (f"; skipped: {', '.join(r.name for r in results if r.skipped)}" if any(r.skipped for r in results) else "")
    )
    for r in results:
        for line in r.crashes:
            print(f"  crash in {r.name}: {line}")
    return 1 if crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
