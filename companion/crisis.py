"""Crisis detection and the fixed, caring reply (first version: patterns only; see issue 9)."""
from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERNS = [re.compile(p, re.I) for p in (
    r"\b(kill|hurt|harm)\s+myself\b", r"\bsuicid", r"\bend (my|it all|my life)\b", r"\bwant to die\b",
    r"\bdon'?t want to (live|be alive)\b", r"\bno reason to live\b", r"\bbetter off dead\b",
)]

RESOURCES = {
    "US": "call or text 988 (Suicide & Crisis Lifeline), or 911 in an emergency",
    "UK": "call Samaritans on 116 123, or 999 in an emergency",
}


@dataclass(frozen=True)
class CrisisCheck:
    is_crisis: bool
    reason: str = ""


def detect(text: str) -> CrisisCheck:
    for pattern in _PATTERNS:
        if pattern.search(text):
            return CrisisCheck(True, f"pattern {pattern.pattern}")
    return CrisisCheck(False)


def crisis_reply(locale: str) -> str:
    resource = RESOURCES.get(locale.upper(), RESOURCES["US"])
    return ("I'm really sorry you're feeling this way, and I'm glad you told me. You deserve support from a "
            f"person right now: please {resource}. I'm an AI and I'm here with you, but they can help in ways I can't.")
