"""Mood trend over days, for a gentle check-in when low mood persists. Never a diagnosis:
the trend only says "valence has been low on N of the last days"; the wording is the planner's.

Days are 24-hour windows counted back from `now` (no time zone needed, so the function stays
pure). A day's valence is the confidence-weighted mean of that day's known moods.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

from companion.config import FusionSettings, section_or_default
from companion.errors import InvalidInput
from companion.types import MoodState

DAY_S = 86400.0


@dataclass(frozen=True)
class Trend:
    valence_slope_per_day: float  # least-squares slope of daily valence (per day; < 0 = getting lower)
    low_days_share: float  # share of days with data whose valence was below low_valence
    days: int  # days with data in the window
    needs_checkin: bool  # low mood on several recent days: the companion may gently ask
    mean_valence: float = 0.0  # over the days with data
    low_days_recent: int = 0  # low days within the check-in window
    daily: tuple[tuple[int, float], ...] = ()  # (days ago, valence), oldest first

    def to_dict(self) -> dict[str, Any]:
        return {
            "valence_slope_per_day": self.valence_slope_per_day,
            "low_days_share": self.low_days_share,
            "days": self.days,
            "needs_checkin": self.needs_checkin,
            "mean_valence": self.mean_valence,
            "low_days_recent": self.low_days_recent,
            "daily": [list(d) for d in self.daily],
        }


def daily_valence(history: Sequence[MoodState], now: float, window_days: int) -> dict[int, float]:
    """days ago -> confidence-weighted mean valence, for days inside the window with known moods."""
    sums: dict[int, list[float]] = {}
    for mood in history:
        if not isinstance(mood, MoodState):
            raise InvalidInput(f"history must hold MoodState items, got {type(mood).__name__}")
        if not mood.known or mood.confidence <= 0 or mood.at > now:
            continue
        ago = int((now - mood.at) // DAY_S)
        if ago >= window_days:
            continue
        acc = sums.setdefault(ago, [0.0, 0.0])
        acc[0] += mood.confidence * mood.valence
        acc[1] += mood.confidence
    return {ago: s / w for ago, (s, w) in sums.items() if w > 0}


def _slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx > 0 else 0.0


def trend(history: Sequence[MoodState], *, now: float | None = None, settings: FusionSettings | None = None) -> Trend:
    """Trend over the last `trend_days` (14). needs_checkin: within the last `checkin_days` (7), at
    least `checkin_min_low_days` (3) days had valence below `low_valence` (-0.3), and they were at
    least half of the days with data there. Those four are FusionSettings fields; None = defaults."""
    settings = section_or_default(settings, FusionSettings)
    now = time.time() if now is None else float(now)
    if not math.isfinite(now):
        raise InvalidInput(f"now must be a finite unix time, got {now!r}")
    window, low = settings.trend_days, settings.low_valence
    recent_days, min_low = settings.checkin_days, settings.checkin_min_low_days
    daily = daily_valence(history, now, window)
    if not daily:
        return Trend(0.0, 0.0, 0, False)
    low_days = [ago for ago, v in daily.items() if v < low]
    recent = [ago for ago in daily if ago < recent_days]
    low_recent = [ago for ago in low_days if ago < recent_days]
    needs = len(low_recent) >= min_low and 2 * len(low_recent) >= len(recent)
    ordered = sorted(daily.items(), reverse=True)
    return Trend(
        valence_slope_per_day=_slope([(-ago, v) for ago, v in ordered]),
        low_days_share=len(low_days) / len(daily),
        days=len(daily),
        needs_checkin=needs,
        mean_valence=sum(daily.values()) / len(daily),
        low_days_recent=len(low_recent),
        daily=tuple((ago, round(v, 4)) for ago, v in ordered),
    )
