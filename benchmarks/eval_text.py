"""Evaluate the text emotion analyzer end to end: `python -m companion eval text`.

Prints GoEmotions test macro-F1 (multi-label protocol and argmax), per-class F1 and the
confusion matrix; EmoBank dev Pearson r for valence and arousal; calibration (ECE before and
after temperature scaling); F1 per class on the held-out (test split, by conversation) user turns
of EmpatheticDialogues and ESConv; the everyday valence table (benchmarks/data/valence_table.jsonl:
dismissals such as "I'm fine, it's whatever" must read slightly negative, never joy); plain held-out
statements (benchmarks/data/statements_eval.jsonl: "I teach maths" is no fear); latency per
single sentence (all three heads, one pass) and sentences/s batched.
Runs the shipped analyzer exactly as the app does (same preprocessing, windows, float32).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from companion.types import EMOTIONS


def parse_args(argv):
    from pipelines.training.text_data import DEFAULT_DATA

    p = argparse.ArgumentParser(prog="python -m companion eval text", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with goemotions/ and emobank/")
    p.add_argument("--weights", type=Path, default=None, help="heads folder (default: the shipped ones)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default COMPANION_TORCH_THREADS or cores)")
    p.add_argument("--limit", type=int, default=None, help="score only the first N rows of each set")
    p.add_argument("--latency-sentences", type=int, default=200, help="sentences timed one by one")
    p.add_argument("--batch-sentences", type=int, default=2000, help="sentences timed as one batch")
    return p.parse_args(argv)


def probs_matrix(estimates) -> np.ndarray:
    return np.array([[e.probs[k] for k in EMOTIONS] for e in estimates])


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def speed(analyzer, texts: list[str], n_single: int, n_batch: int) -> dict:
    for text in texts[:10]:
        analyzer.analyze(text)  # warm-up: first calls allocate
    timings = []
    for text in texts[:n_single]:
        start = time.perf_counter()
        analyzer.analyze(text)
        timings.append((time.perf_counter() - start) * 1000)
    batch = (texts * (n_batch // max(1, len(texts)) + 1))[:n_batch]
    start = time.perf_counter()
    analyzer.analyze_batch(batch)
    elapsed = time.perf_counter() - start
    return {
        "single_ms_median": statistics.median(timings),
        "single_ms_mean": statistics.fmean(timings),
        "single_ms_p95": float(np.percentile(timings, 95)),
        "batch_sentences_per_s": len(batch) / elapsed,
        "n_single": len(timings),
        "n_batch": len(batch),
    }


def main(argv: list[str] | None = None) -> int:
    import torch

    from pipelines.text import TextEmotionAnalyzer
    from pipelines.training import text_metrics as tm
    from pipelines.training.text_data import emobank, goemotions

    args = parse_args(argv)
    analyzer = TextEmotionAnalyzer(weights_dir=args.weights, threads=args.threads)
    test, eb = goemotions(args.data, "test"), emobank(args.data, "dev")
    texts, gold = test.texts[: args.limit], test.gold[: args.limit]
    probs = probs_matrix(analyzer.analyze_batch(texts))
    scores = tm.goemotions_scores(probs, gold, analyzer.config["thresholds"])
    raw = np.exp(analyzer.temperature * np.log(np.clip(probs, 1e-30, None)))  # undo the temperature
    raw /= raw.sum(1, keepdims=True)
    ece_before, ece_after = tm.expected_calibration_error(raw, gold), tm.expected_calibration_error(probs, gold)
    eb_est = analyzer.analyze_batch(eb.texts[: args.limit])
    affect = tm.affect_scores(np.array([[e.valence, e.arousal] for e in eb_est]), eb.affect[: args.limit])
    timing = speed(
        analyzer, test.texts[: max(args.latency_sentences, 10)], args.latency_sentences, args.batch_sentences
    )

    print(f"# Text emotion analyzer: {analyzer.source} (torch threads {torch.get_num_threads()})\n")
    print(
        table(
            ["metric", "value"],
            [
                ["GoEmotions-Ekman test macro-F1, multi-label protocol", f"{scores['macro_f1_multilabel']:.3f}"],
                ["GoEmotions-Ekman test macro-F1, argmax (single-label rows)", f"{scores['macro_f1_argmax']:.3f}"],
                ["GoEmotions-Ekman test accuracy, argmax (single-label rows)", f"{scores['accuracy_argmax']:.3f}"],
                ["top label is a gold label (all rows)", f"{scores['top1_in_gold']:.3f}"],
                ["EmoBank dev Pearson r, valence", f"{affect['valence_r']:.3f}"],
                ["EmoBank dev Pearson r, arousal", f"{affect['arousal_r']:.3f}"],
                [
                    f"ECE test, before -> after temperature {analyzer.temperature:.2f}",
                    f"{ece_before:.3f} -> {ece_after:.3f}",
                ],
                [
                    "ms per sentence, single (median / p95)",
                    f"{timing['single_ms_median']:.1f} / {timing['single_ms_p95']:.1f}",
                ],
                ["sentences/s, batched", f"{timing['batch_sentences_per_s']:.0f}"],
            ],
        )
    )
    print(f"\nGoEmotions test: {scores['rows']} rows, {scores['single_label_rows']} with one Ekman label.\n")
    print(
        table(
            ["class", "F1 multi-label", "F1 argmax", "threshold"],
            [
                [c, f"{scores['f1_multilabel'][c]:.3f}", f"{scores['f1_argmax'][c]:.3f}", f"{t:.3f}"]
                for c, t in zip(EMOTIONS, analyzer.config["thresholds"])
            ],
        )
    )
    print("\nConfusion matrix (single-label rows; rows = gold, columns = predicted):\n")
    print(
        table(
            ["gold \\ pred", *EMOTIONS],
            [[c, *map(str, row)] for c, row in zip(EMOTIONS, scores["confusion_single_label_rows"])],
        )
    )
    dialogue_table(analyzer, args.data, args.limit)
    valence_table(analyzer)
    statements_table(analyzer)
    return 0


def dialogue_table(analyzer, data: Path, limit: int | None) -> None:
    """Per-class F1 on the ED/ESConv test-split user turns (labels mapped as in training)."""
    from pipelines.training.text_dialogue import dialogue_emotion

    try:
        rows = dialogue_emotion(data, "test")
    except FileNotFoundError as exc:
        print(f"\nED/ESConv test split: skipped ({exc})")
        return
    texts, gold = rows.texts[:limit], rows.target[:limit]
    pred = probs_matrix(analyzer.analyze_batch(texts)).argmax(1)
    counts = np.bincount(gold, minlength=len(EMOTIONS))
    f1 = []
    for k in range(len(EMOTIONS)):
        tp = int(((pred == k) & (gold == k)).sum())
        f1.append(2 * tp / max(1, int((pred == k).sum()) + int(counts[k])))
    weighted = float(np.dot(f1, counts) / counts.sum())
    kinds = {k: rows.kinds[:limit].count(k) for k in dict.fromkeys(rows.kinds[:limit])}
    print(
        f"\nHeld-out user turns (ED + ESConv test split, by conversation; {kinds}): "
        f"weighted-F1 {weighted:.3f}, accuracy {(pred == gold).mean():.3f}\n"
    )
    print(table(["class", "turns", "F1"], [[c, str(int(n)), f"{v:.3f}"] for c, n, v in zip(EMOTIONS, counts, f1) if n]))


def valence_table(analyzer) -> None:
    import json

    path = Path(__file__).resolve().parent / "data" / "valence_table.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    ests = analyzer.analyze_batch([r["text"] for r in rows])
    right = [
        e.valence * r["direction"] > 0 and (r["kind"] != "masking" or max(e.probs, key=e.probs.get) != "joy")
        for r, e in zip(rows, ests)
    ]
    print(
        f"\nEveryday valence table: {sum(right)}/{len(rows)} in the expected direction "
        "(dismissals: negative and not joy)\n"
    )
    print(
        table(
            ["phrase", "kind", "valence", "label", "confidence", "ok"],
            [
                [
                    r["text"],
                    r["kind"],
                    f"{e.valence:+.2f}",
                    max(e.probs, key=e.probs.get),
                    f"{e.confidence:.2f}",
                    "yes" if ok else "NO",
                ]
                for r, e, ok in zip(rows, ests, right)
            ],
        )
    )


def statements_table(analyzer) -> None:
    """Plain statements ("I teach maths at a secondary school.") must not read as a negative feeling:
    the reply would be sympathy for a job. benchmarks/data/statements_eval.jsonl was written apart
    from the training statements (other names, jobs, wordings) and is never trained on."""
    import json

    path = Path(__file__).resolve().parent / "data" / "statements_eval.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    ests = analyzer.analyze_batch([r["text"] for r in rows])
    negative = {"sadness", "anger", "fear", "disgust"}
    right = [e.label not in negative and e.valence > -0.1 for e in ests]
    print(f"\nPlain statements (held out): {sum(right)}/{len(rows)} read as neutral or joy with valence > -0.1\n")
    print(
        table(
            ["statement", "label", "confidence", "valence", "ok"],
            [
                [r["text"], e.label, f"{e.confidence:.2f}", f"{e.valence:+.2f}", "yes" if ok else "NO"]
                for r, e, ok in zip(rows, ests, right)
            ],
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
