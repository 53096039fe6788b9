"""Mood trend over days and the gentle check-in."""

from __future__ import annotations

import json

import pytest

from companion.fusion import Trend, trend
from companion.types import MoodState

NOW = 1_000_000_000.0
DAY = 86400.0
SAD = {"sadness": 0.7, "neutral": 0.3}
OK = {"neutral": 0.6, "joy": 0.4}


def mood(days_ago: float, valence: float, confidence: float = 0.8, known: bool = True) -> MoodState:
    probs = SAD if valence < 0 else OK
    return MoodState(probs, valence, 0.0, confidence, {"text": 1.0}, at=NOW - days_ago * DAY, known=known)


def test_no_history_no_trend():
    t = trend([], now=NOW)
    assert t == Trend(0.0, 0.0, 0, False)
    assert json.loads(json.dumps(t.to_dict()))["needs_checkin"] is False


def test_low_mood_on_several_recent_days_asks_for_a_checkin():
    history = [mood(d + h / 24, -0.5) for d in range(4) for h in (2, 8)]
    t = trend(history, now=NOW)
    assert t.needs_checkin and t.days == 4 and t.low_days_share == 1.0 and t.low_days_recent == 4
    assert t.valence_slope_per_day == pytest.approx(0.0, abs=1e-9)


def test_two_low_days_or_a_minority_of_low_days_do_not():
    assert not trend([mood(0.1, -0.6), mood(1.1, -0.6), mood(2.1, 0.3)], now=NOW).needs_checkin
    mixed = [mood(d + 0.1, -0.6 if d % 2 else 0.4) for d in range(7)]  # 3 low of 7 days
    t = trend(mixed, now=NOW)
    assert t.low_days_recent == 3 and not t.needs_checkin


def test_slope_follows_a_decline_and_old_or_unknown_moods_are_ignored():
    declining = [mood(d + 0.5, 0.6 - 0.1 * (6 - d)) for d in range(7)]  # valence falls 0.1 a day
    extra = [mood(30, -0.9), mood(0.2, -0.9, known=False), mood(0.2, -0.9, confidence=0.0), mood(-1, -0.9)]
    t = trend(declining + extra, now=NOW)
    assert t.valence_slope_per_day == pytest.approx(-0.1)
    assert t.days == 7 and not t.needs_checkin


def test_a_day_is_confidence_weighted():
    t = trend([mood(0.1, -0.8, confidence=0.1), mood(0.2, 0.4, confidence=0.9)], now=NOW)
    assert t.daily == ((0, pytest.approx(0.28)),)


def test_bad_history_is_rejected():
    with pytest.raises(ValueError, match="MoodState"):
        trend([{"valence": -1}], now=NOW)
