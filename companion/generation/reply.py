"""From a turn's context to a reply: prompt blocks, generation, clean-up.

`ReplyPipeline.stream(ctx)` is a generator: it yields text pieces and *returns* a
ReplyOutcome (use `outcome = yield from pipeline.stream(ctx)`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

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


@dataclass(frozen=True)
class ReplyOutcome:
    text: str
    strategy: Strategy | None
    flags: tuple[str, ...] = ()
    blocks: dict[str, str] = field(default_factory=dict)  # the prompt blocks used (for --json and tests)


def mood_block(mood: MoodState) -> str:
    if not mood.known:
        return render("mood_unknown")
    detail = f"confidence {mood.confidence:.0%}"
    if mood.incongruent:
        detail += "; their words and their face or voice disagree"
    return render("mood_block", mood_label=mood.label, mood_detail=detail)


def memory_blocks(ctx: TurnContext) -> dict[str, str]:
    blocks = {}
    if ctx.facts:
        blocks["facts"] = render("memory_block", facts="\n".join(f"- {f}" for f in ctx.facts))
    if ctx.memories:
        blocks["memories"] = render("recall_block", memories="\n".join(f"- {m}" for m in ctx.memories))
    return blocks


def build_messages(ctx: TurnContext, system_extra: Sequence[str] = ()) -> tuple[list[dict[str, str]], dict[str, str]]:
    blocks = {"persona": render("persona"), "mood": mood_block(ctx.mood), **memory_blocks(ctx)}
    system = "\n\n".join([*blocks.values(), *system_extra])
    messages = [{"role": "system", "content": system}, *ctx.history, {"role": "user", "content": ctx.text}]
    return messages, blocks


_ROLE_TAG = re.compile(r"<\|?/?(?:im_start|im_end|system|user|assistant)\|?>|^(?:assistant|user|system)\s*:\s*",
                       re.I | re.M)


def tidy(text: str, max_sentences: int = 3) -> str:
    """Drop chat-template debris and a trailing half sentence; keep it short."""
    text = _ROLE_TAG.sub("", text).strip()
    sentences = re.split(r"(?<=[.!?])\s+", text)
    if len(sentences) > 1 and not re.search(r"[.!?\"')]$", sentences[-1]):
        sentences = sentences[:-1]
    return " ".join(sentences[:max_sentences]).strip()


class ReplyPipeline:
    """Single-candidate generation (the planner and best-of-N reranker extend this)."""

    def __init__(self, generator: Any, llm: Any, **_components: Any):
        self.generator = generator
        self.llm = llm

    def stream(self, ctx: TurnContext) -> Iterator[str]:
        messages, blocks = build_messages(ctx)
        pieces: list[str] = []
        for piece in self.generator.stream(messages, max_tokens=self.llm.max_tokens, temperature=self.llm.temperature,
                                           top_p=self.llm.top_p, seed=self.llm.seed):
            pieces.append(piece)
            yield piece
        text = tidy("".join(pieces)) or "I'm here with you. Tell me more?"
        return ReplyOutcome(text=text, strategy=None, flags=("generated",), blocks=blocks)
