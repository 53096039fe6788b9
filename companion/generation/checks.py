"""What no sentence of a reply may do: invent numbers, links or names, or claim to be human.

These are the checks every streamed sentence passes before it is shown, and the same checks
drop supporter/listener turns from the reply model's training data (a human listener may say
"my wife had the same thing", an AI must not learn to). Pure functions of text, cheap enough
to run per sentence.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from companion import rules

# The tables live in prompts/rules/checks.json, each with why it is there and examples (tests/test_rules.py).
_RULES = rules.load("checks")
URL = _RULES.regex("url")
PHONE = _RULES.regex("phone")
HOTLINE = _RULES.regex("hotline")
HUMAN_CLAIM = _RULES.regex("human_claim")
SELF_NAME = _RULES.regex("self_name")  # any name but Ember; case-sensitive: "I'm Carla" is a name, "I'm here" is not
DEBRIS = _RULES.regex("debris")
FACT_PERSON = _RULES.regex("fact_person")
CLAIMED_PERSON = _RULES.regex("claimed_person")
DENIED_PERSON = _RULES.regex("denied_person")

# Capitalised words that are never names, and words that may open a sentence before a comma.
_ALLOWED_CAPS = _RULES["allowed_caps"].wordset
_INTERJECTIONS = _RULES["interjections"].wordset
_CONTRACTED = _RULES["contracted"].wordset
_DAYS = _RULES["days"].wordset


def known_text(ctx: Any) -> str:
    """Everything the user has told us this turn, lower-cased: what a reply may mention."""
    parts = [ctx.text, *ctx.facts, *ctx.memories, ctx.name or ""]
    parts += [t.get("content", "") for t in ctx.history]
    return "\n".join(parts).lower()


def invented_names(text: str, known: str) -> list[str]:
    """Capitalised words that look like names and occur nowhere in what the user said."""
    found = []
    for sentence in re.split(r"(?<=[.!?:;\"])\s+", text.strip()):
        words = re.findall(r"[A-Za-z][\w'\-]*|[,!]", sentence)
        for i, word in enumerate(words):
            low = word.lower()
            if not word[0].isupper() or low in _ALLOWED_CAPS or low.split("'")[0] in _ALLOWED_CAPS or low in _DAYS:
                continue
            if low in known or low.removesuffix("'s") in known:
                continue
            if i == 0:  # sentence start: only a vocative ("Sarah, ...") or a possessive counts
                follows = words[1] if len(words) > 1 else ""
                possessive = low.endswith("'s") and low[:-2] not in _CONTRACTED | _INTERJECTIONS
                if follows == "," and low not in _INTERJECTIONS or possessive:
                    found.append(word)
                continue
            found.append(word)
    return found


def problems(text: str, known: str) -> list[str]:
    """Every reason this sentence (or reply) must not be shown; empty when it is safe to show."""
    found: list[str] = []
    if URL.search(text):
        found.append("link or e-mail address")
    numbers = [n for n in re.findall(r"\d+", text) if n not in known]
    if numbers:
        found.append(f"number {numbers[0]} not in the conversation")
    elif PHONE.search(text) and not all(n in known for n in re.findall(r"\d+", text)):
        found.append("phone-like number")
    if HOTLINE.search(text):
        found.append("mentions a hotline (the crisis protocol handles those)")
    if claim := HUMAN_CLAIM.search(text):
        found.append(f"claims a human life: {claim.group(0)!r}")
    if self_name := SELF_NAME.search(text):
        found.append(f"gives itself a name other than Ember ({self_name.group(1)!r})")
    if DEBRIS.search(text):
        found.append("chat-template debris")
    names = invented_names(text, known)
    if names:
        found.append(f"names not in the conversation: {', '.join(names[:3])}")
    return found


def _people(facts: Sequence[str]) -> list[tuple[str, str]]:
    """(relation, name) of each stored fact that names someone ("The user's son is Tariq.")."""
    return [(match.group(1), match.group(2)) for fact in facts if (match := FACT_PERSON.match(fact.strip()))]


def misattributed(text: str, facts: Sequence[str]) -> tuple[str, str, str] | None:
    """(relation said, name, relation the facts give) when the text gives a name the user told us to the
    wrong person: "your wife is called Tariq" when the facts say Tariq is their son. The name check above
    passes such a sentence (the name was given), yet it contradicts what the user said."""
    owners: dict[str, set[str]] = {}
    for relation, name in _people(facts):
        owners.setdefault(name.lower(), set()).add(relation.split()[-1])
    for match in CLAIMED_PERSON.finditer(text):
        said, name = match.group(1), match.group(2)
        given = owners.get(name.lower())
        if given and said.split()[-1] not in given:  # "your new boss" is the boss; "your wife" is not the son
            return said, name, sorted(given)[0]
    return None


def person_names(facts: Sequence[str]) -> dict[str, str]:
    """{relation: name} from the stored facts that name someone; the first name given wins."""
    names: dict[str, str] = {}
    for relation, name in _people(facts):
        names.setdefault(relation, name)
    return names


def denied(text: str, facts: Sequence[str]) -> tuple[str, str] | None:
    """(relation, name) when the text says the user never gave the name of someone the facts do name:
    "You haven't told me your boss's name yet." with "The user's boss is Mei." on file."""
    names = person_names(facts)
    for match in DENIED_PERSON.finditer(text):
        if match.group(1) in names:
            return match.group(1), names[match.group(1)]
    return None
