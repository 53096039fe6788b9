"""Frozen value types that cross module boundaries.

Every type validates itself on construction, so a bad estimate is rejected where it
is made, not three modules later when a plot or a prompt misbehaves.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from companion.errors import CompanionError

EMOTIONS: tuple[str, ...] = ("neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust")
MODALITIES: tuple[str, ...] = ("text", "voice", "face")

# Circumplex coordinates (valence, arousal) per label, after Russell (1980) and the
# placements used by Scherer's Geneva wheel. Used wherever a model gives class
# probabilities but no dimensional output (face, fusion fallbacks).
CIRCUMPLEX: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "neutral": (0.0, 0.0),
        "joy": (0.8, 0.5),
        "sadness": (-0.7, -0.4),
        "anger": (-0.6, 0.7),
        "fear": (-0.7, 0.6),
        "surprise": (0.2, 0.8),
        "disgust": (-0.7, 0.2),
    }
)

_SUM_TOLERANCE = 1e-3


class InvalidEstimate(CompanionError, ValueError):
    """An emotion estimate or mood that breaks the contract (bad probabilities, ranges)."""


def _check_unit(name: str, value: float, low: float, high: float) -> float:
    value = float(value)
    if not math.isfinite(value) or not (low - 1e-9 <= value <= high + 1e-9):
        raise InvalidEstimate(f"{name} must be a finite number in [{low}, {high}], got {value!r}")
    return min(high, max(low, value))


def check_probs(probs: Mapping[str, float]) -> Mapping[str, float]:
    """Validate a distribution over EMOTIONS; return it as a read-only mapping in EMOTIONS order."""
    if not isinstance(probs, Mapping):
        raise InvalidEstimate(f"probs must be a mapping over {EMOTIONS}, got {type(probs).__name__}")
    unknown = set(probs) - set(EMOTIONS)
    if unknown:
        raise InvalidEstimate(f"unknown emotion labels {sorted(unknown)}; valid labels are {EMOTIONS}")
    clean: dict[str, float] = {}
    for label in EMOTIONS:
        p = float(probs.get(label, 0.0))
        if not math.isfinite(p) or p < 0.0:
            raise InvalidEstimate(f"probability of {label!r} must be finite and >= 0, got {p!r}")
        clean[label] = p
    total = sum(clean.values())
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise InvalidEstimate(
            f"probabilities must sum to 1 (got {total:.6f}); normalise with companion.types.normalize()"
        )
    return MappingProxyType({k: v / total for k, v in clean.items()})


def normalize(scores: Mapping[str, float] | Any) -> dict[str, float]:
    """Turn non-negative scores (a mapping or a sequence in EMOTIONS order) into probabilities."""
    if not isinstance(scores, Mapping):
        values = [float(v) for v in scores]
        if len(values) != len(EMOTIONS):
            raise InvalidEstimate(f"expected {len(EMOTIONS)} scores in EMOTIONS order, got {len(values)}")
        scores = dict(zip(EMOTIONS, values))
    raw = {label: float(scores.get(label, 0.0)) for label in EMOTIONS}
    if any(not math.isfinite(v) or v < 0 for v in raw.values()):
        raise InvalidEstimate(f"scores must be finite and non-negative: {raw}")
    total = sum(raw.values())
    if total <= 0:
        raise InvalidEstimate("scores sum to zero: there is no distribution to normalise")
    return {k: v / total for k, v in raw.items()}


def argmax(probs: Mapping[str, float]) -> str:
    return max(EMOTIONS, key=lambda label: probs.get(label, 0.0))


def circumplex_position(probs: Mapping[str, float]) -> tuple[float, float]:
    """Expected (valence, arousal) under the circumplex table."""
    valence = sum(p * CIRCUMPLEX[k][0] for k, p in probs.items())
    arousal = sum(p * CIRCUMPLEX[k][1] for k, p in probs.items())
    return valence, arousal


@dataclass(frozen=True)
class EmotionEstimate:
    """One modality's reading of one signal."""

    modality: str
    probs: Mapping[str, float]
    valence: float
    arousal: float
    confidence: float
    source: str
    at: float = field(default_factory=time.time)
    details: Mapping[str, Any] = field(default_factory=dict)  # e.g. faces seen, transcript

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise InvalidEstimate(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        object.__setattr__(self, "probs", check_probs(self.probs))
        object.__setattr__(self, "valence", _check_unit("valence", self.valence, -1.0, 1.0))
        object.__setattr__(self, "arousal", _check_unit("arousal", self.arousal, -1.0, 1.0))
        object.__setattr__(self, "confidence", _check_unit("confidence", self.confidence, 0.0, 1.0))
        at = float(self.at)
        if not math.isfinite(at):
            raise InvalidEstimate(f"timestamp must be finite, got {self.at!r}")
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    @property
    def label(self) -> str:
        return argmax(self.probs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "modality": self.modality,
            "label": self.label,
            "probs": dict(self.probs),
            "valence": self.valence,
            "arousal": self.arousal,
            "confidence": self.confidence,
            "source": self.source,
            "at": self.at,
            "details": _jsonable(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EmotionEstimate":
        return cls(
            modality=data["modality"],
            probs=data["probs"],
            valence=data["valence"],
            arousal=data["arousal"],
            confidence=data["confidence"],
            source=data["source"],
            at=data.get("at", time.time()),
            details=data.get("details", {}),
        )


UNIFORM: Mapping[str, float] = MappingProxyType({k: 1.0 / len(EMOTIONS) for k in EMOTIONS})


@dataclass(frozen=True)
class MoodState:
    """The fused, user-calibrated mood at one moment.

    `known` is False when no modality contributed: the mood is then unknown, not neutral.
    `contributions` maps modality -> the weight it carried in this fusion (sums to 1 when known).
    """

    probs: Mapping[str, float]
    valence: float
    arousal: float
    confidence: float
    contributions: Mapping[str, float] = field(default_factory=dict)
    incongruent: bool = False
    disagreeing: tuple[str, ...] = ()
    at: float = field(default_factory=time.time)
    known: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "probs", check_probs(self.probs))
        object.__setattr__(self, "valence", _check_unit("valence", self.valence, -1.0, 1.0))
        object.__setattr__(self, "arousal", _check_unit("arousal", self.arousal, -1.0, 1.0))
        object.__setattr__(self, "confidence", _check_unit("confidence", self.confidence, 0.0, 1.0))
        unknown = set(self.contributions) - set(MODALITIES)
        if unknown:
            raise InvalidEstimate(f"contributions name unknown modalities {sorted(unknown)}")
        object.__setattr__(
            self, "contributions", MappingProxyType({k: float(v) for k, v in self.contributions.items()})
        )
        object.__setattr__(self, "disagreeing", tuple(self.disagreeing))

    @property
    def label(self) -> str:
        return argmax(self.probs) if self.known else "unknown"

    @classmethod
    def unknown(cls, at: float | None = None) -> "MoodState":
        return cls(
            probs=UNIFORM, valence=0.0, arousal=0.0, confidence=0.0, at=time.time() if at is None else at, known=False
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "known": self.known,
            "probs": dict(self.probs),
            "valence": self.valence,
            "arousal": self.arousal,
            "confidence": self.confidence,
            "contributions": dict(self.contributions),
            "incongruent": self.incongruent,
            "disagreeing": list(self.disagreeing),
            "at": self.at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MoodState":
        return cls(
            probs=data["probs"],
            valence=data["valence"],
            arousal=data["arousal"],
            confidence=data["confidence"],
            contributions=data.get("contributions", {}),
            incongruent=data.get("incongruent", False),
            disagreeing=tuple(data.get("disagreeing", ())),
            at=data.get("at", time.time()),
            known=data.get("known", True),
        )


@dataclass(frozen=True)
class Strategy:
    """The support strategy a reply follows, and why it was chosen."""

    name: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class Reply:
    """What `Companion.respond` returns."""

    text: str
    mood: MoodState
    estimates: tuple[EmotionEstimate, ...] = ()
    strategy: Strategy | None = None
    audio: tuple[int, Any] | None = None  # (sample_rate, float32 samples) when speech output is on
    flags: tuple[str, ...] = ()
    transcript: str | None = None  # what ASR heard, when the turn came as audio
    context: Mapping[str, Any] = field(default_factory=dict)  # prompt blocks (facts, memories)

    def __post_init__(self) -> None:
        object.__setattr__(self, "estimates", tuple(self.estimates))
        object.__setattr__(self, "flags", tuple(self.flags))
        object.__setattr__(self, "context", MappingProxyType(dict(self.context)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "mood": self.mood.to_dict(),
            "estimates": [e.to_dict() for e in self.estimates],
            "strategy": self.strategy.to_dict() if self.strategy else None,
            "audio": None if self.audio is None else {"sample_rate": self.audio[0], "samples": len(self.audio[1])},
            "flags": list(self.flags),
            "transcript": self.transcript,
            "context": _jsonable(self.context),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return str(value)
