"""Scores for the text heads, shared by training and `python -m companion eval text`.

Two macro-F1 protocols on GoEmotions (Ekman + neutral):
- multi-label (Demszky et al. 2020, whose fine-tuned BERT-base reaches 0.64): a row's
  predicted set is the argmax plus every class whose probability passes that class's
  threshold (tuned on dev); per-class F1 over sets, macro-averaged over the 7 classes;
- argmax: the single label the analyzer reports, scored on the rows with one gold label.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from companion.types import EMOTIONS

N = len(EMOTIONS)


def gold_matrix(gold: Sequence[frozenset[int]]) -> np.ndarray:
    out = np.zeros((len(gold), N), bool)
    for i, labels in enumerate(gold):
        out[i, list(labels)] = True
    return out


def predicted_sets(probs: np.ndarray, thresholds: Sequence[float] | None) -> np.ndarray:
    pred = np.zeros(probs.shape, bool)
    pred[np.arange(len(probs)), probs.argmax(1)] = True
    if thresholds is not None:
        pred |= probs >= np.asarray(thresholds)[None, :]
    return pred


def f1_per_class(pred: np.ndarray, gold: np.ndarray) -> np.ndarray:
    tp = (pred & gold).sum(0)
    denominator = pred.sum(0) + gold.sum(0)
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def tune_thresholds(probs: np.ndarray, gold: Sequence[frozenset[int]]) -> list[float]:
    """Per-class probability threshold that maximises that class's dev F1 (argmax always counts)."""
    g = gold_matrix(gold)
    top = np.zeros(probs.shape, bool)
    top[np.arange(len(probs)), probs.argmax(1)] = True
    grid = np.round(np.arange(0.05, 1.0, 0.025), 3)
    best = []
    for c in range(N):
        scores = [f1_per_class((top[:, c] | (probs[:, c] >= t))[:, None], g[:, c : c + 1])[0] for t in grid]
        best.append(float(grid[int(np.argmax(scores))]))
    return best


def goemotions_scores(probs: np.ndarray, gold: Sequence[frozenset[int]], thresholds: Sequence[float] | None) -> dict:
    g = gold_matrix(gold)
    multi = f1_per_class(predicted_sets(probs, thresholds), g)
    single = g.sum(1) == 1
    truth, guess = g[single].argmax(1), probs[single].argmax(1)
    onehot = np.zeros((single.sum(), N), bool)
    onehot[np.arange(len(guess)), guess] = True
    arg = f1_per_class(onehot, g[single])
    confusion = np.zeros((N, N), int)
    np.add.at(confusion, (truth, guess), 1)
    hit = g[np.arange(len(probs)), probs.argmax(1)]
    return {
        "macro_f1_multilabel": float(multi.mean()),
        "macro_f1_argmax": float(arg.mean()),
        "accuracy_argmax": float((truth == guess).mean()),
        "top1_in_gold": float(hit.mean()),
        "f1_multilabel": dict(zip(EMOTIONS, map(float, multi))),
        "f1_argmax": dict(zip(EMOTIONS, map(float, arg))),
        "confusion_single_label_rows": confusion.tolist(),
        "rows": int(len(probs)),
        "single_label_rows": int(single.sum()),
    }


def gold_nll(probs: np.ndarray, gold: Sequence[frozenset[int]]) -> float:
    """Mean -log P(the top label is a gold one): the likelihood the confidence should track."""
    mass = (probs * gold_matrix(gold)).sum(1)
    return float(-np.log(np.clip(mass, 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, gold: Sequence[frozenset[int]]) -> float:
    from pipelines.text import softmax

    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 241))
    losses = [gold_nll(softmax(logits, t), gold) for t in grid]
    return float(grid[int(np.argmin(losses))])


def expected_calibration_error(probs: np.ndarray, gold: Sequence[frozenset[int]], bins: int = 15) -> float:
    """ECE of the max probability against 'the argmax is one of the row's gold labels'."""
    confidence = probs.max(1)
    correct = gold_matrix(gold)[np.arange(len(probs)), probs.argmax(1)]
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.asarray(a, np.float64), np.asarray(b, np.float64))[0, 1])


def affect_scores(pred: np.ndarray, truth: np.ndarray) -> dict:
    return {
        "valence_r": pearson(pred[:, 0], truth[:, 0]),
        "arousal_r": pearson(pred[:, 1], truth[:, 1]),
        "valence_mae": float(np.abs(pred[:, 0] - truth[:, 0]).mean()),
        "arousal_mae": float(np.abs(pred[:, 1] - truth[:, 1]).mean()),
    }


def calibrate(dev_logits: np.ndarray, dev_gold, test_logits: np.ndarray, test_gold) -> dict:
    """Temperature and multi-label thresholds fitted on GoEmotions dev, and the scores they give:
    the metrics.json keys temperature, thresholds, ece, goemotions_test and goemotions_dev."""
    from pipelines.text import softmax

    temperature = fit_temperature(dev_logits, dev_gold)
    thresholds = tune_thresholds(softmax(dev_logits, temperature), dev_gold)
    splits = (("dev", dev_logits, dev_gold), ("test", test_logits, test_gold))
    return {
        "temperature": temperature,
        "thresholds": dict(zip(EMOTIONS, thresholds)),
        "ece": {
            split: {
                "before": expected_calibration_error(softmax(lg, 1.0), gold),
                "after": expected_calibration_error(softmax(lg, temperature), gold),
            }
            for split, lg, gold in splits
        },
        "goemotions_test": goemotions_scores(softmax(test_logits, temperature), test_gold, thresholds),
        "goemotions_dev": goemotions_scores(softmax(dev_logits, temperature), dev_gold, thresholds),
    }
