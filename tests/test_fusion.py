"""Fusion: table-driven scenarios, the input boundary, and the contract the core relies on."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks.fusion_sim import NOW, estimate, scenarios
from companion.config import FusionSettings, Settings
from companion.errors import WrongType
from companion.fusion import Calibration, InvalidFusionInput, fuse, learn, observe, pool, reliability_from_accuracy
from companion.types import EMOTIONS, EmotionEstimate, InvalidEstimate, MoodState

SAD = {"sadness": 0.75, "neutral": 0.15, "fear": 0.1}
FINE = {"neutral": 0.7, "joy": 0.25, "sadness": 0.05}


@pytest.mark.parametrize("sc", scenarios(), ids=lambda sc: sc.name)
def test_scenario(sc):
    mood = fuse(sc.estimates, previous=sc.previous, now=NOW, calibration=sc.calibration)
    assert mood.label == sc.expect_label
    assert mood.incongruent == sc.expect_incongruent
    if sc.expect_incongruent:
        assert mood.disagreeing == sc.expect_disagreeing
    else:
        assert mood.disagreeing == ()
    if sc.check is not None:
        assert sc.check(mood), sc.note
    if mood.known:
        assert math.isclose(sum(mood.contributions.values()), 1.0)


# ---------------------------------------------------------------- the boundary


@pytest.mark.parametrize(
    "probs, match",
    [
        ({"neutral": float("nan"), "joy": 1.0}, "finite"),
        ({"neutral": -0.2, "joy": 1.2}, ">= 0"),
        ({"neutral": 0.5, "joy": 0.2}, "sum to 1"),
        ({"neutral": 0.5, "bored": 0.5}, "unknown emotion labels"),
    ],
)
def test_bad_probabilities_are_rejected_where_the_estimate_is_made(probs, match):
    with pytest.raises(InvalidEstimate, match=match):
        EmotionEstimate("text", probs, 0.0, 0.0, 0.5, "test", at=NOW)


def test_future_timestamps_beyond_clock_skew_are_rejected():
    with pytest.raises(InvalidFusionInput, match="in the future"):
        fuse([estimate("face", SAD, 0.8, at=NOW + 60)], now=NOW)
    mood = fuse([estimate("face", SAD, 0.8, at=NOW + 1.5)], now=NOW)  # within the 2 s tolerance
    assert mood.label == "sadness" and math.isclose(mood.confidence, 0.8)
    carried = fuse([], previous=MoodState(SAD, -0.7, -0.4, 0.8, {"face": 1.0}, at=NOW + 60), now=NOW)
    assert carried.label == "sadness" and math.isclose(carried.confidence, 0.8)  # own state: counted as fresh


@pytest.mark.parametrize(
    "bad",
    [
        [{"modality": "text", "probs": SAD}],
        ["sad"],
        [estimate("text", SAD), 0.5],
    ],
)
def test_non_estimates_are_rejected_with_a_hint(bad):
    with pytest.raises(InvalidFusionInput, match="not an EmotionEstimate"):
        fuse(bad, now=NOW)


def test_other_bad_arguments_are_rejected():
    e = estimate("text", SAD)
    with pytest.raises(InvalidFusionInput, match="wrap a single estimate in a list"):
        fuse(e, now=NOW)
    with pytest.raises(InvalidFusionInput, match="previous must be a MoodState"):
        fuse([e], previous={"probs": SAD}, now=NOW)
    with pytest.raises(InvalidFusionInput, match="finite"):
        fuse([e], now=float("nan"))
    with pytest.raises(InvalidFusionInput, match="pooling must be one of"):  # built without validation
        fuse([e], now=NOW, settings=FusionSettings().model_copy(update={"pooling": "median"}))
    with pytest.raises(WrongType, match=r"FusionSettings or None, got Settings \(pass settings.fusion\)"):
        fuse([e], now=NOW, settings=Settings())
    with pytest.raises(WrongType, match="FusionSettings"):
        fuse([e], now=NOW, settings=type("S", (), {"pooling": "linear"})())
    with pytest.raises(InvalidFusionInput, match="feedback label must be one of"):
        learn(Calibration.default(), [e], "meh")


def test_none_items_mean_no_reading_and_duplicates_change_nothing():
    e = estimate("voice", SAD, 0.6)
    once = fuse([e], now=NOW).to_dict()
    assert fuse([None, e, None], now=NOW).to_dict() == once
    assert fuse([e, e, e], now=NOW).to_dict() == once
    text = estimate("text", FINE, 0.7)
    assert fuse([text, e, e], now=NOW).to_dict() == fuse([text, e], now=NOW).to_dict()


def test_accepts_the_real_settings_object_and_weights_switch_a_modality_off():
    face_off = FusionSettings(weights={"text": 1.0, "voice": 0.33, "face": 0.0})
    mood = fuse([estimate("text", FINE, 0.7), estimate("face", SAD, 0.9)], now=NOW, settings=face_off)
    assert dict(mood.contributions) == {"text": 1.0} and mood.label == "neutral"


def test_the_knobs_that_were_literals_are_settings_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("COMPANION_FUSION__LOG_FLOOR", "0.05")
    monkeypatch.setenv("COMPANION_FUSION__CARRY_WEIGHT", "0")
    monkeypatch.setenv("COMPANION_FUSION__MIN_CONFIDENCE", "0.5")
    monkeypatch.setenv("COMPANION_FUSION__BASELINE_REFERENCE", "population")
    monkeypatch.setenv("COMPANION_FUSION__POPULATION_PRIORS", '{"face": {"neutral": 1.0}}')
    fusion = Settings().fusion
    assert (fusion.log_floor, fusion.carry_weight, fusion.min_confidence) == (0.05, 0.0, 0.5)
    assert fusion.baseline_reference == "population" and fusion.population_priors == {"face": {"neutral": 1.0}}
    previous, words = fuse([estimate("text", SAD, 0.9)], now=NOW), [estimate("text", FINE, 0.9, at=NOW + 1)]
    plain = fuse(words, now=NOW + 1).to_dict()
    assert fuse(words, previous=previous, now=NOW + 1).to_dict() != plain  # carried by default
    assert fuse(words, previous=previous, now=NOW + 1, settings=fusion).to_dict() == plain  # carry_weight 0
    assert not fuse([estimate("text", SAD, 0.4)], now=NOW, settings=fusion).known  # below min_confidence
    pair = [estimate("text", {"joy": 1.0}, 0.9), estimate("face", SAD, 0.9)]
    strict, floored = (FusionSettings(pooling="log_linear", log_floor=f) for f in (1e-3, 0.05))
    assert fuse(pair, now=NOW, settings=strict).probs != fuse(pair, now=NOW, settings=floored).probs


def test_without_now_the_clock_is_used():
    import time

    mood = fuse([estimate("text", SAD, 0.7, at=time.time())])
    assert abs(mood.at - time.time()) < 60 and mood.label == "sadness"


# ---------------------------------------------------------------- incongruence


def test_incongruence_needs_confident_channels_on_opposite_sides():
    says_fine, looks_sad = estimate("text", FINE, 0.8), estimate("face", SAD, 0.8)
    assert fuse([says_fine, looks_sad], now=NOW).disagreeing == ("text", "face")
    # the same clash, but the face frame is two minutes old: no longer confident enough to ask about
    stale = estimate("face", SAD, 0.8, at=NOW - 120)
    assert not fuse([says_fine, stale], now=NOW).incongruent
    # two negative readings (sad words, angry voice) are not a clash
    angry = estimate("voice", {"anger": 0.8, "disgust": 0.2}, 0.8)
    assert not fuse([estimate("text", SAD, 0.8), angry], now=NOW).incongruent


# ---------------------------------------------------------------- calibration contract


def _trained() -> Calibration:
    cal = Calibration.default()
    for i in range(30):
        at = NOW - 3600 + i * 60
        turn = [
            estimate("text", FINE, 0.7, at=at),
            estimate("face", SAD, 0.8, at=at),
            estimate("voice", {"neutral": 0.6, "sadness": 0.4}, 0.6, at=at),
        ]
        cal = observe(cal, turn)
        if i % 5 == 0:
            cal = learn(cal, turn, "neutral", now=at)
    return cal


def test_calibration_round_trips_through_json():
    assert Calibration.from_dict(None) == Calibration.default() == Calibration.from_dict({})
    cal = _trained()
    data = json.loads(json.dumps(cal.to_dict()))
    again = Calibration.from_dict(data)
    assert again.to_dict() == cal.to_dict()
    turn = [estimate("face", SAD, 0.8), estimate("text", FINE, 0.6)]
    assert fuse(turn, now=NOW, calibration=again).to_dict() == fuse(turn, now=NOW, calibration=cal).to_dict()


@pytest.mark.parametrize("bad", [[1, 2], {"weights": {"text": float("nan")}}, {"baselines": {"face": 3}}])
def test_malformed_stored_calibration_is_rejected(bad):
    with pytest.raises(InvalidFusionInput):
        Calibration.from_dict(bad)


def test_observe_builds_baselines_and_a_webcam_burst_counts_like_one_turn():
    cal = observe(Calibration.default(), [estimate("face", SAD, at=NOW)])
    assert cal.baseline_weight["face"] == 1.0 and math.isclose(cal.baselines["face"]["sadness"], 0.75)
    burst = observe(cal, [estimate("face", FINE, at=NOW + i) for i in range(1, 31)])
    assert 1.9 < burst.baseline_weight["face"] < 2.1  # 30 frames in 30 s = one more observation
    assert 0.3 < burst.baselines["face"]["neutral"] < 0.5


def test_a_resting_sad_face_is_divided_out_but_shared_low_mood_is_kept():
    tilted = Calibration.default()
    everyone_sad = Calibration.default()
    for i in range(60):
        at = NOW - 86400 + i * 600
        tilted = observe(tilted, [estimate("face", SAD, at=at), estimate("text", FINE, at=at)])
        everyone_sad = observe(everyone_sad, [estimate("face", SAD, at=at), estimate("text", SAD, at=at)])
    face = [estimate("face", {"sadness": 0.55, "neutral": 0.45}, 0.55)]
    plain = fuse(face, now=NOW)
    assert plain.label == "sadness"
    corrected = fuse(face, now=NOW, calibration=tilted)
    assert corrected.label == "neutral" and corrected.probs["sadness"] < plain.probs["sadness"] - 0.2
    assert fuse(face, now=NOW, calibration=everyone_sad).to_dict() == plain.to_dict()
    assert all(p > 0 for p in fuse(face, now=NOW, calibration=tilted).probs.values() if p)  # never zeroed


def test_feedback_moves_weight_to_the_channel_that_agreed():
    turn = [estimate("text", FINE, 0.7), estimate("face", SAD, 0.8)]
    cal = learn(Calibration.default(), turn, "sadness")
    assert cal.reliability("face") > 1.0 > cal.reliability("text")
    assert cal.feedbacks == 1 and cal.label_counts == {"sadness": 1.0}
    assert cal.hits == {"text": 0.0, "face": 1.0} and cal.trials == {"text": 1.0, "face": 1.0}
    assert cal.said["face"] == {"sadness": 1.0} and math.isclose(sum(cal.put["face"].values()), 1.0)


def test_a_channel_that_cannot_read_this_user_fades_within_bounds():
    cal = Calibration.default()
    for i in range(300):
        label = EMOTIONS[i % len(EMOTIONS)]
        said = {k: (0.8 if k == label else 0.2 / 6) for k in EMOTIONS}
        turn = [estimate("text", said, 0.8), estimate("voice", {"anger": 0.8, "neutral": 0.2}, 0.8)]
        cal = learn(cal, turn, label)
    assert cal.reliability("voice") == 0.25 and 1.5 < cal.reliability("text") <= 4.0


def test_bias_correction_learns_a_habit_and_reliability_follows_the_corrected_reading():
    cal = Calibration.default()
    turn = [estimate("text", FINE, 0.9), estimate("voice", {"anger": 0.8, "neutral": 0.2}, 0.8)]
    for _ in range(100):
        cal = learn(cal, turn, "neutral")
    before = fuse([turn[1]], now=NOW).probs["anger"]
    after = fuse([turn[1]], now=NOW, calibration=cal)
    assert after.label == "neutral" and after.probs["anger"] < before / 2  # this voice's "anger" means "neutral"
    assert cal.reliability("voice") > 1.0  # once corrected, it reads this user well


def test_reliability_from_accuracy():
    assert reliability_from_accuracy(1 / 7) == pytest.approx(0.0)
    assert reliability_from_accuracy(0.45) < reliability_from_accuracy(0.55) < reliability_from_accuracy(0.62)
    with pytest.raises(InvalidFusionInput):
        reliability_from_accuracy(1.0)


def test_pool_rules():
    a, b = {k: 0.0 for k in EMOTIONS}, {k: 0.0 for k in EMOTIONS}
    a["joy"], b["sadness"] = 1.0, 1.0
    assert pool([a, b], [3, 1], "linear")["joy"] == pytest.approx(0.75)
    assert pool([a, b], [3, 1], "max_confidence") == a
    geo = pool([a, b], [1, 1], "log_linear")
    assert geo["joy"] == pytest.approx(geo["sadness"]) and sum(geo.values()) == pytest.approx(1.0)
