import math

import pytest

from companion.types import (
    EMOTIONS,
    EmotionEstimate,
    InvalidEstimate,
    MoodState,
    Reply,
    Strategy,
    circumplex_position,
    normalize,
)


def est(**kw):
    base = dict(
        modality="text", probs={"joy": 0.7, "neutral": 0.3}, valence=0.5, arousal=0.2, confidence=0.8, source="test"
    )
    base.update(kw)
    return EmotionEstimate(**base)


def test_emotions_contract():
    assert EMOTIONS == ("neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust")


def test_estimate_fills_missing_labels_and_takes_argmax():
    e = est()
    assert set(e.probs) == set(EMOTIONS)
    assert e.label == "joy"
    assert math.isclose(sum(e.probs.values()), 1.0)


def test_estimate_is_frozen_and_probs_read_only():
    e = est()
    with pytest.raises(AttributeError):
        e.valence = 0.1
    with pytest.raises(TypeError):
        e.probs["joy"] = 1.0


@pytest.mark.parametrize(
    "bad",
    [
        dict(probs={"joy": 0.5}),  # does not sum to 1
        dict(probs={"joy": 1.2, "sadness": -0.2}),  # negative
        dict(probs={"joy": float("nan"), "neutral": 1}),  # NaN
        dict(probs={"happy": 1.0}),  # unknown label
        dict(valence=1.5),
        dict(arousal=-2),
        dict(confidence=1.01),
        dict(confidence=float("nan")),
        dict(modality="smell"),
        dict(at=float("inf")),
    ],
)
def test_estimate_rejects_bad_values(bad):
    with pytest.raises(InvalidEstimate) as info:
        est(**bad)
    assert str(info.value)  # the message says what was wrong


def test_normalize_and_roundtrip():
    probs = normalize([1, 1, 0, 0, 0, 0, 2])
    assert probs["disgust"] == pytest.approx(0.5)
    e = est(probs=probs)
    assert EmotionEstimate.from_dict(e.to_dict()) == e
    with pytest.raises(InvalidEstimate):
        normalize([0] * 7)


def test_mood_unknown_is_not_neutral():
    mood = MoodState.unknown()
    assert mood.known is False and mood.label == "unknown" and mood.confidence == 0.0
    again = MoodState.from_dict(mood.to_dict())
    assert again.known is False


def test_circumplex_signs():
    v, a = circumplex_position({"sadness": 1.0})
    assert v < 0 and a < 0
    v, a = circumplex_position({"joy": 1.0})
    assert v > 0


def test_reply_to_dict_is_json_ready():
    import json

    reply = Reply(
        text="hi",
        mood=MoodState.unknown(),
        estimates=[est()],
        strategy=Strategy("question", "why"),
        flags=["generated"],
    )
    data = json.loads(json.dumps(reply.to_dict()))
    assert data["strategy"]["name"] == "question" and data["estimates"][0]["label"] == "joy"
