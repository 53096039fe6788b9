"""Voice latency: end of the user's speech -> first sample of the spoken reply, by stage.

    python -m companion bench voice [--turns 12] [--asr base] [--no-llm] [--max-tokens 60]
    python -m benchmarks.bench_voice

Each turn is a sentence spoken by espeak-ng / flite (piper when they are missing), handed over
whole, as the app gets it when the user stops recording. Stages run one after the other, as
in Companion.respond: ASR (Whisper + VAD), the voice and text emotion analyzers, the reply's first
sentence as the real ReplyPipeline streams it (planner, one sample of the embedded llama.cpp model
with the support-tuned adapter, per-sentence checks), TTS of that sentence (piper; the rest of the
reply is written and spoken while it plays). Also times
the voice analyzer alone on 4-second clips. Prints p50/p95 tables; timings are wall-clock on
this machine, so note its load (printed) when comparing runs.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

TURNS = (
    "I had a rough day and I just want to talk to someone.",
    "My best friend is moving away next month.",
    "I finally finished the marathon this morning!",
    "I keep making mistakes at my new job.",
    "Do you think I should tell my brother how I feel?",
    "The house feels so quiet since my cat died.",
    "I got into the university I wanted!",
    "My neighbours were shouting all night and I could not sleep.",
    "I'm scared about the surgery on Thursday.",
    "Can you help me plan a calm evening?",
    "Someone took credit for my work again today.",
    "I think things are slowly getting better.",
)


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def speak_turns(n: int, folder: Path) -> list[tuple[int, np.ndarray, str]]:
    import shutil
    import subprocess

    from benchmarks.eval_voice import ENGINES
    from pipelines import audio

    engines = [e for e, cmd in ENGINES.items() if shutil.which(cmd("", "")[0])]
    turns = []
    fallback = None
    for i in range(n):
        text = TURNS[i % len(TURNS)]
        if engines:
            out = folder / f"turn{i}.wav"
            subprocess.run(ENGINES[engines[i % len(engines)]](text, str(out)), check=True, capture_output=True)
            turns.append((16_000, audio.load(out), text))
        else:
            from pipelines.speech import Synthesizer

            fallback = fallback or Synthesizer()
            rate, samples = fallback.synthesize(text)
            turns.append((16_000, audio.resample(samples, rate), text))
    return turns


def load_generator():
    try:
        from companion.generation.llamacpp import LlamaCppGenerator
    except ImportError as exc:
        print(f"(no LLM stage: companion.generation.llamacpp is not importable: {exc})")
        return None
    return LlamaCppGenerator(threads=2)


def first_sentence(pipeline, text: str, estimates) -> str:
    """The first sentence of the reply Companion streams for a spoken turn (fused mood, plan, one sample;
    no store: no memories). Speech starts on it while the model writes the rest."""
    from companion import fusion
    from companion.generation.prompt import TurnContext

    found = tuple(e for e in estimates if e is not None)
    said = ""
    stream = pipeline.stream(TurnContext(user="bench", text=text, mood=fusion.fuse(found), estimates=found))
    for piece in stream:
        said += piece
        if re.search(r"[.!?][\"')]?\s*$", said):
            break
    stream.close()
    return said.strip()


def analyzer_on_4s_clips(analyzer, repeats: int = 20) -> tuple[float, float, float, float]:
    """p50/p95/min wall and p50 CPU seconds of the voice analyzer on 4-second RAVDESS clips
    (min: the least-disturbed run, a hint of the cost on an idle machine)."""
    from benchmarks.eval_voice import DEFAULT_DATA

    clips = sorted((DEFAULT_DATA / "ravdess-speech-16k").glob("Actor_0[1-2]/*.flac"))[:repeats]
    from pipelines import audio

    signals = []
    for path in clips:
        x = audio.load(path)[: 4 * 16_000]
        signals.append(np.pad(x, (0, 4 * 16_000 - len(x))))
    if not signals:  # no dataset here: a synthetic vowel glide instead
        from pipelines.voice import _warmup_signal

        signals = [np.tile(_warmup_signal(), 4)] * repeats
    wall, cpu = [], []
    for x in signals:
        t, c = time.perf_counter(), time.process_time()
        analyzer.analyze((16_000, x))
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return (*percentiles(wall), float(np.min(wall)), float(np.median(cpu)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--asr", default=None, help="Whisper model (default: pipelines.speech.DEFAULT_ASR_MODEL)")
    parser.add_argument("--no-llm", action="store_true", help="measure ASR, analyzer and TTS only")
    parser.add_argument("--max-tokens", type=int, default=60)
    args = parser.parse_args(argv)
    if args.turns < 1:
        parser.error("--turns must be at least 1")
    from companion.generation.reply import pieces
    from pipelines.speech import DEFAULT_ASR_MODEL, Synthesizer, Transcriber
    from pipelines.voice import VoiceEmotionAnalyzer

    loads: dict[str, float] = {}
    t = time.perf_counter()
    transcriber = Transcriber(model=args.asr or DEFAULT_ASR_MODEL)
    loads["asr"] = time.perf_counter() - t
    t = time.perf_counter()
    analyzer = VoiceEmotionAnalyzer()
    loads["voice analyzer"] = time.perf_counter() - t
    t = time.perf_counter()
    synthesizer = Synthesizer()
    loads["tts"] = time.perf_counter() - t
    clip_p50, clip_p95, clip_min, clip_cpu = analyzer_on_4s_clips(analyzer)  # before the LLM shares the CPU
    generator = None if args.no_llm else load_generator()
    pipeline = None
    if generator is not None:
        from companion.config import Settings
        from companion.generation.reply import ReplyPipeline
        from pipelines.embedding import MiniLMEmbedder
        from pipelines.text import TextEmotionAnalyzer

        llm = Settings().llm.model_copy(update={"max_tokens": args.max_tokens})
        text_analyzer = TextEmotionAnalyzer()
        pipeline = ReplyPipeline(generator, llm, embedder=MiniLMEmbedder())
        first_sentence(pipeline, "Hello!", [])  # the first request allocates llama.cpp buffers
    stages: dict[str, list[float]] = {
        "asr": [],
        "voice + text analyzers": [],
        "reply: first sentence, streamed": [],
        "tts first audio": [],
        "total": [],
    }
    with tempfile.TemporaryDirectory(prefix="companion-bench-") as tmp:
        turns = speak_turns(args.turns, Path(tmp))
    cpu: dict[str, list[float]] = {name: [] for name in stages}
    heard, rest_tts = [], []
    for rate, samples, _text in turns:
        marks = [(time.perf_counter(), time.process_time())]
        transcript = transcriber.transcribe((rate, samples))
        marks.append((time.perf_counter(), time.process_time()))
        estimate = analyzer.analyze((rate, samples))
        estimates = [estimate, text_analyzer.analyze(transcript.text) if pipeline and transcript.text else None]
        marks.append((time.perf_counter(), time.process_time()))
        reply = (
            first_sentence(pipeline, transcript.text or "...", estimates)
            if pipeline
            else "I'm here with you, tell me more."
        )
        marks.append((time.perf_counter(), time.process_time()))
        # As Synthesizer.sentences speaks a stream: the first chunk (a sentence, or a clause of 30+
        # characters ending in a comma) is heard while the rest is synthesised.
        spoken = synthesizer.sentences(iter(pieces(reply)), mood=estimate)
        next(spoken, None)
        marks.append((time.perf_counter(), time.process_time()))
        t = time.perf_counter()
        for _ in spoken:
            pass
        rest_tts.append(time.perf_counter() - t)
        spans = [(a, b) for a, b in zip(marks, marks[1:])] + [(marks[0], marks[-1])]
        for name, (a, b) in zip(stages, spans):
            stages[name].append(b[0] - a[0])
            cpu[name].append(b[1] - a[1])
        heard.append((transcript.text, estimate.label if estimate else None, reply))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\nvoice-to-voice latency over {len(turns)} turns (ASR {transcriber.model_name}; "
        f"LLM {'llama.cpp ' + generator.model_path.name if generator else 'none: not measured'}; "
        f"TTS {synthesizer.engine}; {os.cpu_count()} CPUs, load average {load:.1f})"
    )
    print("| stage | p50 s | p95 s | CPU p50 s |")
    print("|---|---|---|---|")
    for name, values in stages.items():
        if name.startswith("reply") and generator is None:
            print(f"| {name} | not measured | not measured | |")
            continue
        p50, p95 = percentiles(values)
        print(f"| {name} | {p50:.3f} | {p95:.3f} | {np.median(cpu[name]):.3f} |")
    print("(CPU s: process CPU time, all threads; wall time above it means waiting for a busy CPU)")
    print(
        f"TTS of the reply's later sentences: p50 {np.median(rest_tts):.3f} s (a caller that plays the whole "
        "reply at once, like the web app, waits this much longer than the total above)"
    )
    print(
        f"\nvoice analyzer on 4-second clips: p50 {clip_p50 * 1000:.1f} ms, p95 {clip_p95 * 1000:.1f} ms, "
        f"min {clip_min * 1000:.1f} ms (CPU p50 {clip_cpu * 1000:.1f} ms)"
    )
    print("load times (s): " + ", ".join(f"{k} {v:.2f}" for k, v in loads.items()))
    for text, label, reply in heard[:3]:
        print(f"  heard {text!r} [{label}] -> {reply!r}")
    del generator  # stop llama.cpp's threads before the interpreter exits
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
