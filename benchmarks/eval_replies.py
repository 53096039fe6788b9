"""Reply-quality evaluation: `python -m companion eval replies` (or `python -m benchmarks.eval_replies`).

Runs the reply pipeline (planner, few-shot prompts, best-of-N, reranker, fallbacks) over the
project's own evaluation set (benchmarks/data/reply_eval.jsonl, none of it reused from the
few-shot exemplars), then prints the pass rate of each scorer, the fit rate, the latency and
how often a number or link was invented, and writes every message -> reply pair to a
markdown file for a person to read.

The backend follows the usual settings, so the same command evaluates a bigger model:
  COMPANION_LLM__MODEL=/models/qwen2.5-1.5b-instruct-q4_k_m.gguf python -m benchmarks.eval_replies
  COMPANION_LLM__BACKEND=openai COMPANION_LLM__BASE_URL=http://127.0.0.1:8080/v1 python -m benchmarks.eval_replies
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "reply_eval.jsonl"
CHECKS = ("emotion", "relevance", "safety", "strategy")


def load_items(path: Path = DATA) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def estimate(label: str, modality: str = "text", confidence: float = 0.75):
    from companion.types import EMOTIONS, EmotionEstimate, circumplex_position

    probs = {k: (confidence if k == label else (1 - confidence) / (len(EMOTIONS) - 1)) for k in EMOTIONS}
    valence, arousal = circumplex_position(probs)
    return EmotionEstimate(modality=modality, probs=probs, valence=valence, arousal=arousal,
                           confidence=confidence, source="eval-label")


def mood_of(estimates, incongruent: bool = False, disagreeing: tuple[str, ...] = ()):
    from companion import fusion
    from companion.types import MoodState

    if not estimates:
        return MoodState.unknown()
    mood = fusion.fuse(estimates)
    return replace(mood, incongruent=incongruent, disagreeing=disagreeing) if incongruent else mood


class _Trend(SimpleNamespace):
    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def context_for(item: dict[str, Any], analyzer: Any = None, mood_source: str = "label"):
    """The TurnContext the core would build for this message (mood from the label, or the analyzer)."""
    from companion.generation.reply import TurnContext

    if mood_source == "analyzer" and analyzer is not None:
        words = analyzer.analyze(item["text"])
        estimates = [words] if words is not None else []
    else:
        estimates = [] if item["mood"] == "unknown" else [estimate(item["mood"])]
    if item.get("other"):
        estimates.append(estimate(item["other"], item.get("other_modality", "face"), 0.8))
    mood = mood_of(tuple(estimates), bool(item.get("other")), (item.get("other_modality", "face"),)
                   if item.get("other") else ())
    trend = _Trend(needs_checkin=True, days_low=4) if item.get("trend_checkin") else None
    return TurnContext(user="eval", text=item["text"], mood=mood, estimates=tuple(estimates),
                       facts=tuple(item.get("facts", ())), memories=tuple(item.get("memories", ())),
                       history=tuple(item.get("history", ())), trend=trend, name=item.get("name"))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def invented_links_or_numbers(text: str, ctx: Any) -> bool:
    from companion.generation import grounding

    known = grounding.context_text(ctx)
    return bool(grounding.URL.search(text)) or any(n not in known for n in re.findall(r"\d+", text))


def build(args):
    """The pipeline as the app builds it, from Settings (env variables apply), with CLI overrides."""
    from companion.components import Components
    from companion.config import Settings
    from companion.generation.reply import ReplyPipeline

    settings = Settings()
    llm = settings.llm.model_copy(update={k: v for k, v in (("candidates", args.candidates),
                                                            ("threads", args.threads)) if v is not None})
    settings = settings.model_copy(update={"llm": llm})
    parts = Components(settings)
    analyzer = None if args.no_analyzer else _optional(lambda: parts.analyzer("text"), "text analyzer")
    embedder = _optional(parts.embedder, "embedder")
    pipeline = ReplyPipeline(parts.generator(), llm, text_analyzer=analyzer, embedder=embedder)
    if args.budget is not None:
        pipeline.budget_s = args.budget
    return pipeline, analyzer, embedder, llm


def _optional(make, what: str):
    try:
        return make()
    except Exception as exc:  # the evaluation still runs, and says what was missing
        print(f"warning: {what} unavailable ({exc}); continuing without it", file=sys.stderr)
        return None


def exemplar_overlap(items: list[dict[str, Any]]) -> list[str]:
    from companion.generation.shots import all_exemplars

    shots = {ex.user.strip().lower() for ex in all_exemplars()}
    return [item["id"] for item in items if item["text"].strip().lower() in shots]


def write_markdown(path: Path, rows: list[dict[str, Any]], summary: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Reply evaluation: message -> reply", "", summary, "",
             "| id | mood | strategy | message | reply | path | checks |", "|---|---|---|---|---|---|---|"]
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    for r in rows:
        checks = "ok" if r["fit"] else "; ".join(r["problems"]) or "fail"
        lines.append(f"| {r['id']} | {esc(r['mood'])} | {r['strategy']} | {esc(r['text'])} | {esc(r['reply'])} | "
                     f"{r['path']} | {esc(checks)} |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion eval replies", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="JSONL evaluation set")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "replies.md", help="markdown for reading")
    parser.add_argument("--json", type=Path, default=None, help="also write every candidate and check as JSON")
    parser.add_argument("--limit", type=int, default=None, help="only the first N messages")
    parser.add_argument("--candidates", type=int, default=None, help="best-of-N (default: settings.llm.candidates)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: settings)")
    parser.add_argument("--budget", type=float, default=None, help="latency budget in seconds (stop sampling)")
    parser.add_argument("--mood", choices=("label", "analyzer"), default="label",
                        help="mood from the set's labels (default) or from the text analyzer")
    parser.add_argument("--no-analyzer", action="store_true", help="emotion fit by lexicon only")
    parser.add_argument("--spoken", type=float, nargs="?", const=1.2, default=None, metavar="SECONDS",
                        help="answer as to a voice message: sampling stops at this deadline (default 1.2 s, "
                             "speech.reply_budget_s)")
    args = parser.parse_args(argv)

    items = load_items(args.data)[:args.limit]
    overlap = exemplar_overlap(items)
    pipeline, analyzer, embedder, llm = build(args)
    rows, walls, cpus, per_candidate = [], [], [], defaultdict(list)
    paths, strategies, by_category = Counter(), Counter(), defaultdict(list)
    invented = 0
    from tqdm import tqdm

    for item in tqdm(items, desc="replies", file=sys.stderr):
        ctx = context_for(item, analyzer, args.mood)
        if args.spoken:  # as Companion answers a voice message: the speech budget is a deadline
            ctx = dataclasses.replace(ctx, latency_budget_s=args.spoken)
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = pipeline.choose(ctx)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        final = pipeline.reranker.score([outcome.text], ctx, _plan_of(ctx),
                                        curated_tail="curated_tail" in outcome.flags)[0]
        for cand in outcome.candidates:
            if cand.get("variant", "full") == "first_sentence":  # a cut of a sample already counted
                continue
            for check in CHECKS:
                per_candidate[check].append(cand["checks"][check])
        path = "generated" if "generated" in outcome.flags else "template_fallback"
        paths[path] += 1
        strategies[outcome.strategy.name] += 1
        invented += invented_links_or_numbers(outcome.text, ctx)
        by_category[item["category"]].append(final.passed)
        rows.append({"id": item["id"], "category": item["category"], "mood": ctx.mood.label + (
            f" (words) / {item['other']} ({item.get('other_modality', 'face')})" if item.get("other") else ""),
            "text": item["text"], "reply": outcome.text, "strategy": outcome.strategy.name,
            "reason": outcome.strategy.reason, "path": path, "fit": final.passed, "checks": final.checks,
            "problems": final.problems, "candidates": list(outcome.candidates), "seconds": walls[-1]})
        if args.json:  # rewritten after every message, so a long run can be read while it goes
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    n = len(rows)
    fit = sum(r["fit"] for r in rows)
    table = ["| measure | value |", "|---|---|"]
    for check in CHECKS:
        final_rate = sum(r["checks"][check] for r in rows) / n
        cand = per_candidate[check]
        table.append(f"| {check} pass (final replies / all candidates) | {final_rate:.1%} / "
                     f"{(sum(cand) / len(cand)) if cand else float('nan'):.1%} |")
    table += [f"| **fit (all checks pass)** | **{fit}/{n} = {fit / n:.1%}** |",
              f"| generated / template fallback | {paths['generated']} / {paths['template_fallback']} |",
              f"| invented numbers or links in replies | {invented} |",
              f"| latency wall p50 / p95 (s) | {percentile(walls, .5):.2f} / {percentile(walls, .95):.2f} |",
              f"| CPU time p50 / p95 (s, all threads) | {percentile(cpus, .5):.2f} / {percentile(cpus, .95):.2f} |",
              f"| candidates per turn (N) / sampled mean | {pipeline.n} / "
              f"{statistics.mean(sum(c.get('variant') != 'first_sentence' for c in r['candidates']) for r in rows):.2f} |",
              f"| messages / reused few-shot exemplars | {n} / {len(overlap)} |"]
    cats = " · ".join(f"{c} {sum(v)}/{len(v)}" for c, v in sorted(by_category.items()))
    setup = (f"backend={getattr(llm, 'backend', '?')} model={getattr(llm, 'model', None) or 'embedded SmolLM2-135M'} "
             f"analyzer={'on' if analyzer else 'off (lexicon)'} embedder={'on' if embedder else 'off'} "
             f"mood={args.mood} load={_load()}")
    summary = "\n".join([setup, "", *table, "", f"fit by category: {cats}", "",
                         "strategies: " + ", ".join(f"{k} {v}" for k, v in strategies.most_common())])
    print(summary)
    write_markdown(args.out, rows, summary)
    print(f"\nwrote {args.out}")
    return 0


def _plan_of(ctx):
    from companion.generation.planner import plan

    return plan(ctx)


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


if __name__ == "__main__":
    raise SystemExit(main())
