"""Curated replies for when the model's first sentence fails the checks, or the model fails.

Templates live in prompts/fallback/<strategy>.txt, one a line: "<tag> | <text>". They are
written by hand, pass every reranker check by construction of their wording, and are filled
only with what the user told us (their name, a person they named), never with made-up facts.
Among the lines that fit the situation and feeling, the one closest in meaning to the message
is used, so a grief message gets the grief line rather than the lonely-birthday one.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from companion import rules
from companion.generation.planner import Plan
from companion.generation.prompt import FEELING_WORDS, TurnContext, safe_name
from companion.prompting import PROMPTS_DIR

# The tables live in prompts/rules/fallback.json, each with why it is there and examples (tests/test_rules.py).
_RULES = rules.load("fallback")
_RELATION = _RULES.regex("relation")  # "The user's sister is Ana.": family (prompts/rules/family.json) or a friend
MIN_TEMPLATE_MATCH = 0.3
# "my <thing>" in the message becomes " about your <thing>" in a template: the user's own word, so
# the reply is about their message without inventing anything. Two words when the second is a head noun.
_MY = _RULES.regex("my")
_NOT_TOPICS = _RULES["not_topics"].wordset
_HEADS = _RULES["heads"].wordset
_MODIFIERS = _RULES["modifiers"].wordset  # half a topic: "best friend", "old school"


@lru_cache(maxsize=64)
def load_templates(strategy: str) -> tuple[tuple[str, str], ...]:
    """(tag, text) lines of prompts/fallback/<strategy>.txt, or of other.txt when a strategy has none."""
    path = PROMPTS_DIR / "fallback" / f"{strategy}.txt"
    if not path.exists():
        path = PROMPTS_DIR / "fallback" / "other.txt"
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if "|" in line and not line.lstrip().startswith("#"):
            tag, text = line.split("|", 1)
            rows.append((tag.strip(), text.strip()))
    return tuple(rows)


def not_told(relation: str) -> str:
    """The answer when the model named someone else: "your wife" was never given a name."""
    return f"I don't think you've told me your {relation}'s name yet. What is it?"


def told(relation: str, name: str) -> str:
    """The answer when the model said it was never told a name that the facts hold."""
    return f"You told me your {relation} is {name}."


def support_person(facts: Sequence[str]) -> str | None:
    """'your sister Ana' from the fact 'The user's sister is Ana.' (the first person named)."""
    for fact in facts:
        match = _RELATION.match(fact.strip())
        if match and safe_name(match.group(2)):
            return f"your {match.group(1)} {match.group(2).strip()}"
    return None


def topic(text: str) -> str | None:
    """The first "my <thing>" of the message ("driving test", "neighbour"), or None."""
    for match in _MY.finditer(text):
        first, second = match.group(1).lower(), (match.group(2) or "").lower()
        if first in _MODIFIERS and second:
            return f"{first} {second}"
        if first in _NOT_TOPICS:
            continue
        return f"{first} {second}" if second in _HEADS else first
    return None


def slots(ctx: TurnContext, plan: Plan) -> dict[str, str]:
    name = safe_name(ctx.name)
    thing = topic(ctx.text)
    return {
        "comma_name": f", {name}" if name else "",
        "about": f" about your {thing}" if thing else "",
        "support": support_person(ctx.facts) or "someone you trust",
        "other_feeling": FEELING_WORDS.get(plan.feeling, "a bit quiet"),
    }


class _Slots(dict):
    def __missing__(self, key: str) -> str:
        return ""


def fill(template: str, **values: str) -> str:
    """A template with its slots filled; a slot not given is left empty (no KeyError mid-reply)."""
    defaults = {"support": "someone you trust", "other_feeling": FEELING_WORDS["sadness"]}
    return template.format_map(_Slots({**defaults, **values}))


def choices(plan: Plan) -> list[str]:
    """Template lines that fit the plan: situation tags first, then the feeling, then 'any'."""
    rows = load_templates(plan.prompt) or load_templates(plan.strategy.name)
    for wanted in (set(plan.situation), {plan.feeling}, {"any"}):
        picked = [text for tag, text in rows if tag in wanted]
        if picked:
            return picked
    return [text for _, text in rows] or ["I'm here with you{comma_name}. How are you feeling right now?"]


def fallback_reply(ctx: TurnContext, plan: Plan, embedder: Any = None, exclude: Sequence[str] = ()) -> str:
    """The curated reply for this plan, slots filled, closest in meaning to the message."""
    filled = [fill(t, **slots(ctx, plan)) for t in choices(plan)]
    fresh = [t for t in filled if t not in set(exclude)] or filled  # don't repeat the last reply word for word
    if len(fresh) == 1:
        return fresh[0]
    if embedder is not None:
        vectors = np.asarray(embedder.embed([ctx.text, *fresh]), dtype=np.float32)
        sims = vectors[1:] @ vectors[0]
        # A line about another situation reads worse than a general one: the first line of each
        # group is the general one, used unless another is clearly about this message.
        return fresh[int(np.argmax(sims))] if sims.max() >= MIN_TEMPLATE_MATCH else fresh[0]
    return fresh[zlib.crc32(ctx.text.encode("utf-8")) % len(fresh)]
