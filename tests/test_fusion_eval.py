"""The fusion evaluation runs from a fresh clone, and its headline claim holds on a small sample."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import eval_fusion
from benchmarks.fusion_sim import USER_KINDS, default_sim_settings, measure_population, run_condition, simulate_user

pytestmark = pytest.mark.slow


def test_eval_fusion_quick_prints_tables_and_saves_the_plot(tmp_path, capsys):
    out = tmp_path / "fusion.png"
    assert eval_fusion.main(["--users", "2", "--turns", "40", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for heading in ("## Scenarios", "## Calibration", "## Pooling rules", "## Ablations", f"plot: {out}"):
        assert heading in text
    assert "FAIL" not in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _gain(kind: str, users: int, settings) -> float:
    gains = []
    for u in range(users):
        turns = simulate_user(kind, 1000 * USER_KINDS.index(kind) + u, 60 + 120)
        calibrated = run_condition(turns, warm=60, feedbacks=20, settings=settings, order_seed=u)[0]
        plain = run_condition(turns, warm=60, feedbacks=0, settings=settings, calibrate=False)[0]
        gains.append(calibrated - plain)
    return float(np.mean(gains))


def test_calibration_helps_a_biased_user_without_hurting_an_unbiased_one():
    settings = default_sim_settings(*measure_population(2000))
    assert _gain("resting-sad face", 8, settings) > 0.01
    assert _gain("unbiased", 8, settings) > -0.01
