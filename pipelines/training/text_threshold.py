"""The crisis alarm threshold of trained text heads, picked on dev data read as the app reads it.

    python -m pipelines.training.text_threshold [--weights DIR] [--data ../shared/datasets]

Training calls `pick` on the weights it has just written; this command re-picks it for weights
already trained, and rewrites their config.json, metrics.json and README.md.

Why on whole turns: the app alarms when a message or any one of its sentences crosses the
threshold. Scored per training row (a turn and each of its sentences as separate rows), 0.01 raised
0.7% false alarms on the dev rows, but read per turn it alarmed on 1.6% of the dev turns (and 2.6%
of the held-out test turns). So the false alarms that pick the threshold are counted per dev turn,
by the analyzer the app runs, patterns included.

Rule: two tiers. The check-in threshold is the highest at which patterns-or-head keeps `recall` (95%)
of the written dev crisis sentences (when none does, the highest at the best dev recall). The alarm
(the fixed crisis reply) is at the lowest threshold at which the dev everyday turns (ED + ESConv user
turns of the dev split) show at most 1% false alarms with 90% confidence (the one-sided Wilson upper
bound), and never below the check-in. Between the two, a check-in: the reply ends by asking whether
the person is safe, with no hotline. A missed crisis then still gets the question, and a false
check-in costs one gentle sentence, not a suicide line. (Until 2026-11-30 a head that reached the
recall put the alarm there, whatever the everyday turns said: a run that reached 95.97% dev recall
only at 0.01 would have alarmed on 4.4% of the dev everyday turns.)

Why the bound and not the dev rate itself: dev has about 1,460 everyday turns, so "at most 1%" is
about 14 turns, and the lowest threshold that just meets it is picked where dev happened to be
lucky. Three trainings picked that way alarmed on 1.21%, 1.58% and 1.64% of the held-out test turns.
The bound asks dev for a margin that shrinks as dev grows: on 1,461 turns it allows 9 (0.62%).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

EVERYDAY_FALSE_ALARMS = 0.01  # issue 14's goal for everyday turns
CONFIDENCE_Z = 1.2816  # one-sided 90%: the goal must hold for the dev rate's upper bound (module doc)
GRID = np.round(np.arange(0.95, 0.005, -0.01), 2)


def risks(analyzer, texts: list[str]) -> np.ndarray:
    """The analyzer's crisis risk of each text (the riskiest of the message and its sentences); the
    analyzer batches by itself."""
    return np.asarray([e.details["crisis"]["risk"] if e else 0.0 for e in analyzer.analyze_batch(texts)])


def dev_sets(data_dir: Path) -> dict[str, list[str]]:
    """Dev texts by kind: written crisis sentences, written non-crisis ones, everyday dialogue turns."""
    from pipelines.training import text_dialogue as td
    from pipelines.training.reply_data import read_ed, read_esconv

    rows, _ = td.crisis_rows(data_dir, "dev")
    kinds = np.array(rows.kinds)
    convs = read_ed(data_dir) + read_esconv(data_dir)
    turns = [t.text for c in convs if c.split == "dev" for t in c.turns if t.role == "user"]  # all, as in eval
    return {
        "crisis": [t for t, k in zip(rows.texts, kinds) if k in ("written_self_harm", "written_danger")],
        "written_none": [t for t, k in zip(rows.texts, kinds) if k == "written_none"],
        "goemotions": [t for t, k in zip(rows.texts, kinds) if k == "goemotions"],
        "dialogue_turns": turns,
    }


def upper_bound(rate: float, n: int, z: float = CONFIDENCE_Z) -> float:
    """One-sided Wilson upper confidence bound of a rate seen on n texts."""
    if n == 0:
        return 1.0
    centre = rate + z * z / (2 * n)
    spread = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return float((centre + spread) / (1 + z * z / n))


def pick(analyzer, data_dir: Path, recall: float = 0.95) -> tuple[float, float, dict]:
    """(alarm threshold, check-in threshold, dev scores) for `analyzer`'s crisis head (module doc)."""
    from companion.crisis import detect_patterns

    sets = dev_sets(data_dir)
    risk = {k: risks(analyzer, texts) for k, texts in sets.items()}
    pattern = {k: np.array([detect_patterns(t).is_crisis for t in texts], bool) for k, texts in sets.items()}
    return choose(risk, pattern, recall)


def choose(
    risk: dict[str, np.ndarray], pattern: dict[str, np.ndarray], recall: float = 0.95
) -> tuple[float, float, dict]:
    """The rule of the module doc on dev readings: `risk` and `pattern` (fired or not) per text, for the
    kinds "crisis", "dialogue_turns", "written_none" and "goemotions"."""

    def fired(kind: str, t: float) -> np.ndarray:
        return pattern[kind] | (risk[kind] >= t)

    recalls = np.array([fired("crisis", t).mean() for t in GRID])
    reached = [t for t, r in zip(GRID, recalls) if r >= recall]
    # check-in: recall first (the highest threshold reaching the goal, else the highest at the best recall)
    check_in = float(max(reached) if reached else GRID[np.flatnonzero(recalls == recalls.max())[0]])
    # the alarm keeps everyday false alarms within the goal, even where recall is reached lower down;
    # between the two thresholds: a check-in
    n = len(risk["dialogue_turns"])
    within = [t for t in GRID if upper_bound(fired("dialogue_turns", t).mean(), n) <= EVERYDAY_FALSE_ALARMS]
    alarm = max(check_in, float(min(within)) if within else float(GRID[0]))
    scores = {
        "threshold": alarm,
        "check_in_threshold": check_in,
        "recall": float(fired("crisis", alarm).mean()),
        "recall_with_check_in": float(fired("crisis", check_in).mean()),
        "positives": len(risk["crisis"]),
    }
    for kind in ("dialogue_turns", "written_none", "goemotions"):
        scores[f"false_alarm_{kind}"] = float(fired(kind, alarm).mean())
        scores[f"check_in_{kind}"] = float((fired(kind, check_in) & ~fired(kind, alarm)).mean())
        scores[f"n_{kind}"] = len(risk[kind])
    return alarm, check_in, scores


def main(argv: list[str] | None = None) -> int:
    from companion import registry
    from pipelines import loading
    from pipelines.training.text_data import DEFAULT_DATA
    from pipelines.training.text_report import readme

    p = argparse.ArgumentParser(prog="python -m pipelines.training.text_threshold", description=__doc__.split("\n")[0])
    p.add_argument("--weights", type=Path, default=loading.WEIGHTS_DIR / "text", help="trained text heads folder")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--recall", type=float, default=0.95)
    args = p.parse_args(argv)
    loading.torch_threads(None)
    analyzer = registry.create("text", "minilm", weights_dir=str(args.weights))
    alarm, check_in, scores = pick(analyzer, args.data, args.recall)
    config = json.loads((args.weights / "config.json").read_text())
    metrics = json.loads((args.weights / "metrics.json").read_text())
    config["crisis_threshold"], config["crisis_check_in"], metrics["crisis_dev"] = alarm, check_in, scores
    (args.weights / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (args.weights / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    size = (args.weights / "heads.safetensors").stat().st_size
    (args.weights / "README.md").write_text(readme(config, metrics, size))
    print(json.dumps(scores, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
