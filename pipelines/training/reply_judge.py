"""Train the reply judge (pipelines/reply_judge.py) on the blind readings of Ember's replies.

    python -m pipelines.training.reply_judge                  # train from benchmarks/data/reply_judgments.jsonl
    python -m pipelines.training.reply_judge collect DIR...   # add the readings in DIR (eval replies' folders)

Each reading is a situation of the held-out split (ED/ESConv test conversations), Ember's reply and
the reader's verdict (fit or not). The data file keeps the situation's address (conversation id and
turn) and the reply, never the dataset's text: that is rebuilt from ../shared/datasets, whose
licences do not let the project copy it. Situations are split by conversation for the scores; the
shipped weights learn from all of them. A situation that was read is never drawn for a new reading
(benchmarks/eval_replies.READ_DRAWS), so each new reading measures the judge on situations it never saw.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from pipelines import loading
from pipelines.reply_judge import SOURCE, affect_rows, features
from pipelines.training.text_data import DEFAULT_DATA

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "reply_judgments.jsonl"
FLAGGED_SHARE = 0.2  # the pipeline draws again for the lowest-judged fifth: 20% more samples at most
C = 0.5  # inverse L2 strength, picked by the grouped cross-validation below (0.1, 0.5, 2 tried)


# -- collecting readings --------------------------------------------------------------------------
def _parse_ab(path: Path) -> dict[str, dict]:
    out = {}
    for block in re.split(r"^## ", path.read_text(encoding="utf-8"), flags=re.M)[1:]:
        lines = block.strip().split("\n")
        item: dict = {"history": []}
        for line in lines[1:]:
            if m := re.match(r"- earlier, (\w+): (.*)", line):
                item["history"].append(m.group(2))
            elif m := re.match(r"- \*\*User\*\*(?: \([^)]*\))?: (.*)", line):
                item["user"] = m.group(1)
            elif m := re.match(r"- \*\*([AB])\*\*: (.*)", line):
                item[m.group(1)] = m.group(2)
        out[lines[0].strip()] = item
    return out


def _readings(folder: Path, variant: str) -> list[dict]:
    """Every reading file of one variant in an eval folder ({id: {"A": 0|1, "B": 0|1, ...}})."""
    names = [f"reading_{variant}.json"] + (["reading.json"] if variant == "tuned" else [])
    return [json.loads((folder / n).read_text()) for n in names if (folder / n).exists()]


def collect(folders: list[Path]) -> list[dict]:
    """Ember's replies with their verdicts, addressed by (conversation, turn) of the test split."""
    from pipelines.training.reply_data import read_ed, read_esconv, targets

    index: dict[tuple, tuple[str, int]] = {}
    for t in targets(c for c in (*read_ed(), *read_esconv()) if c.split == "test"):
        index[(t.user_text, tuple(h["content"] for h in t.history))] = (t.conv.conv_id, t.index)
    rows = []
    for folder in folders:
        if (folder / "plan.json").exists():
            rows += _crossover_rows(folder, index)
            continue
        for key_file in sorted(folder.glob("key_*.json")):
            variant = key_file.stem[len("key_") :]
            ab = folder / f"ab_{variant}.md"
            if variant == "base" or not ab.exists():  # the untuned model's replies teach nothing about ours
                continue
            key, situations = json.loads(key_file.read_text()), _parse_ab(ab)
            for reading in _readings(folder, variant):
                for sid, letter in key.items():
                    s = situations.get(sid)
                    address = s and index.get((s.get("user"), tuple(s["history"])))
                    if sid in reading and address:
                        rows.append(
                            {
                                "conv_id": address[0],
                                "index": address[1],
                                "reply": s[letter],
                                "fit": int(reading[sid][letter]),
                                "reading": f"{folder.name}/{variant}",
                            }
                        )
    return rows


def _crossover_rows(folder: Path, index: dict[tuple, tuple[str, int]]) -> list[dict]:
    """The readings of a crossover folder (benchmarks/reply_crossover.py): each reader's key names the
    situation and the variant, whose reply is in that variant's eval results."""
    plan = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    sits = {}
    for name, (path, variant) in plan["variants"].items():
        results = json.loads(Path(path).read_text(encoding="utf-8"))
        sits[name] = {s["id"]: s for s in results[variant]["situations"]}
    rows = []
    for key_file in sorted(folder.glob("key_*.json")):
        reading_file = folder / f"reading_{key_file.stem[len('key_') :]}.json"
        if not reading_file.exists():
            continue
        key, reading = json.loads(key_file.read_text()), json.loads(reading_file.read_text())
        for item, k in key.items():
            s = sits[k["variant"]][k["sid"]]
            address = index.get((s["text"], tuple(t["content"] for t in s["history"])))
            if k["variant"] != "base" and address and item in reading:
                rows.append(
                    {
                        "conv_id": address[0],
                        "index": address[1],
                        "reply": s["reply"],
                        "fit": int(reading[item][k["ember"]]),
                        "reading": f"{folder.name}/{k['variant']}",
                    }
                )
    return rows


# -- training -------------------------------------------------------------------------------------
def load_rows(path: Path = DATA, data_dir: Path = DEFAULT_DATA) -> list[dict]:
    from pipelines.training.reply_data import read_ed, read_esconv

    convs = {c.conv_id: c for c in (*read_ed(data_dir), *read_esconv(data_dir))}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        turns = convs[row["conv_id"]].turns
        row["user"] = turns[row["index"] - 1].text
        row["history_turns"] = min(3, row["index"] - 1)
    return rows


def featurize(rows: list[dict]) -> np.ndarray:
    from pipelines.embedding import MiniLMEmbedder
    from pipelines.text import TextEmotionAnalyzer

    embedder, analyzer = MiniLMEmbedder(), TextEmotionAnalyzer()
    users = sorted({r["user"] for r in rows})
    replies = sorted({r["reply"] for r in rows})
    print(f"reading {len(users)} messages and {len(replies)} replies ...", file=sys.stderr)
    u_vec, u_aff = embedder.embed(users), affect_rows(analyzer, users)
    r_vec, r_aff = embedder.embed(replies), affect_rows(analyzer, replies)
    ui, ri = {u: i for i, u in enumerate(users)}, {r: i for i, r in enumerate(replies)}
    return np.vstack(
        [
            features(
                u_vec[ui[r["user"]]],
                u_aff[ui[r["user"]]],
                r_vec[[ri[r["reply"]]]],
                r_aff[[ri[r["reply"]]]],
                [r["reply"]],
                r["history_turns"],
            )
            for r in rows
        ]
    )


def fit(x, y):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=5000).fit(x, y)


def out_of_fold(x, y, groups, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Each row's p(fit) from a model that never saw its conversation."""
    names = sorted(set(groups))
    fold_of = dict(zip(names, np.random.default_rng(seed).integers(0, folds, len(names))))
    g = np.array([fold_of[n] for n in groups])
    p = np.zeros(len(y))
    for k in range(folds):
        p[g == k] = fit(x[g != k], y[g != k]).predict_proba(x[g == k])[:, 1]
    return p


def flag_table(y, p, floor: float, label: str) -> str:
    from sklearn.metrics import roc_auc_score

    low = p < floor
    auc = roc_auc_score(y, p)
    return f"| {label} | {len(y)} | {auc:.3f} | {low.mean():.0%} | {y[low].mean():.0%} | {y[~low].mean():.0%} |"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "collect":
        had = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
        seen = {json.dumps(r, sort_keys=True) for r in had}
        new = [r for r in collect([Path(a) for a in argv[1:]]) if json.dumps(r, sort_keys=True) not in seen]
        DATA.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in had + new), encoding="utf-8")
        print(
            f"added {len(new)} readings to {DATA} ({len(had) + len(new)} in all): "
            f"{dict(Counter(r['reading'] for r in new))}"
        )
        return 0
    p = argparse.ArgumentParser(prog="python -m pipelines.training.reply_judge", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=loading.WEIGHTS_DIR / "reply_judge")
    args = p.parse_args(argv)
    started = time.perf_counter()
    rows = load_rows(DATA, args.data)
    x, y = featurize(rows), np.array([r["fit"] for r in rows])
    groups = [r["conv_id"] for r in rows]
    p_oof = out_of_fold(x, y, groups)
    floor = float(np.quantile(p_oof, FLAGGED_SHARE))
    header = "| replies judged | readings | AUC | below the floor | fit below | fit above |\n|---|--:|--:|--:|--:|--:|"
    lines = [header, flag_table(y, p_oof, floor, "all, 5 folds by conversation")]
    # each reading group left out in turn: the judge on replies of a reading it never saw (nor their situations)
    for reading in sorted({r["reading"].split("/")[0] for r in rows}):
        held = np.array([r["reading"].startswith(reading + "/") for r in rows])
        seen = {g for g, h in zip(groups, held) if h}
        train = np.array([g not in seen for g in groups])
        if held.sum() and train.sum():
            ph = fit(x[train], y[train]).predict_proba(x[held])[:, 1]
            lines.append(flag_table(y[held], ph, floor, f"{reading} left out"))
    model = fit(x, y)
    args.out.mkdir(parents=True, exist_ok=True)
    config = {
        "source": SOURCE,
        "floor": round(floor, 4),
        "bias": float(model.intercept_[0]),
        "weights": [round(float(w), 6) for w in model.coef_[0]],
        "readings": len(rows),
        "C": C,
    }
    (args.out / "judge.json").write_text(json.dumps(config) + "\n", encoding="utf-8")
    table = "\n".join(lines)
    (args.out / "README.md").write_text(_readme(rows, y, floor, table, time.perf_counter() - started), encoding="utf-8")
    print(table)
    print(f"floor {floor:.3f}; wrote {args.out} in {time.perf_counter() - started:.0f} s")
    return 0


def _readme(rows, y, floor, table, seconds) -> str:
    readings = Counter(r["reading"] for r in rows)
    return f"""# Reply judge ({SOURCE})

`judge.json`: a logistic regression (L2, C={C}) over what the shipped MiniLM encoder and text heads
read from a message and a reply (pipelines/reply_judge.py `features`): p(a blind reader finds the
reply fits). The reply pipeline draws one more sample when a first sentence is judged below the floor
**{floor:.3f}** (the lowest-judged {FLAGGED_SHARE:.0%} of the read replies, out of fold) and keeps
the better judged of the two.

## Data
`benchmarks/data/reply_judgments.jsonl`: {len(rows)} verdicts on Ember's replies ({int(y.sum())} fit,
{y.mean():.0%}) to {len({r['conv_id'] + str(r['index']) for r in rows})} held-out situations
(EmpatheticDialogues and ESConv test conversations), from the blind readings of docs/replies.md,
by reading: {dict(sorted(readings.items()))}. The file holds the replies and the situations'
addresses; their text is read from ../shared/datasets.

## Scores (out of fold: by conversation, or a whole reading left out)
{table}

## Licence
CC BY-NC 4.0: learnt from situations of EmpatheticDialogues and ESConv (CC BY-NC 4.0). Switch it
off with `COMPANION_LLM__JUDGE=none`.

## Retrain
`python -m pipelines.training.reply_judge` ({seconds:.0f} s on 2 cores). New readings join the data
with `python -m pipelines.training.reply_judge collect artifacts/reply_reading`.
"""


if __name__ == "__main__":
    raise SystemExit(main())
