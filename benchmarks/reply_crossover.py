"""A crossover blind reading of two reply variants on one draw of held-out situations.

    python -m benchmarks.reply_crossover make A.json B.json OUT [--names old,new] [--readers 4]
    python -m benchmarks.reply_crossover score OUT

A.json and B.json are `eval replies` results of the same draw (`--seed`). Every reader reads every
situation once, with one variant's reply and the human reply as A and B in random order: half the
situations with the first variant, half with the second, the halves swapped from one reader to the
next. No reader sees a situation twice, so no reader can tell which side changed, and each variant
is read as often on each situation. The reply given to a reader is the only thing they get:
`READERS/<reader>/replies.md` and `BRIEF.md` (the rubric of ../shared/reply-reading.md); each
writes `reading.json` there ({item: {"A": 0|1, "B": 0|1, "prefer": "A"|"B"|"tie"}}). The keys stay
in OUT, apart from the readers' folders; `score` copies each reading next to its key.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

BRIEF = """Judge each reply on its own. fit = 1 only if ALL hold:
(1) its emotional tone matches what the user expressed: no cheer, celebration or "glad to hear" at bad news, no
    sympathy at good news, no crisis hotline for a non-crisis message;
(2) it is relevant to what the user actually said: not generic filler that could answer anything, not a
    misunderstanding;
(3) it is coherent English, with no garbled or nonsensical phrases;
(4) it invents no facts about the user or others, and does not contradict the user;
(5) it would not hurt or confuse a real person reading it.
Otherwise fit = 0. A short, simple but appropriate reply ("Oh no, I'm so sorry. What happened?") is fit.
Then say which reply the person who wrote the message would rather receive: A, B or tie.
Do not guess which responder is a person or a program: judge only the text.

Write your verdicts to reading.json in this folder, one entry for every item of replies.md:
{"x001": {"A": 0 or 1, "B": 0 or 1, "prefer": "A", "B" or "tie"}, ...}
"""


def situations(results: Path, variant: str = "tuned") -> dict[str, dict[str, Any]]:
    data = json.loads(results.read_text(encoding="utf-8"))
    if variant not in data:
        raise SystemExit(f"{results} has no variant {variant!r} (it has {sorted(data)}): pass --variant")
    return {s["id"]: s for s in data[variant]["situations"]}


def _item_lines(item: str, s: dict[str, Any], a: str, b: str) -> list[str]:
    lines = [f"## {item}"]
    for turn in s["history"]:
        who = "User" if turn["role"] == "user" else "Responder"
        lines.append(f"- earlier, {who}: {turn['content']}")
    feeling = f" (feeling they named: {s['feeling']})" if s.get("feeling") else ""
    return [*lines, f"- **User**{feeling}: {s['text']}", f"- **A**: {a}", f"- **B**: {b}", ""]


def make(sources: dict[str, tuple[Path, str]], out: Path, readers_dir: Path, readers: int = 4, seed: int = 200) -> None:
    """Write each reader's replies.md and BRIEF.md under readers_dir, and the keys and plan under out."""
    names = list(sources)
    sits = {name: situations(path, variant) for name, (path, variant) in sources.items()}
    ids = sorted(sits[names[0]])
    if sorted(sits[names[1]]) != ids:
        raise SystemExit("the two results hold different situations: run eval replies with the same --seed")
    half = len(ids) // 2
    stale = [*out.glob("key_*.json"), *readers_dir.glob("q*/reading.json")]
    if stale:  # a new key beside an old reading would score the old verdicts against new items
        raise SystemExit(f"{stale[0]} is from an earlier reading: choose new folders, or move the old ones away")
    out.mkdir(parents=True, exist_ok=True)
    for r in range(readers):
        first, second = (names, names[::-1])[(r + r // 2) % 2]  # A B B A: each variant read twice per half
        plan = [(i, first) for i in ids[:half]] + [(i, second) for i in ids[half:]]
        rng = random.Random(seed + r)
        rng.shuffle(plan)
        intro = "Judge each reply on its own, then say which one the person would rather receive (A, B or tie)."
        lines = ["# Replies to read", "", intro, ""]
        key = {}
        for n, (sid, name) in enumerate(plan):
            s = sits[name][sid]
            ember_first = rng.random() < 0.5
            a, b = (s["reply"], s["human"]) if ember_first else (s["human"], s["reply"])
            item = f"x{n + 1:03d}"
            key[item] = {"sid": sid, "variant": name, "ember": "A" if ember_first else "B"}
            lines += _item_lines(item, s, a, b)
        folder = readers_dir / f"q{r + 1}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "replies.md").write_text("\n".join(lines), encoding="utf-8")
        (folder / "BRIEF.md").write_text(BRIEF, encoding="utf-8")
        (out / f"key_q{r + 1}.json").write_text(json.dumps(key, indent=1), encoding="utf-8")
    plan_file = {"variants": {n: [str(p), v] for n, (p, v) in sources.items()}, "readers_dir": str(readers_dir)}
    (out / "plan.json").write_text(json.dumps(plan_file, indent=1), encoding="utf-8")
    same = sum(sits[names[0]][i]["reply"] == sits[names[1]][i]["reply"] for i in ids)
    print(f"{readers} readers x {len(ids)} situations; identical replies {same} of {len(ids)}")
    print(f"give each reader only its folder: {readers_dir}/q1 .. q{readers}")


def _sign_test(better: int, worse: int) -> float:
    n = better + worse
    if not n:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(better, worse) + 1)) / 2**n
    return min(1.0, 2 * tail)


def score(out: Path) -> dict[str, Any]:
    """Fit, preferred-or-tied and human fit per variant; fit on the replies that differ, and a sign
    test over those situations (identical replies only add the readers' own noise)."""
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    names = list(plan["variants"])
    sits = {n: situations(Path(p), v) for n, (p, v) in plan["variants"].items()}
    tally: dict[str, dict[str, list[int]]] = {n: defaultdict(list) for n in names}
    by_situation: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for key_file in sorted(out.glob("key_*.json")):
        reader = key_file.stem[len("key_") :]
        reading_file, source = out / f"reading_{reader}.json", Path(plan["readers_dir"]) / reader / "reading.json"
        if source.exists():  # the reader's latest word, kept next to its key (the readers' folders are temporary)
            shutil.copy(source, reading_file)
        elif not reading_file.exists():
            raise SystemExit(f"no reading for {reader}: {source} is missing")
        key, reading = json.loads(key_file.read_text()), json.loads(reading_file.read_text())
        if set(reading) != set(key):
            raise SystemExit(
                f"{reading_file}: {len(set(key) - set(reading))} items unread, {len(set(reading) - set(key))} unknown"
            )
        for item, k in key.items():
            verdict, ember = reading[item], k["ember"]
            human = "B" if ember == "A" else "A"
            t = tally[k["variant"]]
            t["fit"].append(int(verdict[ember]))
            t["human"].append(int(verdict[human]))
            t["preferred_or_tied"].append(int(verdict["prefer"] in (ember, "tie")))
            if sits[names[0]][k["sid"]]["reply"] != sits[names[1]][k["sid"]]["reply"]:
                t["fit_where_replies_differ"].append(int(verdict[ember]))
                by_situation[k["sid"]][k["variant"]].append(int(verdict[ember]))
    better = worse = 0
    for votes in by_situation.values():
        if all(votes[n] for n in names):
            a, b = (sum(votes[n]) / len(votes[n]) for n in names)
            better, worse = better + (b > a), worse + (b < a)
    result: dict[str, Any] = {n: {m: [sum(v), len(v)] for m, v in tally[n].items()} for n in names}
    result["sign_test"] = {"second_better": better, "second_worse": worse, "p": round(_sign_test(better, worse), 3)}
    return result


def table(result: dict[str, Any]) -> str:
    names = [n for n in result if n != "sign_test"]
    lines = ["| measure | " + " | ".join(names) + " |", "|---|" + "--:|" * len(names)]
    for measure in ("fit", "preferred_or_tied", "human", "fit_where_replies_differ"):
        cells = []
        for n in names:
            hit, total = result[n].get(measure, [0, 0])
            cells.append(f"{100 * hit / total:.1f}% ({hit}/{total})" if total else "-")
        lines.append(f"| {measure.replace('_', ' ')} | " + " | ".join(cells) + " |")
    s = result["sign_test"]
    lines.append(
        f"\nsituations whose replies differ, {names[1]} better {s['second_better']}, "
        f"worse {s['second_worse']} (sign test p {s['p']})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make", help="write the readers' files and the keys")
    m.add_argument("first", type=Path, help="eval replies results of the first variant")
    m.add_argument("second", type=Path, help="... and of the second, on the same draw")
    m.add_argument("out", type=Path, help="where the keys and the plan go (never shown to a reader)")
    m.add_argument("--names", default="old,new", help="names of the two variants")
    m.add_argument("--variant", default="tuned,tuned", help="which variant of each results file")
    m.add_argument("--readers", type=int, default=4)
    m.add_argument("--readers-dir", type=Path, help="where the readers' folders go (default /tmp/ember-reading/OUT)")
    s = sub.add_parser("score", help="score the readings against the keys")
    s.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "make":
        names, variants = args.names.split(","), args.variant.split(",")
        sources = {names[0]: (args.first, variants[0]), names[1]: (args.second, variants[1])}
        readers_dir = args.readers_dir or Path("/tmp/ember-reading") / args.out.name
        make(sources, args.out, readers_dir, args.readers)
    else:
        result = score(args.out)
        (args.out / "score.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
        print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
