"""Per-user calibration: "a model per person", learned online and stored as plain JSON.

Three parts, each cheap and bounded so that a few odd turns cannot wreck a user's model:

* Baselines (`observe`, every turn): a time-decayed running mean of each modality's raw
  probabilities for this user. A class that one channel reads chronically more often than
  the user's *other* channels do (a resting face that reads sad) is divided out, with
  shrinkage toward the population and a cap, so a chronic tilt fades gradually and no class
  is ever zeroed. A tilt that every channel shares (a genuinely low week) is left alone: that
  is mood, and the trend check-in depends on seeing it.
* Reliability (`learn`, on feedback): a per-user multiplier on each modality's weight. The
  channel's accuracy for this user is estimated from the feedbacks (shrunk toward its
  population accuracy) and mapped to a weight by the same formula the defaults come from; a
  channel that agreed with the user's label gains, one that disagreed loses; bounded.
* Bias correction (`learn`): the supervised half of the baselines. Per channel and class, how
  often the user said k against how much probability the channel put on k at those moments;
  the smoothed ratio (said + a) / (put + a) rescales that channel's readings.

Everything here is pure: a new Calibration is returned, the old one is never changed.
`learn` lives in companion/fusion.py: it reads the turn through fusion's calibrated sources, and
fusion imports this module, so keeping it here made the two import each other.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from companion.config import FusionSettings, section_or_default
from companion.types import EMOTIONS, MODALITIES, EmotionEstimate, InvalidEstimate

VERSION = 1
RELIABILITY_MIN, RELIABILITY_MAX = 0.25, 4.0

# Accuracy per channel, out of domain where the project has a measurement (the voice): the centre
# of the reliability update, so a channel that reads this user better than that gains weight above
# its default (bounded by RELIABILITY_MAX), one that reads them worse loses it. Through
# reliability_from_accuracy it is also the source of the default weights. One source of truth:
# config.FusionSettings.accuracies, which says where each number comes from.
DEFAULT_ACCURACY: Mapping[str, float] = FusionSettings().accuracies

# Mean analyzer output over a population, per label: the reference a user's baseline is
# compared against. Placeholder until each analyzer's mean output on its held-out set is
# measured (FusionSettings.population_priors overrides it per modality).
DEFAULT_PRIOR: Mapping[str, float] = {
    "neutral": 0.35,
    "joy": 0.20,
    "sadness": 0.12,
    "anger": 0.08,
    "fear": 0.08,
    "surprise": 0.10,
    "disgust": 0.07,
}


class InvalidFusionInput(InvalidEstimate):
    """Input to fusion or calibration that breaks the contract; the message says what to fix."""


def fusion_settings(settings: FusionSettings | None) -> FusionSettings:
    """The FusionSettings to read: `settings`, or the defaults for None (WrongType for anything else)."""
    return section_or_default(settings, FusionSettings)


def decay(age_s: float, half_life_s: float) -> float:
    """Weight of something `age_s` seconds old: halves every `half_life_s`; 1 for age <= 0."""
    return 0.5 ** (max(0.0, age_s) / half_life_s)


def check_items(estimates: Any, what: str = "estimates") -> list[EmotionEstimate]:
    """The boundary check: a sequence of EmotionEstimate (None = analyzer saw nothing, skipped)."""
    if isinstance(estimates, (EmotionEstimate, str, bytes, Mapping)) or not isinstance(estimates, Iterable):
        raise InvalidFusionInput(
            f"{what} must be a list of EmotionEstimate, got {type(estimates).__name__};"
            " wrap a single estimate in a list"
        )
    items = []
    for i, est in enumerate(estimates):
        if est is None:
            continue
        if not isinstance(est, EmotionEstimate):
            raise InvalidFusionInput(
                f"{what}[{i}] is a {type(est).__name__}, not an EmotionEstimate;"
                " build one with companion.types.EmotionEstimate(...) or from_dict()"
            )
        items.append(est)
    return items


def reliability_from_accuracy(accuracy: float, n_classes: int = len(EMOTIONS)) -> float:
    """Weight for a channel of held-out `accuracy`: the log-odds of its vote being right against
    one given wrong class, log((K-1) acc / (1 - acc)) (Nitzan & Paroush's optimal weighted vote).
    0 at chance or below; only ratios between channels matter."""
    if not 0.0 < accuracy < 1.0:
        raise InvalidFusionInput(f"accuracy must be in (0, 1), got {accuracy!r}")
    return max(0.0, math.log((n_classes - 1) * accuracy / (1.0 - accuracy)))


def check_label(label: Any) -> str:
    if label not in EMOTIONS:
        raise InvalidFusionInput(f"feedback label must be one of {EMOTIONS}, got {label!r}")
    return label


def _finite_map(data: Any, keys: tuple[str, ...], what: str) -> dict[str, float]:
    if not isinstance(data, Mapping):
        raise InvalidFusionInput(f"calibration {what} must be a mapping, got {type(data).__name__}")
    out = {}
    for key, value in data.items():
        if key not in keys:
            continue  # written by a newer version or for a removed label: ignore, don't fail a user
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise InvalidFusionInput(f"calibration {what}[{key!r}] must be finite and >= 0, got {value!r}")
        out[key] = value
    return out


@dataclass(frozen=True)
class Calibration:
    """One user's calibration. Treat as immutable; `observe` and `learn` return new ones."""

    weights: Mapping[str, float] = field(default_factory=dict)  # modality -> reliability multiplier
    baselines: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # modality -> mean probs
    baseline_weight: Mapping[str, float] = field(default_factory=dict)  # modality -> effective count
    baseline_at: Mapping[str, float] = field(default_factory=dict)  # modality -> last observation
    said: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # modality -> label -> feedbacks
    put: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # modality -> label -> prob mass
    label_counts: Mapping[str, float] = field(default_factory=dict)  # the user's own labels
    feedbacks: int = 0
    hits: Mapping[str, float] = field(default_factory=dict)  # modality -> feedbacks it read right
    trials: Mapping[str, float] = field(default_factory=dict)  # modality -> feedbacks it took part in

    @classmethod
    def default(cls) -> "Calibration":
        return cls()

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "weights": dict(self.weights),
            "baselines": {m: dict(b) for m, b in self.baselines.items()},
            "baseline_weight": dict(self.baseline_weight),
            "baseline_at": dict(self.baseline_at),
            "said": {m: dict(c) for m, c in self.said.items()},
            "put": {m: dict(c) for m, c in self.put.items()},
            "label_counts": dict(self.label_counts),
            "feedbacks": self.feedbacks,
            "hits": dict(self.hits),
            "trials": dict(self.trials),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Calibration":
        """Rebuild from to_dict(); None or {} gives the default. Malformed data raises InvalidFusionInput."""
        if not data:
            return cls.default()
        if not isinstance(data, Mapping):
            raise InvalidFusionInput(
                f"calibration must be a mapping from Calibration.to_dict(), got {type(data).__name__}"
            )
        baselines = {
            m: _finite_map(b, EMOTIONS, f"baselines[{m!r}]")
            for m, b in dict(data.get("baselines", {})).items()
            if m in MODALITIES
        }
        said, put = (
            {
                m: _finite_map(c, EMOTIONS, f"{name}[{m!r}]")
                for m, c in dict(data.get(name, {})).items()
                if m in MODALITIES
            }
            for name in ("said", "put")
        )
        weights = _finite_map(data.get("weights", {}), MODALITIES, "weights")
        return cls(
            weights={m: min(RELIABILITY_MAX, max(RELIABILITY_MIN, w)) for m, w in weights.items()},
            baselines={m: b for m, b in baselines.items() if sum(b.values()) > 0},
            baseline_weight=_finite_map(data.get("baseline_weight", {}), MODALITIES, "baseline_weight"),
            baseline_at=_finite_map(data.get("baseline_at", {}), MODALITIES, "baseline_at"),
            said=said,
            put=put,
            label_counts=_finite_map(data.get("label_counts", {}), EMOTIONS, "label_counts"),
            feedbacks=int(data.get("feedbacks", 0)),
            hits=_finite_map(data.get("hits", {}), MODALITIES, "hits"),
            trials=_finite_map(data.get("trials", {}), MODALITIES, "trials"),
        )

    def reliability(self, modality: str) -> float:
        return self.weights.get(modality, 1.0)


# ---------------------------------------------------------------- applying a calibration


def population_prior(settings: FusionSettings | None, modality: str) -> Mapping[str, float]:
    prior = fusion_settings(settings).population_priors.get(modality) or DEFAULT_PRIOR
    total = sum(prior.get(k, 0.0) for k in EMOTIONS)
    return {k: max(prior.get(k, 0.0) / total, 1e-3) for k in EMOTIONS}


def _excess(cal: Calibration, modality: str, now: float, settings: FusionSettings) -> dict[str, float] | None:
    """How much more (>1) or less (<1) often this channel reads each class for this user than
    for the population, shrunk toward 1 while the baseline holds few observations."""
    weight = cal.baseline_weight.get(modality, 0.0)
    base = cal.baselines.get(modality)
    if not base or weight <= 0:
        return None
    # an absent user drifts back
    weight *= decay(now - cal.baseline_at.get(modality, now), settings.baseline_half_life_s)
    n0 = settings.baseline_shrinkage
    prior = population_prior(settings, modality)
    return {k: (weight * base.get(k, 0.0) + n0 * prior[k]) / (weight + n0) / prior[k] for k in EMOTIONS}


def baseline_ratios(
    cal: Calibration, modality: str, now: float, settings: FusionSettings | None = None
) -> dict[str, float]:
    """Per class divisor (>= 1, <= baseline_max_ratio) that removes this channel's chronic tilt."""
    settings = fusion_settings(settings)
    excess = _excess(cal, modality, now, settings)
    if excess is None:
        return {k: 1.0 for k in EMOTIONS}
    reference = settings.baseline_reference
    if reference == "cross_modal":
        # Median over the user's channels (log space): what every channel sees is mood, kept;
        # what only this one sees is its tilt, removed. One channel alone corrects nothing.
        channels = [e for m in MODALITIES if (e := _excess(cal, m, now, settings)) is not None]
        ref = {k: math.exp(statistics.median(math.log(e[k]) for e in channels)) for k in EMOTIONS}
    elif reference == "population":
        ref = {k: 1.0 for k in EMOTIONS}
    else:
        raise InvalidFusionInput(f"baseline_reference must be 'cross_modal' or 'population', got {reference!r}")
    cap = settings.baseline_max_ratio
    return {k: min(cap, max(1.0, excess[k] / ref[k])) for k in EMOTIONS}


def debias(
    cal: Calibration, modality: str, probs: Mapping[str, float], now: float, settings: FusionSettings | None = None
) -> dict[str, float]:
    """A channel's reading with this user's chronic tilt divided out."""
    ratios = baseline_ratios(cal, modality, now, settings)
    q = {k: probs[k] / ratios[k] for k in EMOTIONS}
    total = sum(q.values())
    return {k: v / total for k, v in q.items()}


def correct(
    cal: Calibration, modality: str, probs: Mapping[str, float], now: float, settings: FusionSettings | None = None
) -> dict[str, float]:
    """A channel's reading with this user's chronic tilt and habitual misreadings removed.
    The default calibration returns `probs` unchanged."""
    return apply_bias(cal, modality, debias(cal, modality, probs, now, settings), settings)


def bias_ratios(cal: Calibration, modality: str, settings: FusionSettings | None = None) -> dict[str, float] | None:
    """(said + a) / (put + a) per class, capped: > 1 where the channel under-reads this user."""
    said, put = cal.said.get(modality), cal.put.get(modality)
    if not said and not put:
        return None
    said, put = said or {}, put or {}
    settings = fusion_settings(settings)
    a, cap = settings.bias_prior, settings.baseline_max_ratio
    return {k: min(cap, max(1.0 / cap, (said.get(k, 0.0) + a) / (put.get(k, 0.0) + a))) for k in EMOTIONS}


def apply_bias(
    cal: Calibration, modality: str, q: Mapping[str, float], settings: FusionSettings | None = None
) -> dict[str, float]:
    ratios = bias_ratios(cal, modality, settings)
    if ratios is None:
        return dict(q)
    out = {k: q[k] * ratios[k] for k in EMOTIONS}
    total = sum(out.values())
    return {k: v / total for k, v in out.items()}


# ---------------------------------------------------------------- updating a calibration


def observe(calibration: Calibration, estimates: Any, settings: FusionSettings | None = None) -> Calibration:
    """Fold one turn's raw readings into this user's running baselines.

    Readings closer together than `observation_spacing_s` count fractionally, so a webcam
    sending a frame a second weighs like one turn every 30 s, not thirty."""
    items = check_items(estimates)
    if not items:
        return calibration
    settings = fusion_settings(settings)
    half_life, spacing = settings.baseline_half_life_s, settings.observation_spacing_s
    baselines = {m: dict(b) for m, b in calibration.baselines.items()}
    weights, stamps = dict(calibration.baseline_weight), dict(calibration.baseline_at)
    for est in sorted(items, key=lambda e: (e.at, e.modality, e.source)):
        m = est.modality
        if m not in baselines:
            baselines[m], weights[m], stamps[m] = dict(est.probs), 1.0, est.at
            continue
        gap = est.at - stamps[m]
        share = min(1.0, max(0.0, gap) / spacing)
        if share <= 0:
            continue
        old = weights[m] * decay(gap, half_life)
        new = old + share
        baselines[m] = {k: (old * baselines[m].get(k, 0.0) + share * est.probs[k]) / new for k in EMOTIONS}
        weights[m], stamps[m] = new, est.at
    return Calibration(
        calibration.weights,
        baselines,
        weights,
        stamps,
        calibration.said,
        calibration.put,
        calibration.label_counts,
        calibration.feedbacks,
        calibration.hits,
        calibration.trials,
    )
