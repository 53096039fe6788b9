"""Profile facts the user states about themselves ("my name is…", "I love…", "my sister Ana…").

Rule-based on purpose: it must never invent a fact, and every stored fact must be
traceable to the user's own words. Values are cleaned so that a stored fact cannot
carry instructions or markup into a prompt later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from companion import rules

# Who a relation fact may name: the one family list (prompts/rules/family.json) plus the people and
# pets close to a user who are not family.
RELATIONS = (
    "best friend",
    "friend",
    "boss",
    "roommate",
    "dog",
    "cat",
    "therapist",
    *rules.words("family", "members"),
)
_STOP = r"(?=\s+(?:and|but|because|so|who|which|since|although|though)\b|[,.;:!?()]|$)"
_NAME = r"([A-Z][a-zA-Z'\-]{1,30}(?:\s[A-Z][a-zA-Z'\-]{1,30})?)"
_MAX_VALUE = 60


@dataclass(frozen=True)
class Fact:
    kind: str  # name | likes | dislikes | relation | job | place
    key: str  # relation word for relations, else ""
    value: str
    text: str  # a sentence about the user, as shown in the memory panel and the prompt


def _clean(value: str) -> str:
    value = re.sub(r"[^\w\s'\-&]", " ", value, flags=re.UNICODE)
    value = re.sub(r"\s+", " ", value).strip(" '-")
    return value[:_MAX_VALUE].strip()


_PRONOUNS = {"you", "it", "that", "this", "them", "him", "her", "to", "when", "how", "what", "myself"}
_NOT_NAMES = {
    "Not",
    "So",
    "Very",
    "Just",
    "Really",
    "Feeling",
    "Tired",
    "Sad",
    "Happy",
    "Fine",
    "Okay",
    "Ok",
    "Sorry",
    "Here",
    "Back",
    "Going",
    "Trying",
    "The",
    "A",
    "An",
    "Sick",
    "Ill",
    "Pregnant",
    "Away",
    "Home",
    "Angry",
    "Mad",
    "Upset",
    "Gone",
    "Dead",
    "American",
    "British",
    "English",
    "Always",
    "Never",
    "Still",
}


def _patterns():
    rel = "|".join(sorted(RELATIONS, key=len, reverse=True))
    # Names must be capitalised, so only the lead-in words are case-insensitive.
    yield "name", re.compile(r"(?i:\bmy name(?:'s| is))\s+" + _NAME), None
    yield "name", re.compile(r"(?i:\b(?:call me|i am called|i'm called))\s+" + _NAME), None
    # "Hi, I'm Maria." introduces a name; a bare "I'm X" does not ("I'm Canadian", "I'm Done"), so only after a
    # greeting, and only when the name ends the clause ("Hi, I'm New here" is no name)
    yield (
        "name",
        re.compile(
            r"(?i:\b(?:hi|hello|hey|hiya)\b[\s,!.]*(?:there[\s,!.]*)?(?:i'm|i am|im|it's|this is))\s+" + _NAME + _STOP
        ),
        None,
    )
    yield (
        "relation",
        re.compile(rf"(?i:\bmy ({rel})(?:'s name is| is called| is named| named| called|,)?)\s+" + _NAME),
        1,
    )
    # "my sister is Ana", only when the name ends the clause ("my sister is Ana and…", not "…is Angry at me")
    yield "relation", re.compile(rf"(?i:\bmy ({rel}) is)\s+" + _NAME + _STOP), 1
    yield "relation", re.compile(rf"(?i:\bi have an? ({rel}) (?:named|called))\s+" + _NAME), 1
    yield (
        "likes",
        re.compile(r"\bi (?:really |absolutely |just )?(?:love|like|enjoy|adore)\s+(.+?)" + _STOP, re.I),
        None,
    )
    yield (
        "dislikes",
        re.compile(
            r"\bi (?:really )?(?:hate|dislike|can't stand|cannot stand|don't like|do not like)\s+(.+?)" + _STOP, re.I
        ),
        None,
    )
    yield "job", re.compile(r"\bi (?:work as|am working as|'m working as)\s+(?:an? )?(.+?)" + _STOP, re.I), None
    yield "job", re.compile(r"\bmy job is\s+(?:an? )?(.+?)" + _STOP, re.I), None
    yield "place", re.compile(r"\bi live in\s+(.+?)" + _STOP, re.I), None


_COMPILED = list(_patterns())
_TEMPLATES = {
    "name": "The user's name is {value}.",
    "likes": "The user likes {value}.",
    "dislikes": "The user dislikes {value}.",
    "relation": "The user's {key} is {value}.",
    "job": "The user works as {value}.",
    "place": "The user lives in {value}.",
}


def extract_facts(text: str) -> list[Fact]:
    """Facts stated in `text`, in order, at most one per (kind, key, value)."""
    found: dict[tuple[str, str, str], Fact] = {}
    for kind, pattern, key_group in _COMPILED:
        for match in pattern.finditer(text):
            key = match.group(key_group).lower() if key_group else ""
            raw = match.group(match.lastindex)
            value = _clean(raw)
            if not value or (kind in ("name", "relation") and value.split()[0] in _NOT_NAMES):
                continue
            if kind in ("likes", "dislikes") and (len(value.split()) > 8 or value.split()[0].lower() in _PRONOUNS):
                continue
            if key in ("mom", "mum"):
                key = "mother"
            elif key == "dad":
                key = "father"
            fact = Fact(kind, key, value, _TEMPLATES[kind].format(key=key, value=value))
            found.setdefault((kind, key, value.lower()), fact)
    return list(found.values())


# The store's sentences read back into facts. The patterns are made from _TEMPLATES, so they follow its
# wording; "name" comes before "relation" there, which would also match "The user's name is ...".
_READ_BACK = [
    (
        kind,
        re.compile(
            "^" + re.escape(template).replace(r"\{key\}", "(?P<key>.+?)").replace(r"\{value\}", "(?P<value>.+)") + "$"
        ),
    )
    for kind, template in _TEMPLATES.items()
]
_TO_USER = {
    "name": "your name is {value}",
    "likes": "you like {value}",
    "dislikes": "you don't like {value}",
    "relation": "your {key} is {value}",
    "job": "you work as {value}",
    "place": "you live in {value}",
}


def read_back(sentence: str) -> Fact | None:
    """The fact a stored sentence says ("The user's sister is Ana." -> relation, sister, Ana); None for a
    sentence not in the store's wording."""
    sentence = sentence.strip()
    for kind, pattern in _READ_BACK:
        match = pattern.match(sentence)
        if match:
            return Fact(kind, match.groupdict().get("key") or "", match["value"], sentence)
    return None


def said_to_user(fact: Fact) -> str:
    """The fact said to the user: "your sister is Ana", "you work as a nurse"."""
    value = _article(fact.value) if fact.kind == "job" else fact.value
    return _TO_USER[fact.kind].format(key=fact.key, value=value)


def _article(job: str) -> str:
    if re.match(r"(?i)(?:an?|the|my|self)\b", job):
        return job
    return ("an " if job[:1].lower() in "aeiou" else "a ") + job
