"""Reply evaluation, base and tuned side by side: `python -m companion eval replies`.

1. Held-out perplexity of supporter/listener turns (test split by conversation: ESConv valid.txt,
   20% of EmpatheticDialogues conversations, written memory questions), base vs adapter, in torch.
2. The project's written set (benchmarks/data/reply_eval.jsonl, 174 messages). Its errors were read
   while the old rules were written, so it is a training set for them: reported, not a goal.
3. Memory questions: the 10 written test cases (names and wordings never trained on).
4. Held-out situations with the human reply (>= 150 from the test split), written to a blind A/B
   file for a reader (artifacts/reply_reading/ab_<variant>.md) and a key kept apart (key_<variant>.json).
   Score a reading with `python -m benchmarks.eval_replies score READING.json KEY.json`.
   Two variants of one draw are compared by a crossover reading (benchmarks/reply_crossover.py).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "reply_eval.jsonl"
EXAMPLES = ROOT / "artifacts" / "reply_data"
READING = ROOT / "artifacts" / "reply_reading"


def load_items(path: Path = DATA) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def estimate(label: str, modality: str = "text", confidence: float = 0.75):
    from companion.types import EMOTIONS, EmotionEstimate, circumplex_position

    probs = {k: (confidence if k == label else (1 - confidence) / (len(EMOTIONS) - 1)) for k in EMOTIONS}
    valence, arousal = circumplex_position(probs)
    return EmotionEstimate(
        modality=modality, probs=probs, valence=valence, arousal=arousal, confidence=confidence, source="eval-label"
    )


def context_for(text: str, analyzer: Any, *, history=(), facts=(), memories=(), name=None, other: str | None = None):
    """The TurnContext core builds: the analyzer's reading fused (plus a disagreeing face, if given)."""
    from companion import fusion
    from companion.generation.prompt import TurnContext
    from companion.types import MoodState

    words = analyzer.analyze(text)
    estimates = [words] if words is not None else []
    if other:
        estimates.append(estimate(other, "face", 0.8))
    mood = fusion.fuse(estimates) if estimates else MoodState.unknown()
    return TurnContext(
        user="eval",
        text=text,
        mood=mood,
        estimates=tuple(estimates),
        facts=tuple(facts),
        memories=tuple(memories),
        history=tuple(history),
        name=name,
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run_turn(pipeline: Any, ctx: Any) -> dict[str, Any]:
    """Drive stream() as core does; time the first piece and the whole reply."""
    t0 = time.perf_counter()
    first = None
    stream = pipeline.stream(ctx)
    while True:
        try:
            next(stream)
            first = first if first is not None else time.perf_counter() - t0
        except StopIteration as stop:
            outcome = stop.value
            break
    whole = time.perf_counter() - t0
    return {
        "reply": outcome.text,
        "flags": list(outcome.flags),
        "problems": list(outcome.problems),
        "first_s": first if first is not None else whole,
        "whole_s": whole,
        "strategy": outcome.strategy.name if outcome.strategy else None,
        "judge": outcome.blocks.get("judge", ""),
    }


def answer_turn(pipeline: Any, ctx: Any, locale: str = "US") -> dict[str, Any]:
    """What the person reads, as Companion answers (core.py): a crisis message gets the fixed crisis reply
    and the model is not called; an unsure reading gets the model's reply and the check-in question.
    (Draw 2038's reading still saw the model's reply to one crisis message: the harness skipped this.)"""
    from companion import crisis

    t0 = time.perf_counter()
    check = crisis.detect(ctx.text, classifier=True, estimates=ctx.estimates)
    if check.is_crisis:
        spent = time.perf_counter() - t0
        return {
            "reply": crisis.crisis_reply(locale, check.category),
            "flags": list(crisis.protocol_flags(check.category)),
            "problems": [],
            "first_s": spent,
            "whole_s": spent,
            "strategy": None,
            "judge": "",
        }
    out = run_turn(pipeline, ctx)
    line = crisis.check_in_to_add(check, ctx.last_replies(1))
    if line:
        out["reply"] = f"{out['reply']} {line}"
        out["flags"].append("crisis_check_in")
    return out


def invented(reply: str, ctx: Any) -> dict[str, bool]:
    from companion.generation import checks

    known = checks.known_text(ctx)
    return {
        "number_or_link": bool(checks.URL.search(reply)) or any(n not in known for n in re.findall(r"\d+", reply)),
        "human_claim": bool(checks.HUMAN_CLAIM.search(reply)),
    }


# Draws already read blindly: their errors were seen (docs/replies.md quotes 20 of them), so they are
# a training set for whoever read them. A new reading draws with a new seed and leaves them out.
# Each group was drawn from what the groups before it left; 2032 and 2033 from the same pool (they
# share 23 situations).
READ_DRAWS = (
    (2026,),
    (2027,),
    (2028,),
    (2029,),
    (2030,),
    (2031,),
    (2032, 2033),
    (2034,),
    (2035,),
    (2036,),
    (2037,),
    (2038,),
    (2039,),
    (2040,),
    (2041,),
    (2042,),
)
DRAW_SIZE = 160  # situations in a reading (--situations)
# read draws of another size (what a later draw leaves out is redrawn at the size it was read); 2042
# took all but one of the 131 the others left
READ_SIZE = {2042: 130}
LAST_OPENINGS_DRAW = 2038  # the last draw made from ED openings and ESConv turns alone
# The test pool is spent after draw 2042 (130 situations: all but one that were left). Later readings
# draw ED openings and ESConv turns of the dev split (--split dev): no model trained on them; dev picked
# the text heads' epoch and crisis thresholds and reports the adapter's perplexity. Draws read there:
READ_DEV_DRAWS: tuple[tuple[int, ...], ...] = ((3001,),)


def _draw(n: int, seed: int, ed: list, es: list) -> list:
    rng = random.Random(seed)
    # a quarter from ESConv; the ED test openings (558) run out after four draws, so ESConv fills in
    n_ed = min(n - n // 4, len(ed))
    if n - n_ed > len(es):  # ESConv's turns ran out too (after draw 2038): ED's later turns fill in
        n_ed = min(n - len(es), len(ed))
    picked = rng.sample(ed, n_ed) + rng.sample(es, n - n_ed)
    rng.shuffle(picked)
    return picked


def heldout_situations(n: int, seed: int = 2036, split: str = "test") -> list[dict[str, Any]]:
    """Situations of `split` with the human reply: ED openings and ESConv turns (>= 8 user words),
    none from a draw read before it (READ_DRAWS, READ_DEV_DRAWS); a read seed reproduces its own draw."""
    from pipelines.training.reply_data import read_ed, read_esconv, targets

    if split not in ("test", "dev"):
        raise SystemExit(f"--split is test or dev, not {split!r}")
    ed_all = list(targets(c for c in read_ed() if c.split == split))
    ed = [t for t in ed_all if t.index == 1]
    es = [
        t
        for t in targets(c for c in read_esconv() if c.split == split)
        if len(t.user_text.split()) >= 8 and t.reply.strategy != "Self-disclosure"
    ]
    if split == "dev":
        for group in READ_DEV_DRAWS:
            if seed in group:
                break
            ed, es = _minus_read(group, ed, es)
    else:
        # Draws up to 2038 used up the ED openings and left 16 ESConv turns, so from draw 2039 on the ED
        # test conversations' later turns (the speaker's second and third, with the turns before them)
        # join the pool. They join only there, so that each earlier read seed still reproduces its draw.
        later = [t for t in ed_all if t.index > 1]
        for group in READ_DRAWS:  # each group of read draws was made from what the groups before it left
            if min(group) > LAST_OPENINGS_DRAW:
                ed, later = ed + later, []
            if seed in group:
                break
            ed, es = _minus_read(group, ed, es)
        else:
            ed += later
    if len(ed) + len(es) < n:
        raise SystemExit(
            f"only {len(ed) + len(es)} held-out {split} situations were never read; ask for fewer (--situations)"
            + (" or read the dev split (--split dev)" if split == "test" else "")
        )
    return _as_situations(_draw(n, seed, ed, es))


def _minus_read(group: tuple[int, ...], ed: list, es: list) -> tuple[list, list]:
    """The pools without the situations of a group of read draws, each redrawn at the size it was read."""
    seen = {(t.conv.conv_id, t.index) for e in group for t in _draw(READ_SIZE.get(e, DRAW_SIZE), e, ed, es)}
    return [t for t in ed if (t.conv.conv_id, t.index) not in seen], [
        t for t in es if (t.conv.conv_id, t.index) not in seen
    ]


def _as_situations(picked: list) -> list[dict[str, Any]]:
    return [
        {
            "id": f"s{i + 1:03d}",
            "corpus": t.conv.corpus,
            "feeling": t.conv.feeling,
            "text": t.user_text,
            "history": list(t.history),
            "human": t.reply.text,
        }
        for i, t in enumerate(picked)
    ]


def write_ab(rows: list[dict[str, Any]], variant: str, seed: int = 7) -> tuple[Path, Path]:
    """The reader's file (no hint of who wrote what) and the key (kept apart)."""
    READING.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    lines = [
        "# Replies to read",
        "",
        "Judge each reply on its own, then say which one the person would rather receive (A, B or tie).",
        "",
    ]
    key = {}
    for row in rows:
        ember_is_a = rng.random() < 0.5
        a, b = (row["reply"], row["human"]) if ember_is_a else (row["human"], row["reply"])
        key[row["id"]] = "A" if ember_is_a else "B"
        lines.append(f"## {row['id']}")
        for turn in row["history"]:
            who = "User" if turn["role"] == "user" else "Responder"
            lines.append(f"- earlier, {who}: {turn['content']}")
        feeling = f" (feeling they named: {row['feeling']})" if row.get("feeling") else ""
        lines += [f"- **User**{feeling}: {row['text']}", f"- **A**: {a}", f"- **B**: {b}", ""]
    ab, key_path = READING / f"ab_{variant}.md", READING / f"key_{variant}.json"
    ab.write_text("\n".join(lines), encoding="utf-8")
    key_path.write_text(json.dumps(key, indent=1), encoding="utf-8")
    return ab, key_path


def score(reading_path: Path, key_path: Path) -> dict[str, float]:
    """A reading ({id: {"A": 0|1, "B": 0|1, "prefer": "A"|"B"|"tie"}}) scored with the key."""
    reading = json.loads(Path(reading_path).read_text())
    key = json.loads(Path(key_path).read_text())
    ids = [i for i in key if i in reading]
    ember = sum(reading[i][key[i]] for i in ids)
    human = sum(reading[i]["B" if key[i] == "A" else "A"] for i in ids)
    win_tie = sum(reading[i]["prefer"] in (key[i], "tie") for i in ids)
    return {
        "n": len(ids),
        "ember_fit": ember / len(ids),
        "reference_fit": human / len(ids),
        "ember_preferred_or_tied": win_tie / len(ids),
    }


def memory_case_ok(reply: str, meta: dict[str, Any]) -> bool:
    """Known: the reply names the fact's value. Unknown: it says so and names nobody from other facts."""
    if meta["known"]:
        value = meta.get("name") or re.sub(r"^The user (?:works as|lives in|likes) |\.$", "", meta["facts"][0])
        return value.lower() in reply.lower()
    others = [re.sub(r"^The user's \w+(?: \w+)? is |\.$", "", f) for f in meta["facts"]]
    says_unknown = re.search(r"\b(?:haven't|have not|didn't|don't think|not sure|don't know|yet)\b", reply, re.I)
    return bool(says_unknown) and not any(o.lower() in reply.lower() for o in others)


def perplexities(n: int, threads: int) -> dict[str, float]:
    import torch

    from pipelines.loading import reply_adapter
    from pipelines.training import lora
    from pipelines.training.reply import encode, load_base, ordered, perplexity, set_lora_scale
    from pipelines.training.reply_data import load

    examples = ordered(load(EXAMPLES, "test"), seed=1)[:n]
    tokenizer, model = load_base(threads)
    lora.attach_file(model, reply_adapter())
    pad = tokenizer.convert_tokens_to_ids("<|im_end|>")
    out = {}
    for corpus in ("ed", "esconv", "memory"):
        enc = [encode(tokenizer, e.messages, e.reply) for e in examples if e.corpus == corpus]
        if not enc:
            continue
        with torch.no_grad():
            out[f"{corpus} tuned"] = perplexity(model, enc, pad)
            set_lora_scale(model, False)
            out[f"{corpus} base"] = perplexity(model, enc, pad)
            set_lora_scale(model, True)
        out[f"{corpus} n"] = len(enc)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "score":
        print(json.dumps(score(Path(argv[1]), Path(argv[2])), indent=1))
        return 0
    parser = argparse.ArgumentParser(prog="python -m companion eval replies", description=__doc__.split("\n")[0])
    parser.add_argument("--situations", type=int, default=DRAW_SIZE, help="held-out situations for the blind reading")
    parser.add_argument(
        "--seed",
        type=int,
        default=3002,
        help="draw of situations (test: 2026-2042 were read, --split test --seed 2027 reproduces the quoted pairs "
        "of docs/replies.md; dev: 3001 was read)",
    )
    parser.add_argument("--split", default="dev", help="dev (default: the test situations are all read) or test")
    parser.add_argument("--ppl-examples", type=int, default=300, help="held-out examples for perplexity (0: skip)")
    parser.add_argument("--written", type=int, default=174, help="messages of the written set (0: skip)")
    parser.add_argument(
        "--variants",
        default="tuned,base",
        help="which models: tuned (as shipped, with the reply judge), tuned-nojudge, base (untuned, no judge), "
        "tuned-merged (the adapter merged into Q8_0 weights)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--temperature", type=float, help="sampling temperature (default: the settings' default)")
    parser.add_argument("--top-p", type=float, help="nucleus mass (default: the settings' default)")
    parser.add_argument("--max-sentences", type=int, help="sentences shown per reply (default: the settings')")
    parser.add_argument(
        "--fresh-memory",
        default="12,13",
        help="draws of 30 written memory cases (reply_memory.cases) whose replies were never read; '' skips",
    )
    parser.add_argument("--out", type=Path, default=READING / "results.json")
    args = parser.parse_args(argv)

    from companion.config import LLMSettings
    from companion.generation.llamacpp import LlamaCppGenerator
    from companion.generation.reply import ReplyPipeline
    from companion.memory.retrieval import dated
    from pipelines.embedding import MiniLMEmbedder
    from pipelines.reply_judge import ReplyJudge
    from pipelines.text import TextEmotionAnalyzer
    from pipelines.training.reply_data import load
    from pipelines.training.reply_memory import MEMORY_NOW, cases, cases_in_context

    results: dict[str, Any] = {"load": _load()}
    if args.ppl_examples:
        print("held-out perplexity (torch, reply tokens) ...", file=sys.stderr)
        results["perplexity"] = perplexities(args.ppl_examples, args.threads)
    analyzer, embedder = TextEmotionAnalyzer(), MiniLMEmbedder()
    situations = heldout_situations(args.situations, args.seed, args.split)
    written = load_items()[: args.written]
    memory = load(EXAMPLES, "test")
    memory = [e for e in memory if e.corpus == "memory"]
    for variant in args.variants.split(","):
        chosen = (("temperature", args.temperature), ("top_p", args.top_p), ("max_sentences", args.max_sentences))
        sampling = {k: v for k, v in chosen if v is not None}
        llm = LLMSettings(adapter="none" if variant == "base" else None, threads=args.threads, **sampling)
        # tuned-merged: the same adapter merged into Q8_0 weights (faster; readers found its replies fit less)
        generator = LlamaCppGenerator(
            adapter=llm.adapter, threads=args.threads, merge_adapter=variant == "tuned-merged"
        )
        judged = variant not in ("base", "tuned-nojudge")  # the judge learnt the tuned model's replies
        judge = ReplyJudge(embedder=embedder, analyzer=analyzer) if judged else None
        pipeline = ReplyPipeline(generator, llm, embedder=embedder, judge=judge)
        run_turn(pipeline, context_for("Hello there.", analyzer))  # warm-up, not counted
        rows = []
        for item in _progress(situations, f"{variant}: held-out situations"):
            ctx = context_for(item["text"], analyzer, history=item["history"])
            out = answer_turn(pipeline, ctx)
            made_up = invented(out["reply"], ctx)
            if "crisis" in out["flags"]:  # the crisis reply's numbers are the hotline's, on purpose
                made_up = dict.fromkeys(made_up, False)
            rows.append({**item, **out, **made_up})
        write_ab(rows, variant)
        wrows = []
        for item in _progress(written, f"{variant}: written set"):
            ctx = context_for(
                item["text"],
                analyzer,
                history=item.get("history", ()),
                facts=item.get("facts", ()),
                name=item.get("name"),
                other=item.get("other"),
            )
            out = run_turn(pipeline, ctx)
            wrows.append({"id": item["id"], "text": item["text"], **out, **invented(out["reply"], ctx)})
        mrows = []
        for ex in memory:
            ctx = context_for(ex.messages[-1]["content"], analyzer, facts=ex.meta["facts"])
            out = run_turn(pipeline, ctx)
            mrows.append(
                {
                    "question": ctx.text,
                    "facts": ex.meta["facts"],
                    "reply": out["reply"],
                    "ok": memory_case_ok(out["reply"], ex.meta),
                }
            )
        crows = []
        for case in cases_in_context("test", 10, 3):  # the same questions inside a conversation
            ctx = context_for(
                case["question"],
                analyzer,
                history=case["history"],
                facts=case["facts"],
                memories=dated(case["memories"], MEMORY_NOW),
            )
            out = run_turn(pipeline, ctx)
            crows.append(
                {
                    "question": ctx.text,
                    "facts": case["facts"],
                    "history": case["history"],
                    "reply": out["reply"],
                    "ok": memory_case_ok(out["reply"], case),
                }
            )
        # Draw 3 (above) was read to write checks.misattributed, draws 4-11 to write and measure
        # checks.denied and the right name said back (docs/replies.md): the default draws were not.
        fresh = [case for seed in args.fresh_memory.split(",") if seed for case in cases("test", 30, int(seed))]
        frows = []
        for case in fresh:
            out = run_turn(pipeline, context_for(case["question"], analyzer, facts=tuple(case["facts"])))
            frows.append({**case, "reply": out["reply"], "ok": memory_case_ok(out["reply"], case)})
        results[variant] = {
            "situations": rows,
            "written": wrows,
            "memory": mrows,
            "memory_in_context": crows,
            "memory_fresh": frows,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    print(table(results))
    return 0


def table(results: dict[str, Any]) -> str:
    variants = [v for v in ("base", "tuned-nojudge", "tuned", "tuned-merged") if v in results]
    lines = ["| measure | " + " | ".join(variants) + " |", "|---|" + "---:|" * len(variants)]
    ppl = results.get("perplexity", {})
    for corpus in ("ed", "esconv", "memory"):
        if f"{corpus} n" in ppl:
            lines.append(
                f"| held-out perplexity, {corpus} (n={ppl[f'{corpus} n']}) | "
                + " | ".join(f"{ppl[f'{corpus} {v}']:.1f}" for v in variants)
                + " |"
            )

    def row(name, fn):
        lines.append(f"| {name} | " + " | ".join(fn(results[v]) for v in variants) + " |")

    for part in ("situations", "written"):
        label = "held-out situations" if part == "situations" else "written set (a training set for the old rules)"
        row(f"{label}: replies", lambda r, p=part: str(len(r[p])))
        row(
            f"{label}: first sentence replaced / later dropped",
            lambda r, p=part: (
                f"{sum('sentence_replaced' in x['flags'] for x in r[p])} / "
                f"{sum('sentence_dropped' in x['flags'] for x in r[p])}"
            ),
        )
        row(
            f"{label}: invented numbers or links / human claims shown",
            lambda r, p=part: f"{sum(x['number_or_link'] for x in r[p])} / {sum(x['human_claim'] for x in r[p])}",
        )
        row(
            f"{label}: first piece p50 / p95 (s)",
            lambda r, p=part: (
                f"{percentile([x['first_s'] for x in r[p]], 0.5):.2f} / "
                f"{percentile([x['first_s'] for x in r[p]], 0.95):.2f}"
            ),
        )
        row(
            f"{label}: whole reply p50 / p95 (s)",
            lambda r, p=part: (
                f"{percentile([x['whole_s'] for x in r[p]], 0.5):.2f} / "
                f"{percentile([x['whole_s'] for x in r[p]], 0.95):.2f}"
            ),
        )
        row(
            f"{label}: second sample drawn / shown (reply judge)",
            lambda r, p=part: (
                f"{sum('judge' in x and '->' in x['judge'] for x in r[p])} / "
                f"{sum('resampled' in x['flags'] for x in r[p])}"
            ),
        )
        row(
            f"{label}: words per reply p50",
            lambda r, p=part: f"{percentile([len(x['reply'].split()) for x in r[p]], 0.5):.0f}",
        )
    row("memory questions answered from the facts", lambda r: f"{sum(x['ok'] for x in r['memory'])}/{len(r['memory'])}")
    row(
        "the same, inside a conversation (earlier turns, dated memories)",
        lambda r: f"{sum(x['ok'] for x in r['memory_in_context'])}/{len(r['memory_in_context'])}",
    )
    row(
        "memory questions, fresh draws never read (--fresh-memory)",
        lambda r: f"{sum(x['ok'] for x in r.get('memory_fresh', []))}/{len(r.get('memory_fresh', []))}",
    )
    return "\n".join(lines) + f"\n\nload average at start: {results.get('load')}"


def _progress(items, desc):
    from tqdm import tqdm

    return tqdm(items, desc=desc, file=sys.stderr)


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


if __name__ == "__main__":
    raise SystemExit(main())
