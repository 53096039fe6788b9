"""Fusion evaluation: `python -m companion eval fusion` (or `python -m benchmarks.eval_fusion`).

1. Scenario table: congruent, incongruent, missing modalities, stale frames, carry-over, calibration.
2. Simulation: synthetic users whose analyzers carry personal biases; accuracy of the fused mood
   against the simulated truth with no calibration, and with baselines plus K = 0, 5, 10, 20
   feedbacks, for each pooling rule; ablations of each calibration part. Table + PNG plot.
Exit status 1 when a scenario misses its expectation.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmarks.fusion_sim import (
    NOW,
    USER_KINDS,
    Overlay,
    ci95,
    default_sim_settings,
    measure_population,
    run_condition,
    scenarios,
    simulate_user,
)
from companion.fusion import POOLING_RULES, fuse

FEEDBACKS = (0, 5, 10, 20)
DEFAULT_RULE = "linear"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "artifacts" / "fusion_calibration.png"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731 - a one-line helper reads better inline
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def scenario_table() -> tuple[str, int]:
    rows, failures = [], 0
    for sc in scenarios():
        mood = fuse(sc.estimates, previous=sc.previous, now=NOW, calibration=sc.calibration)
        ok = (
            mood.label == sc.expect_label
            and mood.incongruent == sc.expect_incongruent
            and (not sc.expect_incongruent or mood.disagreeing == sc.expect_disagreeing)
            and (sc.check is None or sc.check(mood))
        )
        failures += not ok
        shares = " ".join(f"{m}:{w:.2f}" for m, w in mood.contributions.items()) or "-"
        rows.append(
            [
                sc.name,
                f"{mood.label} ({sc.expect_label})",
                f"{mood.confidence:.2f}",
                f"{mood.valence:+.2f}",
                "yes" if mood.incongruent else "no",
                ",".join(mood.disagreeing) or "-",
                shares,
                "ok" if ok else "FAIL",
            ]
        )
    return table(
        ["scenario", "label (expected)", "conf", "valence", "incongruent", "disagreeing", "contributions", "check"],
        rows,
    ), failures


RULE_COLUMNS = ("none", "K0", "K20")  # what the pooling comparison runs for every rule


def conditions(base: Overlay) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rule in POOLING_RULES:
        st = base.but(pooling=rule)
        out[f"{rule}/none"] = dict(calibrate=False, feedbacks=0, settings=st)
        for k in FEEDBACKS if rule == DEFAULT_RULE else (0, 20):
            out[f"{rule}/K{k}"] = dict(feedbacks=k, settings=st)
    lin = base.but(pooling=DEFAULT_RULE)
    out["ablation/equal weights, none"] = dict(
        calibrate=False, feedbacks=0, settings=lin.but(weights={"text": 1.0, "voice": 1.0, "face": 1.0})
    )
    out["ablation/population reference, K0"] = dict(feedbacks=0, settings=lin.but(baseline_reference="population"))
    out["ablation/no bias correction, K20"] = dict(feedbacks=20, settings=lin.but(bias_prior=1e12))
    out["ablation/no reliability update, K20"] = dict(feedbacks=20, settings=lin.but(learning_rate=1e-12))
    out["ablation/learning_rate 0.1, K20"] = dict(feedbacks=20, settings=lin.but(learning_rate=0.1))
    return out


def simulate(users: int, warm: int, test: int, base: Overlay) -> dict[str, dict[str, list[tuple[float, float]]]]:
    runs = conditions(base)
    results: dict[str, dict[str, list[tuple[float, float]]]] = {kind: {c: [] for c in runs} for kind in USER_KINDS}
    for ki, kind in enumerate(USER_KINDS):
        start = time.perf_counter()
        for u in range(users):
            turns = simulate_user(kind, 1000 * ki + u, warm + test)
            for name, kw in runs.items():
                results[kind][name].append(run_condition(turns, warm=warm, order_seed=u, **kw))
        print(f"  simulated {users} users '{kind}' in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return results


def _acc(values: list[tuple[float, float]]) -> float:
    return float(np.mean([a for a, _ in values]))


def _fmt(values: list[tuple[float, float]]) -> str:
    return f"{_acc(values):.3f}"


def report(results: dict[str, dict[str, list[tuple[float, float]]]], rule: str) -> str:
    cols = ["none"] + [f"K{k}" for k in FEEDBACKS]
    rows = []
    for kind, res in results.items():
        gain = [a - b for (a, _), (b, _) in zip(res[f"{rule}/K20"], res[f"{rule}/none"])]
        rows.append([kind] + [_fmt(res[f"{rule}/{c}"]) for c in cols] + [f"{np.mean(gain):+.3f} ± {ci95(gain):.3f}"])
    return table(["user", "no calibration", "baselines (K=0)", "K=5", "K=10", "K=20", "K=20 - none (95% CI)"], rows)


def pooling_report(results: dict[str, dict[str, list[tuple[float, float]]]]) -> str:
    rows = []
    for rule in POOLING_RULES:
        row = [rule + (" (default)" if rule == DEFAULT_RULE else "")]
        for c in RULE_COLUMNS:
            row.append(f"{np.mean([_acc(res[f'{rule}/{c}']) for res in results.values()]):.3f}")
        nll = np.mean([n for res in results.values() for _, n in res[f"{rule}/K20"]])
        worst = min(_acc(res[f"{rule}/K20"]) for res in results.values())
        rows.append(row + [f"{nll:.3f}", f"{worst:.3f}"])
    return table(["pooling", "no calibration", "K=0", "K=20", "NLL of truth, K=20", "worst user kind, K=20"], rows)


def ablation_report(results: dict[str, dict[str, list[tuple[float, float]]]]) -> str:
    names = [
        "linear/none",
        "ablation/equal weights, none",
        "linear/K0",
        "ablation/population reference, K0",
        "linear/K20",
        "ablation/no bias correction, K20",
        "ablation/no reliability update, K20",
        "ablation/learning_rate 0.1, K20",
    ]
    rows = [
        [n.split("/", 1)[1] if n.startswith("ablation") else f"default ({n.split('/')[1]})"]
        + [_fmt(results[kind][n]) for kind in USER_KINDS]
        for n in names
    ]
    return table(["condition (linear pooling)", *USER_KINDS], rows)


def plot(results: dict[str, dict[str, list[tuple[float, float]]]], rule: str, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = list(FEEDBACKS)
    for kind, res in results.items():
        (line,) = left.plot(xs, [_acc(res[f"{rule}/K{k}"]) for k in xs], marker="o", label=kind)
        left.axhline(_acc(res[f"{rule}/none"]), color=line.get_color(), linestyle=":", linewidth=1)
    left.set(
        title=f"Fused accuracy vs feedbacks ({rule} pooling)\ndotted: no calibration",
        xlabel="feedbacks K (after 60 observed turns)",
        ylabel="accuracy vs simulated truth",
    )
    left.legend(fontsize=8)
    for i, r in enumerate(POOLING_RULES):
        means = [np.mean([_acc(res[f"{r}/{c}"]) for res in results.values()]) for c in RULE_COLUMNS]
        right.bar([j + 0.27 * (i - 1) for j in range(len(RULE_COLUMNS))], means, width=0.27, label=r)
    right.set_xticks(range(len(RULE_COLUMNS)), ["no calibration", "K=0", "K=20"])
    right.set(title="Pooling rules, mean over user kinds", ylabel="accuracy")
    right.set_ylim(0.6, 0.75)
    right.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m companion eval fusion",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=20, help="simulated users per kind (default 20)")
    parser.add_argument("--warm", type=int, default=60, help="observed turns before testing; feedbacks come from them")
    parser.add_argument("--turns", type=int, default=150, help="test turns per user (default 150)")
    parser.add_argument("--quick", action="store_true", help="3 users per kind, 60 test turns (smoke run)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"plot path (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.turns = 3, 60
    if args.users < 1 or args.turns < 1 or args.warm < max(FEEDBACKS):
        parser.error(f"--users and --turns must be >= 1 and --warm >= {max(FEEDBACKS)}")

    scen, failures = scenario_table()
    print("## Scenarios (default settings)\n" + scen + "\n")

    accuracy, priors = measure_population()
    base = default_sim_settings(accuracy, priors)
    print(
        "## Simulated analyzers (held-out, population)\n"
        + table(
            ["channel", "accuracy", "weight = log((K-1) acc / (1 - acc))"],
            [[m, f"{a:.3f}", f"{base.weights[m]:.3f}"] for m, a in accuracy.items()],
        )
        + "\n"
    )

    start = time.perf_counter()
    results = simulate(args.users, args.warm, args.turns, base)
    rule = DEFAULT_RULE
    print(
        f"## Calibration: fused accuracy, {args.users} users per kind, {args.turns} test turns each "
        f"({rule} pooling)\n" + report(results, rule) + "\n"
    )
    print(
        "## Pooling rules: mean accuracy over user kinds (and NLL of the true label)\n" + pooling_report(results) + "\n"
    )
    print("## Ablations: accuracy per user kind\n" + ablation_report(results) + "\n")
    out = plot(results, rule, args.out)
    print(f"plot: {out}\nsimulation took {time.perf_counter() - start:.0f} s")
    if failures:
        print(f"{failures} scenario(s) FAILED", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
