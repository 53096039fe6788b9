"""Fusion of per-modality estimates into a MoodState (first version; see issue 6).

Contract used by companion.core:
  fuse(estimates, *, previous=None, now=None, calibration=None, settings=None) -> MoodState
  Calibration: frozen, .to_dict() / Calibration.from_dict(d) / Calibration.default()
  learn(calibration, estimates, label, settings=None) -> Calibration      (user feedback)
  observe(calibration, estimates) -> Calibration                          (running baselines)
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from companion.types import EMOTIONS, EmotionEstimate, MoodState, circumplex_position


@dataclass(frozen=True)
class Calibration:
    weights: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def default(cls) -> "Calibration":
        return cls()

    def to_dict(self) -> dict[str, Any]:
        return {"weights": dict(self.weights)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Calibration":
        return cls(weights=dict((data or {}).get("weights", {})))


def fuse(estimates: Sequence[EmotionEstimate], *, previous: MoodState | None = None,
         now: float | None = None, calibration: Calibration | None = None, settings: Any = None) -> MoodState:
    now = time.time() if now is None else now
    if not estimates:
        return MoodState.unknown(now)
    log_p = {k: 0.0 for k in EMOTIONS}
    total_w = 0.0
    contributions: dict[str, float] = {}
    for est in estimates:
        w = est.confidence * (calibration.weights.get(est.modality, 1.0) if calibration else 1.0)
        contributions[est.modality] = contributions.get(est.modality, 0.0) + w
        total_w += w
        for k in EMOTIONS:
            log_p[k] += w * math.log(max(est.probs[k], 1e-6))
    if total_w <= 0:
        return MoodState.unknown(now)
    m = max(log_p.values())
    raw = {k: math.exp((v - m) / total_w) for k, v in log_p.items()}
    z = sum(raw.values())
    probs = {k: v / z for k, v in raw.items()}
    valence, arousal = circumplex_position(probs)
    return MoodState(probs=probs, valence=valence, arousal=arousal,
                     confidence=min(1.0, total_w / len(estimates)),
                     contributions={k: v / total_w for k, v in contributions.items()}, at=now)


def learn(calibration: Calibration, estimates: Sequence[EmotionEstimate], label: str,
          settings: Any = None) -> Calibration:
    return calibration


def observe(calibration: Calibration, estimates: Sequence[EmotionEstimate]) -> Calibration:
    return calibration
