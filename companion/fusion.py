"""Fusion: one turn's per-modality estimates (+ previous mood, the user's calibration) -> MoodState.

Contract used by companion.core (all pure; no clock is read unless `now` is None):
  fuse(estimates, *, previous=None, now=None, calibration=None, settings=None) -> MoodState
  Calibration (.default() / .to_dict() / .from_dict(d)), observe(cal, estimates), learn(cal, estimates, label)
  trend(history, *, now=None) -> Trend

How a mood is made (docs/fusion.md has the maths and the evaluation behind each choice):
1. Each estimate's evidence is confidence x 0.5 ** (age / half_life_s).
2. Estimates of one modality (e.g. several webcam frames) pool into one reading; the modality's
   say is its best frame's evidence, so thirty frames do not outvote one sentence.
3. Each reading is calibrated for this user (baseline tilt removed, habitual misreadings mapped back).
4. Readings pool with weight evidence x reliability (settings weight x the user's learned multiplier);
   the previous mood joins as one more source whose weight halves every half_life_s since it was made.
   Default rule: linear (weighted mean), chosen on the simulation in eval_fusion: it beat the
   log-linear pool (weighted geometric mean) and max-confidence in mean accuracy and in
   log-loss, with and without calibration (docs/fusion.md has the tables).
   Default reliabilities come from out-of-domain accuracy where the project has one (the voice).
5. Clear words keep their label: a lone voice or face reading below override_confidence (after the
   user's multiplier) has its weight cut to the most that leaves a clear text reading on top.
6. Incongruence: two confident channels on opposite sides of the valence line, far apart; or
   unsure, not positive words ("I'm fine, really.") with a moderately sure negative face or voice.

Input rules: None items are skipped (an analyzer that saw no face / heard silence); any other
non-EmotionEstimate, an estimate later than now + clock_skew_s, or a bad setting raises
InvalidFusionInput (a ValueError); settings that are not a FusionSettings (or None, the defaults) raise
WrongType. Every knob is a FusionSettings field (COMPANION_FUSION__<NAME>), read directly. A previous
mood stamped after `now` (the app's own state, e.g. a feedback mood written a moment later) counts as
fresh rather than failing the turn. Duplicates: an identical estimate passed twice counts once;
several different readings of one modality (webcam frames) pool into one reading whose say is
its best frame's evidence, so a modality's weight never grows with the number of frames.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from companion.calibration import (
    DEFAULT_ACCURACY,
    RELIABILITY_MAX,
    RELIABILITY_MIN,
    Calibration,
    InvalidFusionInput,
    check_items,
    check_label,
    correct,
    debias,
    decay,
    fusion_settings,
    observe,
    reliability_from_accuracy,
)
from companion.config import FusionSettings
from companion.trend import Trend, trend
from companion.types import EMOTIONS, MODALITIES, EmotionEstimate, MoodState, argmax, circumplex_position

__all__ = [
    "fuse",
    "Calibration",
    "learn",
    "observe",
    "trend",
    "Trend",
    "InvalidFusionInput",
    "POOLING_RULES",
    "pool",
    "reliability_from_accuracy",
]

POOLING_RULES = ("log_linear", "linear", "max_confidence")


@dataclass(frozen=True)
class _Source:
    """One voice in the pool: a modality's calibrated reading, or the carried-over mood."""

    name: str
    probs: Mapping[str, float]
    residual: tuple[float, float]  # own (valence, arousal) minus the circumplex of probs
    evidence: float  # confidence x decay, 0..1
    weight: float  # evidence x reliability
    shares: Mapping[str, float]  # how this source's weight splits over modalities
    raw: Mapping[str, float] | None = None  # the reading before calibration (modalities only)


def pool(
    dists: Sequence[Mapping[str, float]], weights: Sequence[float], rule: str = "linear", floor: float = 1e-3
) -> dict[str, float]:
    """Pool distributions with non-negative weights (normalised here). A lone distribution passes
    through unchanged; `floor` keeps one channel's near-zero from vetoing a class outright."""
    if rule not in POOLING_RULES:
        raise InvalidFusionInput(f"pooling must be one of {POOLING_RULES}, got {rule!r}")
    if len(dists) != len(weights) or not dists:
        raise InvalidFusionInput(f"pool needs one weight per distribution, got {len(dists)} and {len(weights)}")
    if len(dists) == 1:
        return dict(dists[0])
    total = sum(weights)
    if total <= 0 or min(weights) < 0:
        raise InvalidFusionInput(f"pool weights must be >= 0 with a positive sum, got {list(weights)}")
    if rule == "max_confidence":
        return dict(dists[max(range(len(dists)), key=lambda i: weights[i])])
    # Normalise first: evidence can be subnormal (a reading decayed for hours), and w * p would
    # underflow to an all-zero distribution (a hypothesis run found it).
    weights = [w / total for w in weights]
    if rule == "linear":
        return {k: sum(w * d[k] for d, w in zip(dists, weights)) for k in EMOTIONS}
    logs = {k: sum(w * math.log(max(d[k], floor)) for d, w in zip(dists, weights)) for k in EMOTIONS}
    top = max(logs.values())
    raw = {k: math.exp(v - top) for k, v in logs.items()}
    z = sum(raw.values())
    return {k: v / z for k, v in raw.items()}


def _residual(est: EmotionEstimate) -> tuple[float, float]:
    v, a = circumplex_position(est.probs)
    return est.valence - v, est.arousal - a


def pool_modality(
    group: Sequence[EmotionEstimate], now: float, settings: FusionSettings | None = None
) -> dict[str, float] | None:
    """One modality's estimates -> one raw (uncalibrated) reading; None when all carry no evidence."""
    settings = fusion_settings(settings)
    group = sorted(group, key=_order)
    evidence = [e.confidence * decay(now - e.at, settings.half_life_s) for e in group]
    if sum(evidence) <= 0:
        return None
    return pool([e.probs for e in group], evidence, settings.pooling, settings.log_floor)


def _order(est: EmotionEstimate) -> tuple:
    # a canonical order makes the result independent of the caller's order, bit for bit
    return (est.at, est.confidence, est.source, tuple(est.probs[k] for k in EMOTIONS), est.valence, est.arousal)


def _modality_source(
    m: str, group: list[EmotionEstimate], now: float, cal: Calibration, settings: FusionSettings
) -> _Source | None:
    reliability = float(settings.weights.get(m, 1.0)) * cal.reliability(m)
    group = sorted(group, key=_order)
    evidence = [e.confidence * decay(now - e.at, settings.half_life_s) for e in group]
    total = sum(evidence)
    if reliability <= 0 or total <= 0:
        return None
    raw = pool_modality(group, now, settings)
    probs = correct(cal, m, raw, now, settings)
    residuals = [_residual(e) for e in group]
    residual = (
        sum(w * r[0] for w, r in zip(evidence, residuals)) / total,
        sum(w * r[1] for w, r in zip(evidence, residuals)) / total,
    )
    best = max(evidence)
    return _Source(m, probs, residual, best, best * reliability, {m: 1.0}, raw)


def modality_sources(
    items: Sequence[EmotionEstimate], now: float, cal: Calibration, settings: FusionSettings | None = None
) -> list[_Source]:
    """One calibrated source per modality that carries evidence, in MODALITIES order."""
    settings = fusion_settings(settings)
    unique = list({_order(e) + (e.modality,): e for e in items}.values())  # the same reading twice is one
    return [
        src
        for m in MODALITIES
        if (group := [e for e in unique if e.modality == m])
        and (src := _modality_source(m, group, now, cal, settings)) is not None
    ]


def learn(
    calibration: Calibration,
    estimates: Any,
    label: str,
    settings: FusionSettings | None = None,
    *,
    now: float | None = None,
) -> Calibration:
    """The user said how they feel (`label`) about the turn that produced `estimates`.

    Reliability: each channel's accuracy for this user is estimated online, shrunk toward its
    population accuracy a_m (FusionSettings.accuracies) with the weight of 1 / learning_rate feedbacks:
        acc = (hits + a_m / lr) / (trials + 1 / lr),   r_m = w(acc) / w(a_m),
    w = reliability_from_accuracy. A channel that agrees with the user's word gains weight, one
    that disagrees loses it; one that reads this user as well as people in general stays near
    1 (a centred update: no drift, unlike plain Hedge). Bounded to [RELIABILITY_MIN, MAX].
    Bias: the label and the channel's baseline-corrected reading are added to its said/put
    counts. Baselines themselves move only through `observe`."""
    label = check_label(label)
    items = check_items(estimates)
    settings = fusion_settings(settings)
    now = max((e.at for e in items), default=0.0) if now is None else float(now)
    prior = 1.0 / settings.learning_rate
    accuracies = settings.accuracies
    sources = modality_sources(items, now, calibration, settings)
    weights, hits, trials = dict(calibration.weights), dict(calibration.hits), dict(calibration.trials)
    for s in sources:
        m = s.name
        hits[m] = hits.get(m, 0.0) + (1.0 if max(EMOTIONS, key=lambda k: s.probs[k]) == label else 0.0)
        trials[m] = trials.get(m, 0.0) + 1.0
        expected = min(0.99, max(0.01, accuracies.get(m, DEFAULT_ACCURACY[m])))
        personal = (hits[m] + expected * prior) / (trials[m] + prior)
        base = reliability_from_accuracy(expected)
        ratio = reliability_from_accuracy(personal) / base if base > 0 else 1.0
        weights[m] = min(RELIABILITY_MAX, max(RELIABILITY_MIN, ratio))
    said = {m: dict(c) for m, c in calibration.said.items()}
    put = {m: dict(c) for m, c in calibration.put.items()}
    for s in sources:
        q = debias(calibration, s.name, s.raw, now, settings)
        counts = said.setdefault(s.name, {})
        counts[label] = counts.get(label, 0.0) + 1.0
        mass = put.setdefault(s.name, {})
        for k in EMOTIONS:
            mass[k] = round(mass.get(k, 0.0) + q[k], 6)
    labels = dict(calibration.label_counts)
    labels[label] = labels.get(label, 0.0) + 1.0
    return Calibration(
        weights,
        calibration.baselines,
        calibration.baseline_weight,
        calibration.baseline_at,
        said,
        put,
        labels,
        calibration.feedbacks + 1,
        hits,
        trials,
    )


def _previous_source(previous: MoodState, now: float, settings: FusionSettings) -> _Source | None:
    if not previous.known:
        return None
    evidence = previous.confidence * decay(now - previous.at, settings.half_life_s)
    v, a = circumplex_position(previous.probs)
    total = sum(previous.contributions.values())
    shares = {m: w / total for m, w in previous.contributions.items()} if total > 0 else {}
    return _Source(
        "previous",
        dict(previous.probs),
        (previous.valence - v, previous.arousal - a),
        evidence,
        evidence * settings.carry_weight,
        shares,
    )


def _clamp(x: float) -> float:
    return max(-1.0, min(1.0, x))


def _valence(src: _Source) -> float:
    return _clamp(circumplex_position(src.probs)[0] + src.residual[0])


def _conflicts(sources: Sequence[_Source], settings: FusionSettings) -> tuple[str, ...]:
    """Modalities that disagree: a confident clash (one reads negative, the other not, at least a gap
    apart), or masking: unsure words that are not clearly positive while the face or voice reads
    negative with moderate confidence. A masking message ("I'm fine, really.") reads as unsure,
    near-neutral text, so the confident-clash rule alone never sees it."""
    threshold, gap = settings.incongruence_confidence, settings.incongruence_valence_gap
    line = settings.negative_valence
    sure = [(s.name, _valence(s)) for s in sources if s.name in MODALITIES and s.evidence >= threshold]
    clashing: set[str] = set()
    for i, (m1, v1) in enumerate(sure):
        for m2, v2 in sure[i + 1 :]:
            if (v1 < line) != (v2 < line) and abs(v1 - v2) >= gap:
                clashing.update((m1, m2))
    text = next((s for s in sources if s.name == "text"), None)
    if (
        text is not None
        and settings.masking_text_confidence <= text.evidence < settings.clear_text_confidence
        and line <= _valence(text) < settings.positive_valence
    ):
        partner = settings.masking_confidence
        for s in sources:
            if s.name in ("voice", "face") and s.evidence >= partner and _valence(s) < line:
                clashing.update(("text", s.name))
    return tuple(m for m in MODALITIES if m in clashing)


def _guard_clear_text(
    sources: Sequence[_Source], weights: list[float], rule: str, cal: Calibration, settings: FusionSettings
) -> list[float]:
    """A lone voice or face reading below override_confidence cannot take the label from a clear text
    reading: its weight is cut to the most that leaves the text's label on top. It still pulls the
    probabilities toward its reading, lowers confidence (spread) and can mark incongruence.

    Why: a voice model scoring 0.71 in domain read every synthetic-voice clip as anger and scores
    0.28 across corpora (docs/fusion.md); an unsure reading from such a sense is not enough to
    overturn what the person wrote. "Lone": the only face/voice whose own label differs from the
    text's (two senses agreeing against the words are not gated). The confidence compared is
    evidence x the user's learned multiplier, so a sense whose feedback shows it reads this person
    well earns the right to override."""
    text = next((s for s in sources if s.name == "text"), None)
    if text is None or text.evidence < settings.clear_text_confidence:
        return weights
    said = argmax(text.probs)
    against = [i for i, s in enumerate(sources) if s.name in ("voice", "face") and argmax(s.probs) != said]
    if len(against) != 1:
        return weights
    i = against[0]
    lone = sources[i]
    if lone.evidence * cal.reliability(lone.name) >= settings.override_confidence:
        return weights
    floor = settings.log_floor

    def keeps(scale: float) -> bool:
        scaled = [w * scale if j == i else w for j, w in enumerate(weights)]
        return argmax(pool([s.probs for s in sources], scaled, rule, floor)) == said

    if keeps(1.0) or not keeps(0.0):  # the words win anyway, or something else outweighs them
        return weights
    lo, hi = 0.0, 1.0
    for _ in range(60):  # bisection to double precision; any pooling rule
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if keeps(mid) else (lo, mid)
    return [w * lo if j == i else w for j, w in enumerate(weights)]


def fuse(
    estimates: Sequence[EmotionEstimate | None],
    *,
    previous: MoodState | None = None,
    now: float | None = None,
    calibration: Calibration | None = None,
    settings: FusionSettings | None = None,
) -> MoodState:
    """This turn's estimates (+ the decayed previous mood, the user's calibration) -> MoodState.
    MoodState.unknown(now) when nothing carries evidence. settings None = FusionSettings() defaults."""
    items = check_items(estimates)
    settings = fusion_settings(settings)
    now = time.time() if now is None else float(now)
    if not math.isfinite(now):
        raise InvalidFusionInput(f"now must be a finite unix time, got {now!r}")
    skew = settings.clock_skew_s
    for est in items:
        if est.at > now + skew:
            raise InvalidFusionInput(
                f"{est.modality} estimate from {est.source!r} is {est.at - now:.1f} s in the "
                f"future (tolerance {skew} s); check the clock or pass now="
            )
    if previous is not None and not isinstance(previous, MoodState):
        raise InvalidFusionInput(f"previous must be a MoodState or None, got {type(previous).__name__}")
    rule = settings.pooling
    if rule not in POOLING_RULES:
        raise InvalidFusionInput(f"pooling must be one of {POOLING_RULES}, got {rule!r}")
    cal = calibration if calibration is not None else Calibration.default()

    sources = modality_sources(items, now, cal, settings)
    if previous is not None and (src := _previous_source(previous, now, settings)) is not None:
        sources.append(src)
    floor_evidence = settings.min_confidence
    sources = [s for s in sources if s.weight > 0 and s.evidence >= floor_evidence]
    if not sources:
        return MoodState.unknown(now)

    weights = _guard_clear_text(sources, [s.weight for s in sources], rule, cal, settings)
    if rule == "max_confidence":
        winner = max(range(len(sources)), key=lambda i: weights[i])
        share = [1.0 if i == winner else 0.0 for i in range(len(sources))]
    else:
        share = [w / sum(weights) for w in weights]
    probs = pool([s.probs for s in sources], weights, rule, settings.log_floor)

    v, a = circumplex_position(probs)
    valence = _clamp(v + sum(h * s.residual[0] for h, s in zip(share, sources)))
    arousal = _clamp(a + sum(h * s.residual[1] for h, s in zip(share, sources)))
    contributions: dict[str, float] = {}
    for h, s in zip(share, sources):
        for m, part in s.shares.items():
            contributions[m] = contributions.get(m, 0.0) + h * part
    total = sum(contributions.values())
    contributions = {m: w / total for m, w in contributions.items() if w > 0} if total > 0 else {}
    # Evidence adds up like independent witnesses (noisy-OR) and is discounted by disagreement
    # (the weighted total-variation distance of each source from the pooled result).
    doubt = math.prod(1.0 - s.evidence for h, s in zip(share, sources) if h > 0)
    spread = sum(h * 0.5 * sum(abs(s.probs[k] - probs[k]) for k in EMOTIONS) for h, s in zip(share, sources))
    # Only a modality that carries weight in this mood can be said to disagree with it.
    clashing = tuple(m for m in _conflicts(sources, settings) if m in contributions)
    return MoodState(
        probs=probs,
        valence=valence,
        arousal=arousal,
        confidence=max(0.0, min(1.0, (1.0 - doubt) * (1.0 - spread))),
        contributions=contributions,
        incongruent=bool(clashing),
        disagreeing=clashing,
        at=now,
    )
