"""The one prompt builder: run time and training both call `build_messages`.

The reply model was fine-tuned on prompts built here (pipelines/training/reply_data.py), so any
change to the wording or order of these blocks changes what the adapter sees: retrain after one.
Order matters for speed too: llama.cpp reuses a cached prompt prefix, so the static persona
comes first and the per-turn blocks (strategy, mood, facts, memories) after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from companion import rules
from companion.prompting import PROMPTS_DIR, MissingPrompt, render
from companion.trend import Trend
from companion.types import EmotionEstimate, MoodState

HISTORY_TURNS = 3  # earlier turns shown to the model (the training examples carry up to 3 as well)
FEELING_WORDS = {
    "sadness": "a bit down",
    "anger": "a little upset",
    "fear": "a bit worried",
    "disgust": "a bit uneasy",
    "joy": "quite happy",
    "surprise": "surprised",
    "neutral": "a bit quiet",
    "unknown": "a bit quiet",
}


@dataclass(frozen=True)
class TurnContext:
    user: str
    text: str
    mood: MoodState
    estimates: tuple[EmotionEstimate, ...] = ()
    facts: tuple[str, ...] = ()  # sentences about the user, from the store
    memories: tuple[str, ...] = ()  # relevant earlier user turns, retrieved by embedding
    history: tuple[dict[str, str], ...] = ()  # recent turns, oldest first: {"role", "content"}
    trend: Trend | None = None  # the mood trend of recent days, when known
    name: str | None = None

    def last_replies(self, n: int) -> list[str]:
        """Ember's last `n` replies in the history, oldest first."""
        return [t["content"] for t in self.history if t.get("role") == "assistant"][-n:]


# The tables live in prompts/rules/prompt.json, each with why it is there and examples (tests/test_rules.py).
_RULES = rules.load("prompt")
_SPECIAL = _RULES.regex("special")
_INJECTION = _RULES.regex("injection")
_SAFE_NAME = _RULES.regex("safe_name")


def looks_like_injection(text: str) -> bool:
    """A message or stored fact that tries to rewrite the model's instructions."""
    return bool(_INJECTION.search(text))


def sanitize(text: str, limit: int = 600) -> str:
    """User text or a stored fact as prompt content: no chat-template tokens, bounded length."""
    return re.sub(r"\s+", " ", _SPECIAL.sub(" ", text)).strip()[:limit]


@lru_cache(maxsize=32)
def strategy_instruction(name: str) -> str:
    """The one-line instruction of prompts/strategies/<name>.txt."""
    path = PROMPTS_DIR / "strategies" / f"{name}.txt"
    if not path.exists():
        available = sorted(p.stem for p in (PROMPTS_DIR / "strategies").glob("*.txt"))
        raise MissingPrompt(f"no strategy prompt {path}; available: {available}")
    return path.read_text(encoding="utf-8").strip()


def mood_block(mood: MoodState) -> str:
    if not mood.known:
        return render("mood_unknown")
    detail = f"confidence {mood.confidence:.0%}"
    if mood.incongruent:
        detail += "; their words and their face or voice disagree"
    return render("mood_block", mood_label=mood.label, mood_detail=detail)


def memory_blocks(facts: Sequence[str], memories: Sequence[str]) -> dict[str, str]:
    blocks = {}
    kept = [sanitize(f, 120) for f in facts if not looks_like_injection(f)]
    if kept:
        blocks["facts"] = render("memory_block", facts=" ".join(f for f in kept if f))
    recalled = [sanitize(m, 160) for m in memories if not looks_like_injection(m)]
    if recalled:
        blocks["memories"] = render("recall_block", memories=" | ".join(recalled))
    return blocks


def build_messages(
    ctx: TurnContext, *, prompt: str | None, feeling: str = "unknown", facts: Sequence[str] | None = None
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Chat messages for the reply model, and the blocks of its system prompt (for --json and tests).

    `prompt` names a strategy instruction (prompts/strategies), or None for none.
    """
    blocks = {"persona": render("persona")}
    if prompt is not None:
        blocks["strategy"] = strategy_instruction(prompt).replace(
            "{feeling}", FEELING_WORDS.get(feeling, "a bit quiet")
        )
    blocks["mood"] = mood_block(ctx.mood)
    blocks.update(memory_blocks(ctx.facts if facts is None else facts, ctx.memories))
    name = safe_name(ctx.name)
    if name and name.lower() not in blocks.get("facts", "").lower():
        blocks["name"] = f"The user's name is {name}."
    messages = [{"role": "system", "content": " ".join(blocks.values())}]
    recent = list(ctx.history)[-HISTORY_TURNS:] if HISTORY_TURNS else []
    messages += [
        {"role": t["role"], "content": sanitize(t["content"])} for t in recent if t.get("role") in ("user", "assistant")
    ]
    messages.append({"role": "user", "content": sanitize(ctx.text) or ctx.text})
    return messages, blocks


def safe_name(name: str | None) -> str | None:
    """The user's name as a prompt value, or None when it is missing or could carry anything odd."""
    if not name:
        return None
    name = name.strip()
    return name if _SAFE_NAME.match(name) else None
