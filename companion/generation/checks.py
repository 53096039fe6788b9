"""What no sentence of a reply may do: invent numbers, links or names, or claim to be human.

These are the checks every streamed sentence passes before it is shown, and the same checks
drop supporter/listener turns from the reply model's training data (a human listener may say
"my wife had the same thing", an AI must not learn to). Pure functions of text, cheap enough
to run per sentence.
"""
from __future__ import annotations

import re
from typing import Any

URL = re.compile(r"https?://|\bwww\.|\b[\w-]+\.(?:com|org|net|io|gov|edu|co|uk|info|app|ly)\b|\b[\w.+-]+@[\w-]+\.\w+",
                 re.I)
PHONE = re.compile(r"(?:\+?\d[\d\s().\-]{5,}\d)|\b\d{3}\b")
HOTLINE = re.compile(r"\b(?:hotline|helpline|help line|crisis line|text line|lifeline|toll[- ]free|emergency number)",
                     re.I)
HUMAN_CLAIM = re.compile(
    r"\b(?:i am|i'm) (?:a |an |just a |also a )?(?:real )?(?:human|person|woman|man|girl|boy|guy|lady|mom|mum|dad"
    r"|mother|father|doctor|therapist|nurse|counsell?or|psychologist|student|teacher|parent)\b"
    r"|\bas a (?:human|person|woman|man|mom|mum|dad|parent|doctor|therapist|friend who)\b"
    r"|\bmy (?:wife|husband|mom|mum|mother|dad|father|kids?|children|son|daughter|sister|brother|family|boss|job"
    r"|house|car|dog|cat|grandma|grandmother|grandpa|grandfather|friends?|boyfriend|girlfriend|partner|body"
    r"|childhood|parents|office|colleagues?|team|school|classmates|husband|fianc\w*|baby|pets?|puppy|neighbou?rs?"
    r"|uncle|aunt|cousin|niece|nephew|roommate|coworkers?|teacher|college|wedding|experience|own experience)\b"
    r"|\bi (?:went|ate|drank|slept|cried|walked|drove|visited|grew up|was born|got married|used to|lost my|have an? "
    r"(?:wife|husband|son|daughter|dog|cat|job|family|boss|brother|sister|kid|baby)|have kids|have two|have three"
    r"|remember when|live in|work (?:at|as|in)|once had|also had|had the same|had a similar)\b"
    r"|\bi(?:'ve| have) (?:been (?:doing|working|through|there)|had (?:a|my|the same|something)|lost|gone through"
    r"|felt that way too|experienced|also|done that|seen that happen)\b"
    r"|\bwhen i was (?:a |young|little|your age|in|growing)|\b(?:same|this|that|it) (?:thing )?happened to me"
    r"|\bme too\b|\bsame here\b|\bi(?:'m| am) (?:going|heading) to (?:the|a|my)\b|\bnot an ai\b"
    r"|\bi(?:'m| am) not (?:a |an )?(?:ai|bot|robot|machine|program)\b", re.I)
# The persona's only name is Ember; any other self-name came from an injection or was invented.
# Case-sensitive on purpose: "I'm Carla" is a name, "I'm here" is not.
SELF_NAME = re.compile(r"\b(?:[Mm]y name is|[Mm]y name's|I'm called|I am called|I am|I'm)\s+(?!Ember\b)([A-Z][a-z]+)\b")
DEBRIS = re.compile(r"<\|?/?\w*\|?>|^\s*(?:user|assistant|system|ember|human|ai)\s*:|\[/?\w+\]|#{2,}|\*\*", re.I | re.M)

# Capitalised words that are never names, and words that may open a sentence before a comma.
_ALLOWED_CAPS = {"i", "i'm", "i've", "i'll", "i'd", "ember", "ai", "ok", "okay", "english"}
_INTERJECTIONS = set(
    "yes no well oh aw aww ah ahh hey hi hello wow okay ok sure sorry thanks congratulations congrats honestly "
    "sometimes first also still however remember alright ugh hmm right maybe again then today tonight now so and "
    "but please gosh ouch oof yeah indeed absolutely of true sadly unfortunately luckily hopefully instead plus "
    "besides otherwise wait listen look see anyway actually seriously definitely together gently slowly good great "
    "nice cool awesome wonderful amazing".split())
_CONTRACTED = set("it that what how there here let he she who where when why everyone everything nothing "
                  "someone today life tomorrow".split())
_DAYS = set("monday tuesday wednesday thursday friday saturday sunday january february march april may june july "
            "august september october november december christmas easter halloween thanksgiving god".split())


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
