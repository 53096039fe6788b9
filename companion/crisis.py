"""Crisis detection and the fixed, caring reply (the protocol is in docs/safety.md).

Two detectors, either of which raises the alarm:
1. Patterns: explicit first-person statements ("I want to kill myself", "he is hitting me"),
   matched after known idioms ("this homework is killing me", "to die for") and accidental injuries
   ("I burned myself on the oven") are blanked out.
2. The crisis head of the text model (`python -m pipelines.training.text`), for paraphrases no
   pattern lists ("I've been giving my things away"), trained against everyday distress from
   EmpatheticDialogues and ESConv. It reads the whole message and each sentence in the text
   analyzer's one pass, so one sentence in a long message counts.

Two categories: "self_harm" (suicidal thoughts, plans, self-injury, overdose) and "danger"
(someone is hurting or threatening the user, an intruder, a fire). The reply is fixed text with
resources for the deployment's locale, whatever the language model would have said.
`COMPANION_CRISIS_CLASSIFIER=off` leaves only the patterns (tests of other parts use it).
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any, Sequence

from companion import rules

log = logging.getLogger(__name__)

CATEGORIES = ("self_harm", "danger")
CLASSES = ("none", "self_harm", "danger")  # the head's output order


@dataclass(frozen=True)
class CrisisCheck:
    is_crisis: bool
    reason: str = ""  # "pattern: ..." or "classifier: p=0.93 on '...'"
    category: str | None = None  # "self_harm" | "danger" when is_crisis
    score: float = 0.0  # 1.0 for a pattern, the classifier's probability otherwise
    # Below the alarm but above the head's recall-first threshold: no hotline, but the reply ends by
    # asking gently whether the person is safe (docs/safety.md, "Two tiers").
    check_in: bool = False


# -- patterns -----------------------------------------------------------------------------------
# The tables live in prompts/rules/crisis.json, each pattern with why it is there and examples it must
# and must not match (tests/test_rules.py): self_harm and danger raise the alarm; idioms ("this
# homework is killing me", "to die for"), accidental injuries ("burned myself on the oven") and plain
# denials and recovery ("I would never kill myself", "I used to self-harm") are blanked out first,
# so the rest of the message still counts ("I'd never hurt myself but I want to die" is caught).
_RULES = rules.load("crisis")
_COMPILED = [(r.regex, category) for category in CATEGORIES for r in _RULES.group(category)]
_IDIOM_RE = re.compile("|".join(r.source for r in _RULES.group("idiom")))
_ACCIDENT = _RULES.regex("accident")  # blanked unless it was meant (_MEANT)
_MEANT = _RULES.regex("meant")
_DENIAL = _RULES.regex("denial")


def normalize(text: str) -> str:
    """Lower-case, unify quotes and spaces, so patterns see one spelling."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.translate(str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "`": "'"}))
    return re.sub(r"\s+", " ", text).strip()


def screened(text: str) -> str:
    """What both detectors read: the normalised text without idioms and denials."""
    text = _IDIOM_RE.sub(" ", normalize(text))
    text = _DENIAL.sub(" ", text if _MEANT.search(text) else _ACCIDENT.sub(" ", text))
    return re.sub(r"\s+", " ", text).strip()


def detect_patterns(text: str) -> CrisisCheck:
    clean = screened(text)
    for pattern, category in _COMPILED:
        match = pattern.search(clean)
        if match:
            return CrisisCheck(True, f"pattern: {match.group(0)!r}", category, 1.0)
    return CrisisCheck(False)


# -- the learned head -----------------------------------------------------------------------------
def _text_estimate(estimates) -> Any:
    """The shipped text analyzer's estimate among `estimates` (it carries the crisis head's reading)."""
    for est in estimates or ():
        if est.modality == "text" and isinstance(est.details.get("crisis"), dict):
            return est
    return None


class CrisisClassifier:
    """The crisis head of the text model (pipelines/weights/text, `python -m pipelines.training.text`):
    p(self_harm) + p(danger) of the whole message and of each sentence, in the analyzer's own pass.
    Its thresholds were chosen on the dev split (pipelines/training/text_threshold.py): an alarm that keeps
    everyday false alarms within 1%, and below it a check-in tier reaching the best dev recall."""

    def __init__(self, analyzer: Any = None):
        if analyzer is None:  # the shipped text model, whatever text backend the settings name
            from companion import registry

            analyzer = registry.create("text", "minilm")
        self.analyzer = analyzer
        self.threshold = float(analyzer.crisis_threshold)

    def check(self, text: str) -> CrisisCheck:
        est = self.analyzer.analyze(text)
        return from_reading(est.details["crisis"]) if est is not None else CrisisCheck(False)


def from_reading(reading: dict) -> CrisisCheck:
    """A CrisisCheck from the text analyzer's crisis reading (risk, category, alarm)."""
    risk = float(reading["risk"])
    if not reading.get("alarm"):
        return CrisisCheck(
            False,
            score=risk,
            category=reading["category"] if reading.get("check_in") else None,
            check_in=bool(reading.get("check_in")),
        )
    return CrisisCheck(
        True, f"classifier: p={risk:.2f} ({reading.get('pieces', 1)} pieces read)", reading["category"], risk
    )


_default_lock = threading.Lock()
_default: list = []  # [CrisisClassifier | None] once loaded


SETTINGS = "settings"  # detect's default: the shipped head unless Settings.crisis_classifier is off


def _switched_on() -> bool:
    """Settings.crisis_classifier (COMPANION_CRISIS_CLASSIFIER), for callers that hold no settings."""
    from companion.config import Settings

    return Settings().crisis_classifier


def default_classifier() -> CrisisClassifier | None:
    """The shipped head, loaded once; None when its files are missing (then the patterns still
    run, and the reason is logged once)."""
    with _default_lock:
        if not _default:
            try:
                _default.append(CrisisClassifier())
            except (FileNotFoundError, ImportError, OSError, ValueError, KeyError) as exc:
                log.error("crisis classifier unavailable, using patterns only: %s", exc)
                _default.append(None)
        return _default[0]


def detect(
    text: str, *, classifier: CrisisClassifier | None | bool | str = SETTINGS, estimates: Sequence[Any] = ()
) -> CrisisCheck:
    """Is this message a crisis? Patterns first (cheap, explicit), then the learned head.

    `estimates`: the turn's analyzer estimates; when the shipped text analyzer made one, its crisis
    reading is used and nothing runs twice. classifier=True uses the shipped head; False/None patterns only;
    the default reads Settings.crisis_classifier (Companion passes its own setting instead).
    An alarm on a message with an idiom or a denial ("I'd rather die than sing") is read again without
    it: the head reads the raw words, and on the eval set it fires on 1 in 45 idioms."""
    if not isinstance(text, str) or not text.strip():
        return CrisisCheck(False)
    found = detect_patterns(text)
    if classifier == SETTINGS:
        classifier = _switched_on()
    if found.is_crisis or classifier is False or classifier is None:
        return found
    est = _text_estimate(estimates) if classifier is True else None

    def model() -> CrisisClassifier | None:  # loaded only when the turn's own reading is not enough
        return default_classifier() if classifier is True else classifier

    if est is not None:
        head = from_reading(est.details["crisis"])
    elif (loaded := model()) is not None:
        head = loaded.check(text)
    else:
        return found
    clean = screened(text)
    if not (head.is_crisis or head.check_in) or clean == normalize(text):
        return head
    if not clean:
        return CrisisCheck(False, score=head.score)
    return loaded.check(clean) if (loaded := model()) is not None else head


# -- the reply ----------------------------------------------------------------------------------
# crisis line, emergency number, domestic-abuse line (None where we list none)
RESOURCES: dict[str, tuple[str, str, str | None]] = {
    "US": (
        "call or text 988 (the 988 Suicide & Crisis Lifeline)",
        "911",
        "the National Domestic Violence Hotline is 1-800-799-7233",
    ),
    "UK": ("call Samaritans free on 116 123", "999", "the National Domestic Abuse Helpline is 0808 2000 247"),
    "IE": ("call Samaritans free on 116 123", "112 or 999", "Women's Aid is on 1800 341 900"),
    "CA": ("call or text 988 (the 9-8-8 Suicide Crisis Helpline)", "911", None),
    "AU": ("call Lifeline on 13 11 14", "000", "1800RESPECT is on 1800 737 732"),
    "NZ": ("call or text 1737", "111", None),
    "DE": ("call the TelefonSeelsorge free on 0800 111 0 111", "112", None),
    "FR": ("call 3114 (the national suicide prevention line)", "112", None),
    "IN": ("call Tele-MANAS on 14416", "112", None),
}
_ALIASES = {"GB": "UK", "EN_GB": "UK", "EN_US": "US"}
INTERNATIONAL = (
    "contact a local crisis line (findahelpline.com lists them by country)",
    "your local emergency number",
    None,
)


def resources(locale: str | None) -> tuple[str, str, str | None]:
    """Resources for a locale such as 'US', 'UK', 'en_GB' or 'en-IE'; unknown: international wording."""
    key = (locale or "").strip().upper().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in RESOURCES and "_" in key:
        key = _ALIASES.get(key.rsplit("_", 1)[1], key.rsplit("_", 1)[1])
    return RESOURCES.get(key, INTERNATIONAL)


def check_in_line(category: str | None = None) -> str:
    """The question that ends a reply when the head is unsure: it asks, names no hotline (a false
    check-in must not read like an alarm), and leaves the door open."""
    if category == "danger":
        return "Can I gently check: are you safe where you are right now? You can tell me."
    return "Can I gently check in: are you safe right now? Whatever the answer, you can tell me."


def check_in_to_add(check: CrisisCheck, last_replies: Sequence[str] = ()) -> str | None:
    """The check-in question that ends this reply, or None: only when the head is unsure, and not
    again right after a reply that asked it (once, not every turn in a row). Companion and the
    eval that reads replies as the person reads them both ask through this."""
    if not check.check_in:
        return None
    line = check_in_line(check.category)
    return None if any(line in said for said in last_replies) else line


def protocol_flags(category: str | None) -> tuple[str, str]:
    """The flags of a reply that is the crisis protocol (Companion, and the eval that reads as it answers)."""
    return ("crisis", f"crisis_{category or 'unspecified'}")


def crisis_reply(locale: str | None, category: str | None = None) -> str:
    """The fixed, caring message. category None gives wording that fits both kinds of crisis."""
    line, emergency, abuse = resources(locale)
    ai = "I'm an AI, not a person, so I can't get help to you myself, but I'm here to keep talking while you reach out."
    if category == "danger":
        extra = f" When you can, {abuse}." if abuse else ""
        return (
            "That sounds frightening, and your safety comes first. If you are in danger right now, call "
            f"{emergency}, or get to a safe place and ask someone nearby for help.{extra} {ai}"
        )
    if category == "self_harm":
        return (
            "I'm really sorry you're going through this, and I'm glad you told me. You deserve support from a "
            f"person right now: please {line}; they are there day and night. If you might act on these thoughts, "
            f"call {emergency} now. {ai}"
        )
    return (
        "I'm really sorry you're going through this, and I'm glad you told me. If you are in danger or might hurt "
        f"yourself, call {emergency} now. To talk with someone, please {line}. {ai}"
    )
