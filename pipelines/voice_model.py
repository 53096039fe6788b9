"""The voice emotion head as plain arrays (one .npz, no pickle), run with numpy, and the
per-user baseline that normalises a speaker's features against their own voice.

Two linear heads share one feature vector (pipelines.voice_features):
- "global": features standardised with population statistics; used for a new user;
- "speaker": features minus the *speaker's own* running mean, then standardised; trained on
  RAVDESS with every actor centred on the mean of their own clips (no labels used), so at run
  time it needs the user's baseline (update_baseline) and it is much more accurate
  (docs/voice.md: 8-class accuracy by number of turns in the baseline).
With n turns in the baseline the two heads' probabilities are mixed with weight n / (n + k) on
the speaker head, and the speaker mean is shrunk towards the population mean by the same
weight, so one odd first turn cannot swing the estimate.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from companion.errors import CompanionError, InvalidInput

RAVDESS_LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
# RAVDESS -> companion EMOTIONS; calm is neutral with low arousal.
TO_EMOTION = {
    "neutral": "neutral",
    "calm": "neutral",
    "happy": "joy",
    "sad": "sadness",
    "angry": "anger",
    "fearful": "fear",
    "disgust": "disgust",
    "surprised": "surprise",
}
BASELINE_VERSION = 1


class BaselineError(CompanionError, ValueError):
    """A per-user voice baseline that is not what update_baseline produces."""


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class LinearHead:
    """Standardiser + multinomial logistic regression + (valence, arousal) ridge regression."""

    mean: np.ndarray
    scale: np.ndarray
    W: np.ndarray  # (classes, d)
    b: np.ndarray  # (classes,)
    va_W: np.ndarray  # (2, d)
    va_b: np.ndarray  # (2,)
    temperature: float = 1.0  # fitted on held-out (cross-validation) predictions: calibrated probabilities

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.W.T + self.b

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = (x - self.mean) / self.scale
        return _softmax((z @ self.W.T + self.b) / self.temperature), np.clip(z @ self.va_W.T + self.va_b, -1.0, 1.0)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}_{k}": getattr(self, k) for k in ("mean", "scale", "W", "b", "va_W", "va_b")}
        out[f"{prefix}_temperature"] = np.array(self.temperature)
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str) -> "LinearHead":
        values = {
            k: np.asarray(arrays[f"{prefix}_{k}"], np.float64) for k in ("mean", "scale", "W", "b", "va_W", "va_b")
        }
        temperature = float(arrays[f"{prefix}_temperature"]) if f"{prefix}_temperature" in arrays else 1.0
        return cls(**values, temperature=temperature)


@dataclass(frozen=True)
class VoiceModel:
    names: tuple[str, ...]  # feature names, in the order the heads expect
    pop_mean: np.ndarray  # population mean/std of the raw features (RAVDESS, 24 actors)
    pop_std: np.ndarray
    global_head: LinearHead
    speaker_head: LinearHead
    shrink_k: float  # baseline turns at which the speaker head gets half the weight
    meta: dict[str, Any]  # "encoder": Whisper model whose embedding is used, or absent
    proj_mean: np.ndarray | None = None  # PCA of the Whisper embedding: emb = (e - mean) @ W.T
    proj_W: np.ndarray | None = None

    def named(self, features: Mapping[str, float], embedding: np.ndarray | None = None) -> dict[str, float]:
        """Acoustic features plus the embedding's principal components (emb0, emb1, ...): the
        model's input, and what the user's baseline keeps a running mean of."""
        out = dict(features)
        if self.proj_W is not None:
            if embedding is None:
                raise InvalidInput("this voice model needs the Whisper embedding of the clip")
            comps = (np.asarray(embedding, np.float64) - self.proj_mean) @ self.proj_W.T
            out.update({f"emb{i}": float(v) for i, v in enumerate(comps)})
        return out

    def predict(self, x: np.ndarray, baseline: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """x: (n, d) raw features. Returns probs (n, 8), (valence, arousal) (n, 2) and the weight
        the speaker head carried (0 without a baseline)."""
        x = np.atleast_2d(np.asarray(x, np.float64))
        probs, va = self.global_head(x)
        n = baseline_turns(baseline)
        if n == 0:
            return probs, va, 0.0
        weight = n / (n + self.shrink_k)
        stored = baseline["mean"]  # a feature the baseline lacks (older version) stays at the population mean
        user_mean = np.array([float(stored.get(name, m)) for name, m in zip(self.names, self.pop_mean)])
        centre = weight * user_mean + (1.0 - weight) * self.pop_mean
        p_speaker, va_speaker = self.speaker_head(x - centre)
        return (weight * p_speaker + (1 - weight) * probs, weight * va_speaker + (1 - weight) * va, weight)

    def save(self, path: Path) -> None:
        extra = (
            {}
            if self.proj_W is None
            else {"proj_mean": self.proj_mean.astype(np.float32), "proj_W": self.proj_W.astype(np.float32)}
        )
        np.savez_compressed(
            path,
            names=np.array(self.names),
            pop_mean=self.pop_mean,
            pop_std=self.pop_std,
            **extra,
            shrink_k=np.array(self.shrink_k),
            meta=np.array(json.dumps(self.meta)),
            **self.global_head.arrays("global"),
            **self.speaker_head.arrays("speaker"),
        )

    @classmethod
    def load(cls, path: Path) -> "VoiceModel":
        with np.load(path, allow_pickle=False) as arrays:
            return cls(
                names=tuple(str(n) for n in arrays["names"]),
                pop_mean=arrays["pop_mean"].astype(np.float64),
                pop_std=arrays["pop_std"].astype(np.float64),
                global_head=LinearHead.from_arrays(arrays, "global"),
                speaker_head=LinearHead.from_arrays(arrays, "speaker"),
                shrink_k=float(arrays["shrink_k"]),
                meta=json.loads(str(arrays["meta"])),
                proj_mean=arrays["proj_mean"].astype(np.float64) if "proj_mean" in arrays else None,
                proj_W=arrays["proj_W"].astype(np.float64) if "proj_W" in arrays else None,
            )


# ---------------------------------------------------------------------------------------------
# Per-user baseline: a JSON-serialisable running mean and variance of each feature.


def update_baseline(baseline: dict | None, features: Mapping[str, float], *, alpha: float = 0.1) -> dict:
    """Fold one turn's features (EmotionEstimate.details["features"]) into a user's baseline.

    Pure: returns a new dict {"version", "n", "mean": {name: float}, "var": {name: float}}.
    The first turns are averaged exactly (weight 1/n); from 1/alpha turns on it is an
    exponential moving average, so the baseline follows a user whose microphone or mood of
    the week changes, with a memory of about 1/alpha turns. Non-finite values are skipped.
    """
    if not 0.0 < alpha <= 1.0:
        raise BaselineError(f"alpha must be in (0, 1], got {alpha!r}")
    clean = {
        str(k): float(v)
        for k, v in features.items()
        if isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(float(v))
    }
    if baseline is None or baseline_turns(baseline) == 0:
        return {"version": BASELINE_VERSION, "n": 1, "mean": dict(clean), "var": {k: 0.0 for k in clean}}
    n = baseline_turns(baseline) + 1
    rate = max(alpha, 1.0 / n)
    mean, var = dict(baseline["mean"]), dict(baseline["var"])
    for name, value in clean.items():
        if name not in mean:
            mean[name], var[name] = value, 0.0
            continue
        delta = value - mean[name]
        mean[name] = mean[name] + rate * delta
        var[name] = (1.0 - rate) * (var[name] + rate * delta * delta)
    return {"version": BASELINE_VERSION, "n": n, "mean": mean, "var": var}


def baseline_turns(baseline: Mapping[str, Any] | None) -> int:
    """Number of turns in a baseline (0 for None); raises BaselineError for a malformed one."""
    if baseline is None:
        return 0
    if (
        not isinstance(baseline, Mapping)
        or not isinstance(baseline.get("mean"), Mapping)
        or not isinstance(baseline.get("var"), Mapping)
    ):
        raise BaselineError(
            "a voice baseline is the dict that pipelines.voice.update_baseline returns "
            "({'n', 'mean', 'var'}); pass None for a new user"
        )
    try:
        return max(0, int(baseline.get("n", 0)))
    except (TypeError, ValueError):
        raise BaselineError(f"baseline 'n' must be an integer, got {baseline.get('n')!r}") from None
