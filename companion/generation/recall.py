"""Answers to "What's my name?" and "What do you remember about me?", said from the stored facts.

The reply model learnt questions about one relative, a job or a place (pipelines/training/
reply_memory.py), never these two: asked them with the name and three facts in its prompt, it said
"I don't think you've told me your name yet" and "I don't think you've told me much yet". What it
remembers is the memory panel, so the answer is that panel in words: nothing invented, nothing left
to a small model's paraphrase. The planner spots the questions (prompts/rules/planner.json).
"""

from __future__ import annotations

from typing import Sequence

from companion.memory.facts import said_to_user

MAX_FACTS = 6  # a reply, not a report: the memory panel lists them all


def recall_reply(kind: str, facts: Sequence[str]) -> str:
    """`kind` is the planner's situation: recall_name or recall_all."""
    said = [s for s in (said_to_user(f) for f in facts) if s]
    names = [s for s in said if s.startswith("your name is ")]
    if kind == "recall_name":
        if names:
            return f"Your name is {names[-1].removeprefix('your name is ')}."
        return "I don't think you've told me your name yet. What should I call you?"
    if not said:
        return "You haven't told me much about yourself yet. I'd love to hear about you."
    others = [s for s in said if s not in names]
    chosen = names[-1:] + others[-(MAX_FACTS - len(names[-1:])) :]  # the name, then the latest others
    listed = chosen[0] if len(chosen) == 1 else ", ".join(chosen[:-1]) + " and " + chosen[-1]
    more = " There's more in your memory panel." if len(said) > len(chosen) else ""
    return f"Here's what you've told me: {listed}.{more}"
