"""The fuzz targets of `python -m companion fuzz` with a few Hypothesis cases each: no crash, only
documented errors. The command itself runs 1,000 cases per target (over 10,000 in all)."""

from __future__ import annotations

import pytest

from benchmarks import fuzz

EXAMPLES = 15


@pytest.mark.parametrize("target", fuzz.TARGETS, ids=[t.name for t in fuzz.TARGETS])
def test_target_has_no_crash(target):
    result = fuzz.run_target(target, EXAMPLES, seed=1234)
    if result.skipped:
        pytest.skip(result.skipped)
    assert result.counts["crash"] == 0, result.crashes
    assert result.counts["cases"] >= 1
    assert result.counts["ok"] + result.counts["documented"] == result.counts["cases"]


def test_command_prints_counts_per_target(capsys):
    assert fuzz.main(["--examples", "5", "--targets", "user_id,crisis_patterns,fusion"]) == 0
    out = capsys.readouterr().out
    for name in ("user_id", "crisis_patterns", "fusion"):
        assert f"| {name}" in out
    assert "total: 15 cases over 3 targets, 0 crashes" in out
