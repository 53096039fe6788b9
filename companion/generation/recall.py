"""Answers to "What's my name?" and "What do you remember about me?", said from the stored facts.

The reply model learnt questions about one relative, a job or a place (pipelines/training/
reply_memory.py), never these two: asked them with the name and three facts in its prompt, it said
"I don't think you've told me your name yet" and "I don't think you've told me much yet". What it
remembers is the memory panel, so the answer is that panel in words: nothing invented, nothing left
to a small model's paraphrase. The planner spots the questions (prompts/rules/planner.json).
"""

from __future__ import annotations

from typing import Sequence

from companion.memory.facts import read_back, said_to_user

MAX_FACTS = 6  # a reply, not a report: the memory panel lists them all


def recall_reply(kind: str, facts: Sequence[str]) -> str:
    """`kind` is the planner's situation: recall_name or recall_all."""
    known = [f for f in map(read_back, facts) if f]
    names = [f for f in known if f.kind == "name"]
    if kind == "recall_name":
        if names:
            return f"Your name is {names[-1].value}."
        return "I don't think you've told me your name yet. What should I call you?"
    if not known:
        return "You haven't told me much about yourself yet. I'd love to hear about you."
    others = [f for f in known if f.kind != "name"]
    chosen = names[-1:] + others[-(MAX_FACTS - len(names[-1:])) :]  # the name, then the latest others
    said = [said_to_user(f) for f in chosen]
    listed = said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]
    more = " There's more in your memory panel." if len(known) > len(chosen) else ""
    return f"Here's what you've told me: {listed}.{more}"
