"""Fusion scenarios from issue 14: a sense is trusted as far as it has earned.

The inputs are EmotionEstimates built by hand (what the analyzers hand to fusion); fusion itself
is the unit under test and runs for real, with the shipped FusionSettings defaults unless a
test says otherwise.
"""

from __future__ import annotations

import pytest

from benchmarks.fusion_sim import NOW, estimate
from companion.calibration import RELIABILITY_MAX
from companion.config import FusionSettings
from companion.fusion import Calibration, fuse, learn
from companion.types import EmotionEstimate, MoodState

DEFAULTS = FusionSettings()

# `bench voice`: "I finally finished the marathon this morning!" read by the text model as joy, and
# by the voice model, from the espeak-ng voice, as anger. The voice reading is the one measured on
# that clip (docs/fusion.md, "Where the reliabilities come from"): anger 0.991 at confidence 0.93,
# its own valence regression +0.13.
MARATHON_TEXT = estimate("text", {"joy": 0.8, "surprise": 0.1, "neutral": 0.1}, 0.8)
MARATHON_VOICE = {"anger": 0.991, "joy": 0.008, "neutral": 0.001}


def voice(probs, confidence: float, valence: float | None = None) -> EmotionEstimate:
    e = estimate("voice", probs, confidence)
    return e if valence is None else EmotionEstimate("voice", e.probs, valence, e.arousal, confidence, "sim", at=NOW)


# ---------------------------------------------------------------- (a) the marathon


def test_marathon_the_synthetic_voice_does_not_turn_good_news_into_anger():
    measured = fuse([MARATHON_TEXT, voice(MARATHON_VOICE, 0.93, 0.131)], now=NOW)
    assert measured.label == "joy"
    # the voice still has a say: the mood is less sure than the words alone
    assert 0 < measured.contributions["voice"] < measured.contributions["text"]
    assert measured.confidence < fuse([MARATHON_TEXT], now=NOW).confidence
    # the same reading at the unsure level of the example
    assert fuse([MARATHON_TEXT, voice(MARATHON_VOICE, 0.45)], now=NOW).label == "joy"


def test_voice_reliability_is_the_out_of_domain_one():
    # voice weight = w(0.28) / w(0.68) with w = reliability_from_accuracy (docs/fusion.md)
    assert DEFAULTS.accuracies["voice"] == 0.28 and DEFAULTS.weights["voice"] == 0.33
    assert DEFAULTS.weights["voice"] < DEFAULTS.weights["face"] < DEFAULTS.weights["text"]


# ---------------------------------------------------------------- a lone unsure sense vs clear words

CLEAR_JOY = {"joy": 0.6, "sadness": 0.25, "neutral": 0.15}  # confidence 0.6: a clear reading
UNSURE_SAD_FACE = {"sadness": 0.56, "neutral": 0.3, "fear": 0.14}  # confidence 0.487 (< 0.5)


def test_a_lone_unsure_face_cannot_override_clear_words():
    words, face = estimate("text", CLEAR_JOY, 0.6), estimate("face", UNSURE_SAD_FACE, 0.487)
    mood = fuse([words, face], now=NOW)
    assert mood.label == "joy"
    # ... but it is heard: sadness is pulled up to just under joy, and the mood is less sure
    assert mood.probs["sadness"] > CLEAR_JOY["sadness"] and mood.contributions["face"] > 0.2
    assert mood.confidence < fuse([words], now=NOW).confidence
    # the guard is the setting: 0 switches it off, and then the face wins as it used to
    assert fuse([words, face], now=NOW, settings=FusionSettings(override_confidence=0.0)).label == "sadness"


def test_a_gated_sense_can_still_mark_incongruence():
    words = estimate("text", {"joy": 0.65, "sadness": 0.2, "neutral": 0.15}, 0.65)
    face = estimate("face", {"sadness": 0.9, "neutral": 0.1}, 0.6)
    strict = FusionSettings(override_confidence=0.7)  # the face (0.6) is below it: it may not override
    mood = fuse([words, face], now=NOW, settings=strict)
    assert mood.label == "joy" and mood.incongruent and mood.disagreeing == ("text", "face")
    assert fuse([words, face], now=NOW).label == "sadness"  # at the default 0.5 it has earned the override


def test_the_guard_needs_clear_words_and_a_lone_unsure_sense():
    face = estimate("face", UNSURE_SAD_FACE, 0.487)
    unsure_words = estimate("text", CLEAR_JOY, 0.5)  # below clear_text_confidence (0.6)
    assert fuse([unsure_words, face], now=NOW).label == "sadness"
    # voice and face agreeing against the words are not a lone reading: together they override,
    # though neither would alone
    words = estimate("text", CLEAR_JOY, 0.6)
    sad_voice = estimate("voice", {"sadness": 0.8, "neutral": 0.2}, 0.45)
    softer_face = estimate("face", {"sadness": 0.5, "neutral": 0.35, "fear": 0.15}, 0.45)
    assert fuse([words, sad_voice], now=NOW).label == "joy" == fuse([words, softer_face], now=NOW).label
    assert fuse([words, softer_face, sad_voice], now=NOW).label == "sadness"
    # when something else outweighs the words (here a fresh sad mood), the face is not the one
    # overriding them and keeps its full say
    sad_mood = MoodState({"sadness": 0.75, "neutral": 0.15, "fear": 0.1}, -0.6, -0.3, 0.9, {"face": 1.0}, at=NOW)
    carried = fuse([words, face], previous=sad_mood, now=NOW)
    assert carried.label == "sadness"
    assert (
        carried.to_dict()
        == fuse([words, face], previous=sad_mood, now=NOW, settings=FusionSettings(override_confidence=0.0)).to_dict()
    )


# ---------------------------------------------------------------- (b), (c) incongruence

MASKING = {"neutral": 0.40, "sadness": 0.30, "joy": 0.15, "fear": 0.05, "anger": 0.05, "surprise": 0.05}
SAD_FACE_041 = {"sadness": 0.494, "neutral": 0.35, "fear": 0.08, "anger": 0.076}  # face confidence 0.41


def masking_text(confidence: float = 0.40, valence: float = -0.1) -> EmotionEstimate:
    e = estimate("text", MASKING, confidence)
    return EmotionEstimate("text", e.probs, valence, e.arousal, confidence, "sim", at=NOW)


@pytest.mark.parametrize("other", ["face", "voice"])
def test_im_fine_really_with_a_sad_face_or_voice_is_incongruent(other):
    mood = fuse([masking_text(), estimate(other, SAD_FACE_041, 0.41)], now=NOW)
    assert mood.incongruent and mood.disagreeing == ("text", other)
    assert mood.label != "joy"


def test_masking_needs_unsure_not_positive_words_and_a_negative_sense():
    face = estimate("face", SAD_FACE_041, 0.41)
    # clearly positive and confident words with a mildly sad face at low confidence: no clash
    assert not fuse([estimate("text", {"joy": 0.8, "neutral": 0.2}, 0.8), face], now=NOW).incongruent
    # unsure but clearly positive words: no clash
    assert not fuse(
        [estimate("text", {"joy": 0.45, "neutral": 0.35, "surprise": 0.2}, 0.45), face], now=NOW
    ).incongruent
    # words read clearly are taken at their word unless the other sense is confident (>= 0.5)
    assert not fuse([masking_text(confidence=0.7), face], now=NOW).incongruent
    # unsure negative words agree with a sad face
    assert not fuse([masking_text(valence=-0.4), face], now=NOW).incongruent
    # a face too unsure to count (0.35, the "unsure disagreement" scenario), or words too faint to read
    assert not fuse([masking_text(), estimate("face", SAD_FACE_041, 0.35)], now=NOW).incongruent
    assert not fuse([masking_text(confidence=0.2), face], now=NOW).incongruent
    # a smiling face is no clash with masking words
    assert not fuse([masking_text(), estimate("face", {"joy": 0.6, "neutral": 0.4}, 0.5)], now=NOW).incongruent


def test_clear_sad_words_and_a_clear_sad_face_agree():
    mood = fuse(
        [
            estimate("text", {"sadness": 0.8, "neutral": 0.1, "fear": 0.1}, 0.8),
            estimate("face", {"sadness": 0.7, "neutral": 0.3}, 0.65),
        ],
        now=NOW,
    )
    assert mood.label == "sadness" and not mood.incongruent and mood.disagreeing == ()


# ---------------------------------------------------------------- (d) a sense that reads this user well


def _voice_reads_them_well(feedbacks: int) -> Calibration:
    """Feedback turns where the user's word matches the voice, and the words read neutral."""
    cal = Calibration.default()
    labels = ("sadness", "anger", "joy", "fear")
    for i in range(feedbacks):
        label, at = labels[i % len(labels)], NOW - 3600 + 60 * i
        turn = [
            estimate("text", {"neutral": 0.6, "joy": 0.2, "sadness": 0.2}, 0.6, at=at),
            estimate("voice", {label: 0.7, "neutral": 0.3}, 0.6, at=at),
        ]
        cal = learn(cal, turn, label, now=at)
    return cal


def test_feedback_raises_the_voice_weight_above_its_default_within_bounds():
    cal = _voice_reads_them_well(10)
    assert cal.reliability("voice") > 1.5 and cal.reliability("text") < 1.0
    turn = [
        estimate("text", {"neutral": 0.6, "joy": 0.2, "sadness": 0.2}, 0.6),
        estimate("voice", {"sadness": 0.7, "neutral": 0.3}, 0.6),
    ]
    plain, personal = fuse(turn, now=NOW), fuse(turn, now=NOW, calibration=cal)
    assert personal.contributions["voice"] > plain.contributions["voice"]
    assert plain.label == "neutral" and personal.label == "sadness"
    assert _voice_reads_them_well(400).reliability("voice") == RELIABILITY_MAX  # bounded


def test_an_earned_voice_may_override_words_that_an_untested_one_may_not():
    words = estimate("text", CLEAR_JOY, 0.6)
    sad_voice = estimate("voice", {"sadness": 0.95, "neutral": 0.05}, 0.45)
    tuned = FusionSettings(weights={"text": 1.0, "voice": 1.0, "face": 0.9})  # so that the voice can outweigh
    assert fuse([words, sad_voice], now=NOW, settings=tuned).label == "joy"  # 0.45 < 0.5: gated
    cal = _voice_reads_them_well(10)  # multiplier > 1.5: 0.45 x it is over 0.5
    assert fuse([words, sad_voice], now=NOW, settings=tuned, calibration=cal).label == "sadness"
