"""Voice accuracy: RAVDESS emotion (actor-independent) and speech-recognition word error rate.

    python -m companion eval voice [--data DIR] [--skip-asr] [--skip-emotion] [--models base,tiny.en]
    python -m benchmarks.eval_voice

Emotion: 6-fold cross-validation by actor (4 actors a fold; no actor on both sides) of exactly
the shipped recipe (pipelines.training.voice), under three baseline conditions; prints
accuracy (8 RAVDESS classes and the 7 mapped EMOTIONS), per-class recall, the confusion matrix.
ASR: ~20 fixed sentences synthesised with espeak-ng and flite (Debian packages) into a
temporary folder, transcribed by each Whisper model; WER over words (case and punctuation
ignored).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets"

SENTENCES = (
    "I had a really long day at work and I feel exhausted.",
    "My sister called me this morning with some wonderful news.",
    "I can't stop worrying about the exam next week.",
    "Nobody listened to me during the meeting today.",
    "We finally moved into the new apartment last weekend.",
    "I miss my grandmother more than I expected.",
    "The train was late again and I missed my appointment.",
    "Thank you for listening, it really helps to talk.",
    "I think I should call my old friend and apologize.",
    "The doctor said the results will take a few more days.",
    "I was so angry that I could not say a single word.",
    "Sometimes I feel like nobody understands me at all.",
    "We went hiking in the mountains and the view was beautiful.",
    "My manager asked me to present the project on Friday.",
    "I am nervous about meeting her parents for the first time.",
    "The weather has been grey and rainy for the whole month.",
    "I just found out that I got the job.",
    "Can you remind me what we talked about yesterday?",
    "My dog has been sick and I am really worried about him.",
    "I want to learn how to cook healthy meals at home.",
)
# Engines that make the test speech: name -> command writing `text` to the WAV file `out`.
ENGINES = {
    "espeak-ng": lambda text, out: ["espeak-ng", "-v", "en-us", "-w", out, text],
    "flite": lambda text, out: ["flite", "-voice", "slt", "-t", text, "-o", out],
}


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diag, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (r != h))
    return row[len(hyp)]


def synthesise_set(folder: Path, sentences=SENTENCES) -> list[tuple[str, Path, str]]:
    """(engine, wav path, reference text) for every installed engine; says which are missing."""
    clips = []
    for engine, command in ENGINES.items():
        if shutil.which(command("", "")[0]) is None:
            print(f"  ({engine} is not installed: apt-get install -y espeak-ng flite; skipped)")
            continue
        for i, text in enumerate(sentences):
            out = folder / f"{engine}_{i:02d}.wav"
            subprocess.run(command(text, str(out)), check=True, capture_output=True)
            clips.append((engine, out, text))
    return clips


def asr_table(models: list[str]) -> list[dict]:
    from pipelines import audio
    from pipelines.speech import Transcriber

    rows = []
    with tempfile.TemporaryDirectory(prefix="companion-asr-") as tmp:
        clips = synthesise_set(Path(tmp))
        if not clips:
            return rows
        signals = [(engine, audio.load(path), ref) for engine, path, ref in clips]
        for model in models:
            load_start = time.perf_counter()
            transcriber = Transcriber(model=model)
            load_s = time.perf_counter() - load_start
            errors: dict[str, list[int]] = {}
            wall, cpu, seconds, misses = [], [], 0.0, []
            for engine, samples, ref in signals:
                t, c = time.perf_counter(), time.process_time()
                text = transcriber.transcribe((16_000, samples)).text
                wall.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
                seconds += len(samples) / 16_000
                e = edit_distance(words(ref), words(text))
                errors.setdefault(engine, [0, 0])
                errors[engine][0] += e
                errors[engine][1] += len(words(ref))
                if e:
                    misses.append(f"{engine}: {ref!r} -> {text!r}")
            total = [sum(v[0] for v in errors.values()), sum(v[1] for v in errors.values())]
            rows.append(
                {
                    "model": model,
                    "wer": total[0] / total[1],
                    **{f"wer_{k}": v[0] / v[1] for k, v in errors.items()},
                    "p50_s": float(np.median(wall)),
                    "p95_s": float(np.percentile(wall, 95)),
                    "cpu_p50_s": float(np.median(cpu)),
                    "rtf": sum(wall) / seconds,
                    "load_s": load_s,
                    "misses": misses,
                }
            )
    return rows


def print_asr(rows: list[dict]) -> None:
    engines = [k[4:] for k in rows[0] if k.startswith("wer_")] if rows else []
    print("\nASR word error rate (synthesised sentences; lower is better)")
    print(
        "| model | WER | " + " | ".join(f"WER {e}" for e in engines) + " | p50 s | p95 s | CPU p50 s | RTF | load s |"
    )
    print("|---|---|" + "---|" * (len(engines) + 5))
    for r in rows:
        print(
            f"| {r['model']} | {r['wer']:.3f} | "
            + " | ".join(f"{r['wer_' + e]:.3f}" for e in engines)
            + f" | {r['p50_s']:.2f} | {r['p95_s']:.2f} | {r['cpu_p50_s']:.2f} | {r['rtf']:.3f} | {r['load_s']:.1f} |"
        )
    for r in rows:
        for miss in r["misses"]:
            print(f"  {r['model']} {miss}")


def print_emotion(cv: dict) -> None:
    from pipelines.voice_model import RAVDESS_LABELS

    print("\nRAVDESS speech, actor-independent (6 folds of 4 actors)")
    print("| condition | acc 8-class | acc 7 mapped | macro recall | arousal r | valence r |")
    print("|---|---|---|---|---|---|")
    for name, m in cv.items():
        print(
            f"| {name} | {m['accuracy_8']:.3f} | {m['accuracy_7']:.3f} | {m['macro_recall_8']:.3f} | "
            f"{m['arousal_r']:.2f} | {m['valence_r']:.2f} |"
        )
    print(
        "streaming accuracy by turn number: "
        + ", ".join(f"{k}: {v:.3f}" for k, v in cv["streaming"]["by_turn"].items())
    )
    print("\nper-class recall")
    print("| condition | " + " | ".join(RAVDESS_LABELS) + " |")
    print("|---|" + "---|" * len(RAVDESS_LABELS))
    for name, m in cv.items():
        print(f"| {name} | " + " | ".join(f"{m['recall_8'][k]:.2f}" for k in RAVDESS_LABELS) + " |")
    for name in ("no_baseline", "own_clips"):
        print(f"\nconfusion ({name}; rows = true, columns = predicted)")
        print("| true \\ pred | " + " | ".join(k[:4] for k in RAVDESS_LABELS) + " |")
        print("|---|" + "---|" * len(RAVDESS_LABELS))
        for label, row in zip(RAVDESS_LABELS, cv[name]["confusion_8"]):
            print(f"| {label} | " + " | ".join(str(v) for v in row) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding ravdess-speech-16k/")
    parser.add_argument("--models", default="base,tiny.en", help="Whisper models to score, comma-separated")
    parser.add_argument("--skip-asr", action="store_true")
    parser.add_argument("--skip-emotion", action="store_true")
    parser.add_argument("--folds", type=int, default=6)
    args = parser.parse_args(argv)
    if not args.skip_emotion:
        from pipelines.training.voice import cross_validate
        from pipelines.training.voice_data import load_corpus

        corpus = load_corpus(args.data)
        print_emotion(cross_validate(corpus, n_folds=args.folds)[0])
    if not args.skip_asr:
        print_asr(asr_table([m.strip() for m in args.models.split(",") if m.strip()]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
