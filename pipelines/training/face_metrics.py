"""FER2013 scores of the face expression models: accuracy, per-class recall, confusion matrix.

Used by the trainer (pipelines/training/face.py, after training) and by the benchmark
(`python -m companion eval face`, benchmarks/eval_face.py), which prints them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def metrics(probs: np.ndarray, labels: np.ndarray, classes: int = 7) -> dict:
    pred = probs.argmax(1)
    confusion = np.zeros((classes, classes), np.int64)
    np.add.at(confusion, (labels, pred), 1)
    recall = confusion.diagonal() / np.maximum(confusion.sum(1), 1)
    return {
        "accuracy": float((pred == labels).mean()),
        "macro_recall": float(recall.mean()),
        "recall": [round(float(r), 4) for r in recall],
        "confusion": confusion.tolist(),
    }


def score_models(
    images: np.ndarray, labels: np.ndarray, weights_dir: Path | None = None, flips: tuple[bool, ...] = (False, True)
) -> dict:
    """{model name (+flip): metrics} for every model of pipelines.face.MODELS whose weights exist."""
    from pipelines.face import MODELS, load_model
    from pipelines.face_models import load_fernet, predict_probs
    from pipelines.loading import MissingModel, torch_threads

    torch_threads()
    probs: dict[tuple[str, bool], np.ndarray] = {}
    scores = {}
    for flip in flips:
        for name, parts in MODELS.items():
            try:
                for part in parts:
                    if (part, flip) not in probs:
                        model = (
                            load_fernet(weights_dir / part)
                            if weights_dir and part != "mini_xception"
                            else load_model(part)
                        )
                        probs[part, flip] = predict_probs(model, images, flip=flip)
            except (MissingModel, FileNotFoundError) as exc:
                print(f"({name} skipped: {exc})", file=sys.stderr)
                continue
            mean = np.mean([probs[part, flip] for part in parts], axis=0)
            scores[name + (" +flip" if flip else "")] = metrics(mean, labels)
    return scores
