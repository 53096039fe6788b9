"""Feelings a message says are over ("I'm not sad anymore", "no longer scared").

MiniLM's heads read the feeling word and miss that it ended: trained on GoEmotions and EmoBank,
which hold few such sentences, they read "I'm not sad anymore" as sadness 0.98, valence -0.30.
A companion that answers relief with condolences fails the user, so the analyzer applies this
narrow, documented rule after the model: only *cessation* cues (anymore, any longer, no longer,
stopped being) around a feeling word count; a plain "not" is left to the model, which already
handles "I'm not happy at all".

The correction is the one VADER uses for negation (valence times -0.74), applied only when the
ended feelings were most of what the model read; their probability moves to joy (GoEmotions'
Ekman map files relief under joy) and neutral, half each.
"""

from __future__ import annotations

import numpy as np

from companion import rules
from companion.types import EMOTIONS

# The feeling words and the cues live in prompts/rules/text_negation.json, with examples (tests/test_rules.py).
_RULES = rules.load("text_negation")
FEELING_WORDS = {r.name.removeprefix("feeling_"): r.words for r in _RULES.group("feeling")}
_WORD_TO_EMOTION = {w: e for e, words in FEELING_WORDS.items() for w in words}
_CUES = [r.regex for r in _RULES.group("cue")]  # each captures the feeling word as group 1
_ANY_FEELING = _RULES.regex("any_feeling")
VADER_NEGATION = -0.74
_INDEX = {e: i for i, e in enumerate(EMOTIONS)}


def ended_feelings(text: str) -> tuple[frozenset[str], bool]:
    """(emotions the text says the writer no longer feels, whether other feelings remain named).

    "I'm not sad anymore but still furious" ends sadness and names anger: mixed, so valence is
    left to the model."""
    ended, rest = set(), text
    for cue in _CUES:
        for m in cue.finditer(text):
            ended.add(_WORD_TO_EMOTION[m.group(1).lower()])
            rest = rest.replace(m.group(0), " ")
    mixed = bool(ended) and bool(_ANY_FEELING.search(rest))
    return frozenset(ended), mixed


def apply(probs: np.ndarray, valence: float, ended: frozenset[str], mixed: bool = False) -> tuple[np.ndarray, float]:
    """The model's reading with the ended feelings taken out (pure; returns new values)."""
    if not ended:
        return probs, valence
    probs = np.array(probs, dtype=np.float64)
    moved = sum(probs[_INDEX[e]] for e in ended)
    for e in ended:
        probs[_INDEX[e]] = 0.0
    probs[_INDEX["joy"]] += moved / 2
    probs[_INDEX["neutral"]] += moved / 2
    if moved >= 0.5 and valence < 0 and not mixed:
        valence = VADER_NEGATION * valence
    return probs / probs.sum(), float(valence)
