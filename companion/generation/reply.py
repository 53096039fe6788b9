"""From a turn's context to a reply: plan, prompt, best-of-N, rerank, fallback.

`ReplyPipeline.stream(ctx)` is a generator: it yields text pieces and *returns* a
ReplyOutcome (use `outcome = yield from pipeline.stream(ctx)`). Candidates must be scored
before one is shown, so the chosen reply is streamed in word pieces once it is picked.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from companion.errors import GenerationError
from companion.generation.fallback import FEELING_WORDS, fallback_reply, safe_name, tail_for
from companion.generation.planner import Plan, looks_like_injection, plan as make_plan
from companion.generation.rerank import CandidateScore, Reranker, pick
from companion.generation.shots import ShotPicker, load_strategy
from companion.prompting import render
from companion.types import EmotionEstimate, MoodState, Strategy


@dataclass(frozen=True)
class TurnContext:
    user: str
    text: str
    mood: MoodState
    estimates: tuple[EmotionEstimate, ...] = ()
    facts: tuple[str, ...] = ()          # sentences about the user, from the store
    memories: tuple[str, ...] = ()       # relevant earlier user turns, retrieved by embedding
    history: tuple[dict[str, str], ...] = ()  # recent turns, oldest first: {"role", "content"}
    trend: Any = None                    # companion.fusion.Trend or None
    name: str | None = None
    latency_budget_s: float | None = None  # a deadline for this turn's sampling (spoken turns), else llm's soft budget


@dataclass(frozen=True)
class ReplyOutcome:
    text: str
    strategy: Strategy | None
    flags: tuple[str, ...] = ()
    blocks: dict[str, str] = field(default_factory=dict)  # the prompt blocks used (for --json and tests)
    candidates: tuple[dict[str, Any], ...] = ()          # every candidate with its checks (evaluation, debugging)


_SPECIAL = re.compile(r"<\|[^|>]{0,40}\|>|</?s>|\[/?INST\]|<</?SYS>>|<\|?/?(?:im_start|im_end|system|user|assistant)\|?>",
                      re.I)


def sanitize(text: str, limit: int = 600) -> str:
    """User text or a stored fact as prompt content: no chat-template tokens, bounded length."""
    return re.sub(r"\s+", " ", _SPECIAL.sub(" ", text)).strip()[:limit]


def mood_block(mood: MoodState) -> str:
    if not mood.known:
        return render("mood_unknown")
    detail = f"confidence {mood.confidence:.0%}"
    if mood.incongruent:
        detail += "; their words and their face or voice disagree"
    return render("mood_block", mood_label=mood.label, mood_detail=detail)


def memory_blocks(ctx: TurnContext, facts: Sequence[str] | None = None) -> dict[str, str]:
    blocks = {}
    facts = [sanitize(f, 120) for f in (ctx.facts if facts is None else facts) if not looks_like_injection(f)]
    if facts:
        blocks["facts"] = render("memory_block", facts=" ".join(f for f in facts if f))
    memories = [sanitize(m, 160) for m in ctx.memories if not looks_like_injection(m)]
    if memories:
        blocks["memories"] = render("recall_block", memories=" | ".join(memories))
    return blocks


def build_messages(ctx: TurnContext, system_extra: Sequence[str] = (), *, plan: Plan | None = None,
                   shots: Sequence[Any] = (), facts: Sequence[str] | None = None,
                   history_turns: int = 4) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Chat messages for the model: a short system prompt, exemplars as earlier turns, recent history."""
    blocks = {"persona": render("persona")}
    if plan is not None:
        instruction = load_strategy(plan.prompt).instruction
        blocks["strategy"] = instruction.replace("{feeling}", FEELING_WORDS.get(plan.feeling, "a bit quiet"))
    blocks["mood"] = mood_block(ctx.mood)
    blocks.update(memory_blocks(ctx, facts))
    name = safe_name(ctx.name)
    if name and name.lower() not in blocks.get("facts", "").lower():
        blocks["name"] = f"The user's name is {name}."
    system = " ".join([*blocks.values(), *system_extra])
    messages = [{"role": "system", "content": system}]
    for ex in shots:
        messages += [{"role": "user", "content": ex.user}, {"role": "assistant", "content": ex.assistant}]
    recent = list(ctx.history)[-history_turns:] if history_turns else []
    messages += [{"role": t["role"], "content": sanitize(t["content"])} for t in recent
                 if t.get("role") in ("user", "assistant")]
    messages.append({"role": "user", "content": sanitize(ctx.text) or ctx.text})
    return messages, blocks


_ROLE_TAG = re.compile(r"<\|?/?(?:im_start|im_end|system|user|assistant|endoftext)\|?>"
                       r"|^(?:assistant|user|system|ember)\s*:\s*", re.I | re.M)


def tidy(text: str, max_sentences: int = 2) -> str:
    """Drop chat-template debris and a trailing half sentence; keep it short."""
    text = _ROLE_TAG.sub("", text).strip().strip('"').strip()
    text = re.split(r"\n|(?:^|\s)(?:User|Assistant|Human)\s*:", text)[0].strip()
    sentences = re.split(r"(?<=[.!?])\s+", text)
    if len(sentences) > 1 and not re.search(r"[.!?\"')]$", sentences[-1]):
        sentences = sentences[:-1]
    return " ".join(sentences[:max_sentences]).strip()


def sentences_done(raw: str, n: int = 1, min_words: int = 4) -> bool:
    """True once the sample holds n whole sentences, the first of at least min_words words."""
    ends = len(re.findall(r"[.!?][\"')]?\s+\S", raw))
    return ends >= n and len(tidy(raw, max_sentences=1).split()) >= min_words


def pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


STOP = ("\n", "<|im_end|>", "User:", "user:", "<|im_start|>")
HYBRID = ("reflection", "affirmation", "restatement", "information")


def reply_shape(llm: Any) -> str:
    """"hybrid" (model's first sentence + a curated second one) for the embedded 135M model, whose
    second sentences drift; "free" (whole generated replies) for any bigger model. Setting: llm.reply_shape."""
    shape = getattr(llm, "reply_shape", None)
    if shape in ("hybrid", "free"):
        return shape
    embedded = getattr(llm, "backend", "llamacpp") == "llamacpp" and not getattr(llm, "model", None)
    return "hybrid" if embedded else "free"


class ReplyPipeline:
    """Plan a strategy, sample N candidates, keep the best that passes every check, else a template."""

    def __init__(self, generator: Any, llm: Any, *, text_analyzer: Any = None, embedder: Any = None, **_unused: Any):
        self.generator = generator
        self.llm = llm
        self.n = int(getattr(llm, "candidates", 4) or 1)
        self.budget_s = float(getattr(llm, "latency_budget_s", 2.0))
        self.max_tokens = min(int(getattr(llm, "max_tokens", 48)), 64)
        self.embedder = embedder
        self.reranker = Reranker(text_analyzer, embedder, min_relevance=float(getattr(llm, "min_relevance", 0.25)),
                                 min_typicality=float(getattr(llm, "min_typicality", 0.45)))
        self.shots = ShotPicker(embedder, k=int(getattr(llm, "shots", 3)))
        self.hybrid = reply_shape(llm) == "hybrid"

    def candidates(self, messages: list[dict[str, str]], ctx: TurnContext, plan: Plan
                   ) -> Iterator[list[CandidateScore]]:
        """Sample and score candidates one at a time (the caller may stop early).

        Each sample is scored whole and, when it has two sentences, cut after the first: a small
        model's first sentence is usually its best, and the second is where it drifts.
        """
        base_t = float(getattr(self.llm, "temperature", 0.7))
        seed = getattr(self.llm, "seed", None)
        hybrid = self.hybrid and plan.strategy.name in HYBRID
        for i in range(self.n):
            stream = self.generator.stream(
                messages, max_tokens=self.max_tokens, temperature=round(base_t * (0.7 + 0.3 * i), 3),
                top_p=float(getattr(self.llm, "top_p", 0.9)), seed=None if seed is None else seed + i, stop=STOP)
            raw = ""
            try:
                for piece in stream:
                    raw += piece
                    # tidy() keeps two sentences, and a curated tail replaces all but the first in
                    # hybrid replies: decoding more would only cost time.
                    if sentences_done(raw, 1 if hybrid else 2):
                        break
            finally:
                stream.close()
            full = tidy(raw)
            first = tidy(raw, max_sentences=1)
            tail = tail_for(ctx, plan, first) if hybrid else None
            if tail and len(first.split()) >= 4:
                variants, names = [f"{first} {tail}"], ["first_sentence+tail"]
            else:
                variants, names = [full], ["full"]
                if first != full and len(first.split()) >= 5:
                    variants, names = variants + [first], names + ["first_sentence"]
            scored = self.reranker.score(variants, ctx, plan, curated_tail=names[0].endswith("+tail"))
            for score, name in zip(scored, names):
                score.variant = name
            yield scored

    def choose(self, ctx: TurnContext) -> ReplyOutcome:
        """The whole turn without streaming: plan, generate, rerank, fall back."""
        plan = make_plan(ctx)
        facts = self._relevant_facts(ctx)
        shots = self.shots.pick(load_strategy(plan.prompt), plan.feeling, ctx.text)
        messages, blocks = build_messages(ctx, plan=plan, shots=shots, facts=facts)
        blocks = {**blocks, "strategy_name": plan.strategy.name, "strategy_reason": plan.strategy.reason}
        flags = ["injection_suspected"] if "injection" in plan.situation else []
        if plan.prompt == "checkin_trend":
            flags.append("checkin_trend")  # core asks about a low trend at most once a day
        scored: list[CandidateScore] = []
        start = time.perf_counter()
        # llm.latency_budget_s is soft: sampling goes on until a reply passes. A turn's own budget
        # (spoken turns) is a deadline: silence is worse than a curated reply.
        hard = ctx.latency_budget_s is not None
        budget = ctx.latency_budget_s if hard else self.budget_s
        try:
            for done, variants in enumerate(self.candidates(messages, ctx, plan), start=1):
                scored.extend(variants)
                spent = time.perf_counter() - start
                if (hard or pick(scored) is not None) and spent + spent / done > budget:
                    break  # another sample would overrun the budget
        except GenerationError:
            flags.append("generation_failed")
        best = pick(scored)
        if best is not None:
            text, flags = best.text, ["generated", *flags]
            if best.variant.endswith("+tail"):
                flags.append("curated_tail")
        else:
            recent = [t["content"] for t in ctx.history if t.get("role") == "assistant"][-3:]
            text, flags = fallback_reply(ctx, plan, self.embedder, exclude=recent), ["template_fallback", *flags]
        return ReplyOutcome(text=text, strategy=plan.strategy, flags=tuple(flags), blocks=blocks,
                            candidates=tuple(s.to_dict() for s in scored))

    def stream(self, ctx: TurnContext) -> Iterator[str]:
        outcome = self.choose(ctx)
        for piece in pieces(outcome.text):
            yield piece
        return outcome

    def _relevant_facts(self, ctx: TurnContext, k: int = 3) -> list[str]:
        """The name plus the facts closest to the message: a small model loses track of long prompts."""
        facts = list(ctx.facts)
        if len(facts) <= k or self.embedder is None:
            return facts[:k] if len(facts) > k else facts
        import numpy as np

        named = [f for f in facts if f.startswith("The user's name is")]
        rest = [f for f in facts if f not in named]
        vectors = np.asarray(self.embedder.embed([ctx.text, *rest]), dtype=np.float32)
        order = np.argsort(-(vectors[1:] @ vectors[0]))[:max(0, k - len(named))]
        return named + [rest[i] for i in sorted(order)]
