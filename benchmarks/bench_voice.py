"""Voice latency: end of the user's speech -> first sample of the spoken reply, by stage.

    python -m companion bench voice [--turns 12] [--asr base] [--no-llm] [--max-tokens 60]
    python -m benchmarks.bench_voice

Each turn is a sentence spoken by espeak-ng / flite (piper when they are missing), handed over
whole, as the app gets it when the user stops recording. Stages run one after the other, as
in Companion.respond: ASR (Whisper + VAD), the voice emotion analyzer, the LLM until its first
complete sentence (the embedded llama.cpp generator), TTS of that sentence (piper). Also times
the voice analyzer alone on 4-second clips. Prints p50/p95 tables; timings are wall-clock on
this machine, so note its load (printed) when comparing runs.
"""
from __future__ import annotations

import argparse
import os
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
SYSTEM = "You are a warm, supportive companion. Reply in one or two short sentences."


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def speak_turns(n: int, folder: Path) -> list[tuple[int, np.ndarray, str]]:
    from benchmarks.eval_voice import ENGINES
    from pipelines import audio

    import shutil
    import subprocess

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


def first_sentence(generator, text: str, max_tokens: int) -> str:
    from pipelines.speech import split_sentences

    buffer = ""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
    for piece in generator.stream(messages, max_tokens=max_tokens, temperature=0.7, top_p=0.9, seed=7):
        buffer += piece
        done, _ = split_sentences(buffer)
        if done:
            return done[0]
    return buffer.strip() or "I hear you."


def analyzer_on_4s_clips(analyzer, repeats: int = 20) -> tuple[float, float, float]:
    """p50/p95 wall and p50 CPU seconds of the voice analyzer on 4-second RAVDESS-like clips."""
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
    return (*percentiles(wall), float(np.median(cpu)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--asr", default=None, help="Whisper model (default: pipelines.speech.DEFAULT_ASR_MODEL)")
    parser.add_argument("--no-llm", action="store_true", help="measure ASR, analyzer and TTS only")
    parser.add_argument("--max-tokens", type=int, default=60)
    args = parser.parse_args(argv)
    if args.turns < 1:
        parser.error("--turns must be at least 1")
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
    generator = None if args.no_llm else load_generator()
    if generator is not None:
        first_sentence(generator, "Hello!", 8)  # the first request allocates llama.cpp buffers
    stages: dict[str, list[float]] = {"asr": [], "voice analyzer": [], "llm first sentence": [],
                                      "tts first audio": [], "total": []}
    with tempfile.TemporaryDirectory(prefix="companion-bench-") as tmp:
        turns = speak_turns(args.turns, Path(tmp))
    cpu: dict[str, list[float]] = {name: [] for name in stages}
    heard = []
    for rate, samples, _text in turns:
        marks = [(time.perf_counter(), time.process_time())]
        transcript = transcriber.transcribe((rate, samples))
        marks.append((time.perf_counter(), time.process_time()))
        estimate = analyzer.analyze((rate, samples))
        marks.append((time.perf_counter(), time.process_time()))
        reply = first_sentence(generator, transcript.text, args.max_tokens) if generator else \
            "I'm here with you, tell me more."
        marks.append((time.perf_counter(), time.process_time()))
        synthesizer.synthesize(reply, mood=estimate)
        marks.append((time.perf_counter(), time.process_time()))
        spans = [(a, b) for a, b in zip(marks, marks[1:])] + [(marks[0], marks[-1])]
        for name, (a, b) in zip(stages, spans):
            stages[name].append(b[0] - a[0])
            cpu[name].append(b[1] - a[1])
        heard.append((transcript.text, estimate.label if estimate else None, reply))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nvoice-to-voice latency over {len(turns)} turns (ASR {transcriber.model_name}; "
          f"LLM {'llama.cpp ' + generator.model_path.name if generator else 'none: not measured'}; "
          f"TTS {synthesizer.engine}; {os.cpu_count()} CPUs, load average {load:.1f})")
    print("| stage | p50 s | p95 s | CPU p50 s |")
    print("|---|---|---|---|")
    for name, values in stages.items():
        if name == "llm first sentence" and generator is None:
            print(f"| {name} | not measured | not measured | |")
            continue
        p50, p95 = percentiles(values)
        print(f"| {name} | {p50:.3f} | {p95:.3f} | {np.median(cpu[name]):.3f} |")
    print("(CPU s: process CPU time, all threads; wall time above it means waiting for a busy CPU)")
    p50, p95, cpu = analyzer_on_4s_clips(analyzer)
    print(f"\nvoice analyzer on 4-second clips: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms "
          f"(CPU p50 {cpu * 1000:.1f} ms)")
    print("load times (s): " + ", ".join(f"{k} {v:.2f}" for k, v in loads.items()))
    for text, label, reply in heard[:3]:
        print(f"  heard {text!r} [{label}] -> {reply!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
