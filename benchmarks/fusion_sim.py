"""Scenarios and a synthetic-user simulation for the fusion evaluation (benchmarks/eval_fusion.py)
and tests/test_fusion*.py.

Simulated analyzers: a channel "reads" the true emotion with its accuracy, otherwise a class near
it on the circumplex; its output is a noisy softmax peaked on that reading, sharper when the reading
is right (so confidence carries information, as it does for real models). Personal biases replace
the reading for some users (a resting face that reads sad, a loud voice that reads angry, words
that say "fine" when they are not). Everything is seeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from companion.calibration import DEFAULT_PRIOR
from companion.config import FusionSettings
from companion.fusion import Calibration, fuse, learn, observe, reliability_from_accuracy
from companion.types import CIRCUMPLEX, EMOTIONS, MODALITIES, EmotionEstimate, MoodState, circumplex_position, normalize

NOW = 1_000_000.0
ACCURACY = {"text": 0.62, "voice": 0.45, "face": 0.55}  # generic analyzers, population level
PRESENT = {"text": 0.9, "voice": 0.6, "face": 0.8}  # chance a channel has a reading in a turn
TURN_S = 300.0  # turns five minutes apart


class Overlay(FusionSettings):
    """FusionSettings with some fields replaced (validated like any FusionSettings); `but` replaces more."""

    def __init__(self, base: FusionSettings | None = None, **changes: Any) -> None:
        super().__init__(**{**(base if base is not None else FusionSettings()).model_dump(), **changes})

    def but(self, **changes: Any) -> "Overlay":
        return Overlay(self, **changes)


def estimate(
    modality: str, probs: Mapping[str, float], confidence: float | None = None, at: float = NOW, source: str = "sim"
) -> EmotionEstimate:
    p = normalize(probs)
    v, a = circumplex_position(p)
    conf = max(p.values()) if confidence is None else confidence
    return EmotionEstimate(modality, p, v, a, conf, source, at=at)


# ------------------------------------------------------------------------------ scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    estimates: Sequence[EmotionEstimate | None]
    expect_label: str
    expect_incongruent: bool
    expect_disagreeing: tuple[str, ...] = ()
    previous: MoodState | None = None
    calibration: Calibration | None = None
    check: Callable[[MoodState], bool] | None = None  # extra condition, described in `note`
    note: str = ""


def _resting_sad_face_calibration() -> Calibration:
    cal = Calibration.default()
    for i in range(60):
        at = NOW - 86400 + i * 600
        cal = observe(
            cal,
            [
                estimate("face", {"sadness": 0.45, "neutral": 0.45, "joy": 0.1}, at=at),
                estimate("text", {"neutral": 0.6, "joy": 0.25, "sadness": 0.15}, at=at),
                estimate("voice", {"neutral": 0.55, "joy": 0.2, "sadness": 0.15, "anger": 0.1}, at=at),
            ],
        )
    return cal


def scenarios() -> list[Scenario]:
    sad = {"sadness": 0.75, "neutral": 0.15, "fear": 0.1}
    fine = {"neutral": 0.7, "joy": 0.25, "sadness": 0.05}
    face_tilt = {"sadness": 0.55, "neutral": 0.45}
    burst = [estimate("face", sad, 0.8, at=NOW - i) for i in range(30)]
    return [
        Scenario(
            "congruent sad",
            [estimate("text", sad, 0.7), estimate("voice", sad, 0.6), estimate("face", sad, 0.8)],
            "sadness",
            False,
            check=lambda m: m.confidence > 0.9,
            note="agreeing channels: confidence > 0.9",
        ),
        Scenario(
            "congruent joy",
            [estimate("text", {"joy": 0.8, "surprise": 0.2}, 0.8), estimate("face", {"joy": 0.7, "neutral": 0.3}, 0.7)],
            "joy",
            False,
        ),
        Scenario(
            "incongruent: says fine, looks and sounds sad",
            [estimate("text", fine, 0.7), estimate("voice", sad, 0.7), estimate("face", sad, 0.8)],
            "sadness",
            True,
            ("text", "voice", "face"),
        ),
        Scenario(
            "incongruent: 'great, just great' said angrily",
            [
                estimate("text", {"joy": 0.85, "surprise": 0.15}, 0.85),
                estimate("voice", {"anger": 0.75, "disgust": 0.15, "neutral": 0.1}, 0.75),
            ],
            "joy",
            True,
            ("text", "voice"),
            note="label follows the more reliable channel",
        ),
        Scenario(
            "neutral words, smiling face",
            [estimate("text", fine, 0.7), estimate("face", {"joy": 0.8, "neutral": 0.2}, 0.8)],
            "joy",
            False,
            note="both non-negative: no clash",
        ),
        Scenario(
            "fear vs anger (same side)",
            [
                estimate("text", {"fear": 0.8, "sadness": 0.2}, 0.8),
                estimate("voice", {"anger": 0.8, "disgust": 0.2}, 0.8),
            ],
            "fear",
            False,
        ),
        Scenario(
            "unsure disagreement",
            [estimate("text", fine, 0.3), estimate("face", sad, 0.35)],
            "neutral",
            False,
            check=lambda m: m.confidence < 0.5,
            note="low confidence: no clash",
        ),
        Scenario(
            "missing: text only",
            [estimate("text", sad, 0.7), None, None],
            "sadness",
            False,
            check=lambda m: dict(m.contributions) == {"text": 1.0} and abs(m.confidence - 0.7) < 1e-9,
            note="passes through: contributions {text: 1}, confidence 0.7",
        ),
        Scenario("missing: face only", [None, estimate("face", fine, 0.6)], "neutral", False),
        Scenario("missing: nothing", [None, None], "unknown", False, check=lambda m: not m.known),
        Scenario(
            "stale face frame (5 min) vs fresh text",
            [estimate("text", fine, 0.6), estimate("face", sad, 0.9, at=NOW - 300)],
            "neutral",
            False,
            check=lambda m: m.contributions.get("face", 0) < 0.02,
            note="face share < 2%",
        ),
        Scenario(
            "stale frame alone (10 min)",
            [estimate("face", sad, 0.9, at=NOW - 600)],
            "unknown",
            False,
            check=lambda m: not m.known,
        ),
        Scenario(
            "previous mood carries (20 s ago)",
            [],
            "sadness",
            False,
            previous=MoodState(sad, -0.7, -0.4, 0.8, {"face": 1.0}, at=NOW - 20),
            check=lambda m: 0.5 < m.confidence < 0.8,
            note="decayed confidence",
        ),
        Scenario(
            "previous mood (5 min ago) vs new text",
            [estimate("text", {"joy": 0.7, "neutral": 0.3}, 0.7)],
            "joy",
            False,
            previous=MoodState(sad, -0.7, -0.4, 0.9, {"face": 1.0}, at=NOW - 300),
        ),
        Scenario(
            "webcam burst: 30 sad frames vs one joyful sentence",
            burst + [estimate("text", {"joy": 0.8, "neutral": 0.2}, 0.8)],
            "joy",
            True,
            ("text", "face"),
            check=lambda m: m.contributions["face"] < 0.5,
            note="frames don't outvote: face share < 50%",
        ),
        Scenario("resting-sad face, uncalibrated", [estimate("face", face_tilt, 0.55)], "sadness", False),
        Scenario(
            "resting-sad face, calibrated",
            [estimate("face", face_tilt, 0.55)],
            "neutral",
            False,
            calibration=_resting_sad_face_calibration(),
            note="baseline tilt divided out",
        ),
    ]


# ------------------------------------------------------------------------------ simulation

USER_KINDS = ("unbiased", "often sad (unbiased)", "resting-sad face", "loud voice", "flat writer", "hard-to-read face")


def _neighbours() -> np.ndarray:
    """P(read j | true k) for a wrong reading: nearby classes on the circumplex are likelier."""
    pos = np.array([CIRCUMPLEX[k] for k in EMOTIONS])
    dist = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    table = np.exp(-dist / 0.5)
    np.fill_diagonal(table, 0.0)
    return table / table.sum(axis=1, keepdims=True)


_NEIGHBOURS = _neighbours()
_PRIOR = np.array([DEFAULT_PRIOR[k] for k in EMOTIONS])


@dataclass
class Turn:
    truth: int
    estimates: list[EmotionEstimate] = field(default_factory=list)
    at: float = 0.0


# A personal bias is an offset on one class's logit for every reading of one channel: the
# channel still carries what it saw, tilted. (A bias that replaced readings would destroy the
# information, and no calibration could bring it back; measure_headroom in eval shows the gap.)
BIAS = {  # user kind -> (channel, class, logit offset)
    "resting-sad face": ("face", "sadness", 2.0),  # face reads sad ~40% of turns
    "loud voice": ("voice", "anger", 2.0),  # voice reads angry ~40% of turns
    "flat writer": ("text", "neutral", 1.5),  # words read neutral ~50% of turns
}


# A channel that reads this user worse than the population (a beard, a dim room, a monotone voice):
# bias correction cannot help, only a lower reliability weight can.
POOR = {"hard-to-read face": ("face", 0.2)}  # user kind -> (channel, accuracy for this user)


def _read(rng: np.random.Generator, modality: str, truth: int, kind: str = "unbiased") -> int:
    accuracy = POOR[kind][1] if kind in POOR and POOR[kind][0] == modality else ACCURACY[modality]
    if rng.random() < accuracy:
        return truth
    return int(rng.choice(len(EMOTIONS), p=_NEIGHBOURS[truth]))


def _output(rng: np.random.Generator, read: int, right: bool, kind: str = "unbiased", modality: str = "") -> np.ndarray:
    logits = rng.normal(0.0, 0.7, len(EMOTIONS))
    logits[read] += rng.uniform(2.0, 4.0) if right else rng.uniform(1.0, 3.0)
    if kind in BIAS and BIAS[kind][0] == modality:
        logits[EMOTIONS.index(BIAS[kind][1])] += BIAS[kind][2]
    p = np.exp(logits - logits.max())
    return p / p.sum()


def simulate_user(kind: str, seed: int, turns: int) -> list[Turn]:
    rng = np.random.default_rng(seed)
    prior = _PRIOR.copy()
    if kind == "often sad (unbiased)":
        prior[EMOTIONS.index("sadness")] = 0.35
        prior /= prior.sum()
    truth = int(rng.choice(len(EMOTIONS), p=prior))
    out = []
    for t in range(turns):
        if t and rng.random() > 0.6:  # moods persist: 60% of turns keep the last one
            truth = int(rng.choice(len(EMOTIONS), p=prior))
        at = NOW + t * TURN_S
        turn = Turn(truth, at=at)
        present = [m for m in MODALITIES if rng.random() < PRESENT[m]] or ["text"]
        for m in present:
            read = _read(rng, m, truth, kind)
            p = _output(rng, read, read == truth, kind, m)
            turn.estimates.append(estimate(m, dict(zip(EMOTIONS, p.tolist())), at=at))
        out.append(turn)
    return out


def measure_population(samples: int = 4000, seed: int = 0) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Held-out accuracy and mean output per channel over unbiased users: what the shipped
    defaults (reliability weights, population priors) are derived from."""
    rng = np.random.default_rng(seed)
    correct = {m: 0 for m in MODALITIES}
    mean = {m: np.zeros(len(EMOTIONS)) for m in MODALITIES}
    for _ in range(samples):
        truth = int(rng.choice(len(EMOTIONS), p=_PRIOR))
        for m in MODALITIES:
            read = _read(rng, m, truth)
            p = _output(rng, read, read == truth)
            correct[m] += int(np.argmax(p) == truth)
            mean[m] += p
    accuracy = {m: correct[m] / samples for m in MODALITIES}
    priors = {m: dict(zip(EMOTIONS, (mean[m] / samples).tolist())) for m in MODALITIES}
    return accuracy, priors


def default_sim_settings(accuracy: Mapping[str, float], priors: Mapping[str, Mapping[str, float]]) -> Overlay:
    weights = {m: round(reliability_from_accuracy(a), 3) for m, a in accuracy.items()}
    # learning_rate 0.03 is the recommended FusionSettings default (0.1 chases noise: see the ablation)
    return Overlay(
        weights=weights,
        accuracies=dict(accuracy),
        population_priors={m: dict(p) for m, p in priors.items()},
        learning_rate=0.03,
    )


def run_condition(
    turns: Sequence[Turn], *, warm: int, feedbacks: int, settings: Any, calibrate: bool = True, order_seed: int = 0
) -> tuple[float, float]:
    """(accuracy, mean negative log-likelihood) of the fused mood on the turns after the first
    `warm`, with `feedbacks` of the warm turns answered by the user (their true label).
    Baselines update on every turn (when `calibrate`)."""
    rng = np.random.default_rng(order_seed)
    asked = set(rng.permutation(warm)[:feedbacks].tolist())  # nested: K=5 is a subset of K=10
    cal = Calibration.default()
    hits = total = 0
    nll = 0.0
    for i, turn in enumerate(turns):
        if i >= warm:
            mood = fuse(turn.estimates, now=turn.at, calibration=cal, settings=settings)
            hits += int(mood.known and EMOTIONS.index(mood.label) == turn.truth)
            nll -= math.log(max(mood.probs[EMOTIONS[turn.truth]], 1e-6))
            total += 1
        if calibrate:
            cal = observe(cal, turn.estimates, settings)
            if i in asked:
                cal = learn(cal, turn.estimates, EMOTIONS[turn.truth], settings, now=turn.at)
    return hits / max(1, total), nll / max(1, total)


def ci95(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    return 1.96 * float(np.std(values, ddof=1)) / math.sqrt(len(values))
