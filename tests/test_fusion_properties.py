"""Properties of fuse that must hold for any input (hypothesis)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.fusion_sim import NOW, Overlay
from companion.calibration import correct, decay
from companion.fusion import POOLING_RULES, Calibration, fuse, learn, observe
from companion.types import EMOTIONS, MODALITIES, EmotionEstimate, circumplex_position

probs_st = (
    st.lists(st.floats(0.0, 1.0), min_size=len(EMOTIONS), max_size=len(EMOTIONS))
    .filter(lambda xs: sum(xs) > 1e-3)
    .map(lambda xs: {k: x / sum(xs) for k, x in zip(EMOTIONS, xs)})
)


@st.composite
def estimates(draw, modality=None, max_age=300.0):
    probs = draw(probs_st)
    v, a = circumplex_position(probs)
    return EmotionEstimate(
        modality or draw(st.sampled_from(MODALITIES)),
        probs,
        max(-1.0, min(1.0, v + draw(st.floats(-0.2, 0.2)))),
        a,
        draw(st.floats(0.0, 1.0)),
        draw(st.sampled_from(["a", "b"])),
        at=NOW - draw(st.floats(0.0, max_age)),
    )


@st.composite
def calibrations(draw):
    """Default, or one shaped by a few observed turns and feedbacks."""
    cal = Calibration.default()
    for i in range(draw(st.integers(0, 4))):
        turn = draw(st.lists(estimates(max_age=0.0), min_size=1, max_size=3))
        turn = [
            EmotionEstimate(e.modality, e.probs, e.valence, e.arousal, e.confidence, e.source, at=NOW - 3600 + 60 * i)
            for e in turn
        ]
        cal = observe(cal, turn)
        if draw(st.booleans()):
            cal = learn(cal, turn, draw(st.sampled_from(EMOTIONS)))
    return cal


rules = st.sampled_from(POOLING_RULES)


@settings(max_examples=150, deadline=None)
@given(st.lists(estimates(), max_size=6), calibrations(), rules)
def test_probabilities_sum_to_one_and_ranges_hold(items, cal, rule):
    mood = fuse(items, now=NOW, calibration=cal, settings=Overlay(pooling=rule))
    assert math.isclose(sum(mood.probs.values()), 1.0, abs_tol=1e-9)
    assert all(p >= 0 for p in mood.probs.values())
    assert -1 <= mood.valence <= 1 and -1 <= mood.arousal <= 1 and 0 <= mood.confidence <= 1
    if mood.known:
        assert math.isclose(sum(mood.contributions.values()), 1.0, abs_tol=1e-9)
        assert set(mood.disagreeing) <= set(mood.contributions)


@settings(max_examples=150, deadline=None)
@given(st.lists(estimates(), min_size=1, max_size=6), calibrations(), rules, st.randoms(use_true_random=False))
def test_order_of_estimates_does_not_matter(items, cal, rule, rnd):
    shuffled = list(items)
    rnd.shuffle(shuffled)
    rules_settings = Overlay(pooling=rule)
    assert (
        fuse(shuffled, now=NOW, calibration=cal, settings=rules_settings).to_dict()
        == fuse(items, now=NOW, calibration=cal, settings=rules_settings).to_dict()
    )


@settings(max_examples=150, deadline=None)
@given(estimates(), calibrations(), rules)
def test_a_single_modality_passes_through_up_to_calibration(est, cal, rule):
    mood = fuse([est], now=NOW, calibration=cal, settings=Overlay(pooling=rule))
    evidence = est.confidence * decay(NOW - est.at, 45.0)
    if evidence < 0.01:
        assert not mood.known
        return
    expected = correct(cal, est.modality, est.probs, NOW)
    assert all(math.isclose(mood.probs[k], expected[k], abs_tol=1e-9) for k in EMOTIONS)
    assert math.isclose(mood.confidence, evidence, abs_tol=1e-9)
    assert dict(mood.contributions) == {est.modality: 1.0}
    if cal == Calibration.default():
        assert all(math.isclose(mood.probs[k], est.probs[k], abs_tol=1e-12) for k in EMOTIONS)
        assert math.isclose(mood.valence, est.valence, abs_tol=1e-9)
        assert math.isclose(mood.arousal, est.arousal, abs_tol=1e-9)


def _kl(p, q):
    return sum(p[k] * math.log(p[k] / max(q[k], 1e-300)) for k in EMOTIONS if p[k] > 0)


@settings(max_examples=150, deadline=None)
@given(
    probs_st,
    probs_st,
    st.floats(0.05, 0.95),
    st.floats(0.05, 0.95),
    st.floats(0.02, 0.9),
    st.sampled_from(["linear", "log_linear"]),
)
def test_a_more_confident_estimate_pulls_harder(pa, pb, conf_b, low, step, rule):
    high = min(1.0, low + step)
    b = EmotionEstimate("voice", pb, 0.0, 0.0, conf_b, "b", at=NOW)

    def moods(**changes):
        return [
            fuse(
                [EmotionEstimate("text", pa, 0.0, 0.0, c, "a", at=NOW), b],
                now=NOW,
                settings=Overlay(pooling=rule, **changes),
            )
            for c in (low, high)
        ]

    # With the clear-text guard on, a lone unsure voice already held to the most it may have against
    # clear words is held in proportion to the words' weight: the text's share can stay the same, never drop.
    guarded = moods()
    assert guarded[1].contributions["text"] >= guarded[0].contributions["text"] - 1e-12
    moods = moods(override_confidence=0.0)  # the pooling itself: strictly harder
    assert moods[1].contributions["text"] > moods[0].contributions["text"]
    if rule == "log_linear":  # the pool moves along the geometric path toward (floored) A
        floor = {k: max(pa[k], 1e-3) for k in EMOTIONS}
        pa = {k: v / sum(floor.values()) for k, v in floor.items()}
    assert _kl(pa, moods[1].probs) <= _kl(pa, moods[0].probs) + 1e-9


@settings(max_examples=150, deadline=None)
@given(
    estimates(max_age=0.0), estimates(modality="text", max_age=0.0), st.floats(0.0, 600.0), st.floats(0.0, 600.0), rules
)
def test_decay_is_monotone(frame, fresh, age1, age2, rule):
    young, old = sorted((age1, age2))
    rule_settings = Overlay(pooling=rule)

    def at_age(age):
        return EmotionEstimate("face", frame.probs, frame.valence, frame.arousal, frame.confidence, "f", at=NOW - age)

    assert decay(young, 45.0) >= decay(old, 45.0)
    alone = [fuse([at_age(age)], now=NOW, settings=rule_settings) for age in (young, old)]
    assert alone[0].confidence >= alone[1].confidence
    mixed = [fuse([at_age(age), fresh], now=NOW, settings=rule_settings) for age in (young, old)]
    assert mixed[0].contributions.get("face", 0.0) >= mixed[1].contributions.get("face", 0.0) - 1e-12


def test_pooling_survives_subnormal_evidence():
    # Found by hypothesis in CI: readings decayed for hours have subnormal evidence, and the
    # weighted sum underflowed to an all-zero distribution (then a division by zero).
    from companion.fusion import pool

    joy = {k: (0.25 if k in ("joy", "surprise", "neutral", "fear") else 0.0) for k in EMOTIONS}
    fear = {k: (0.25 if k in ("fear", "sadness", "anger", "disgust") else 0.0) for k in EMOTIONS}
    for rule in POOLING_RULES:
        mixed = pool([joy, fear], [5e-324, 5e-324], rule)
        assert math.isclose(sum(mixed.values()), 1.0, abs_tol=1e-9), rule
