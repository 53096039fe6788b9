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
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any, Sequence

log = logging.getLogger(__name__)

CATEGORIES = ("self_harm", "danger")
CLASSES = ("none", "self_harm", "danger")  # the head's output order


@dataclass(frozen=True)
class CrisisCheck:
    is_crisis: bool
    reason: str = ""                 # "pattern: ..." or "classifier: p=0.93 on '...'"
    category: str | None = None      # "self_harm" | "danger" when is_crisis
    score: float = 0.0               # 1.0 for a pattern, the classifier's probability otherwise


# -- patterns -----------------------------------------------------------------------------------
_ME = r"(?:my\s?self|me)"
_INTENT = (r"(?:want(?:ed)?\s+to|wanna|going\s+to|gonna|about\s+to|ready\s+to|urges?\s+to|need\s+to|have\s+to|"
           r"plan(?:ning)?\s+(?:to|on)|thinking\s+(?:about|of)|thought\s+(?:about|of)|feel\s+like|keep|kept|"
           r"can'?t\s+stop|started|been|i'?ll|i\s+will|i\s+might|decided\s+to|try(?:ing)?\s+to|tried\s+to)")
_INJURE = (r"(?:hurt(?:ing)?|harm(?:ing|ed)?|cut(?:ting)?|burn(?:ing|ed|t)?|starv(?:e|ing|ed)|punish(?:ing|ed)?|"
           r"poison(?:ing|ed)?|stab(?:bing|bed)?)")
_SELF_HARM = [
    r"\b(?:kill(?:ing|ed)?|hang(?:ing|ed)?|shoot(?:ing)?|drown(?:ing)?|off(?:ing)?|unaliv(?:e|ing))\s+my\s?self\b",
    r"\bkms\b",
    rf"\b{_INTENT}\s+(?:\w+\s+){{0,2}}{_INJURE}\s+my\s?self\b",
    rf"\b{_INJURE}\s+my\s?self\s+(?:again|on\s+purpose|deliberately|as\s+punishment)",
    r"\b(?:i|i'?ve|i'?m|been|my|to)\s+(?:\w+\s+){0,2}self[- ]?(?:harm|injur)",
    r"\b(?:i'?m|i\s+am|feel(?:ing)?|been|getting|i\s+was|so)\s+(?:\w+\s+){0,2}suicidal\b",
    r"\b(?:have|having|had|my|with)\s+(?:\w+\s+){0,1}suicidal\s+(?:thoughts|feelings|urges|ideation)",
    r"\b(?:thinking|think|thought|considering)\s+(?:about|of)?\s*(?:committing\s+)?suicide\b",
    r"\bi\s+(?:\w+\s+){0,3}(?:commit|attempt)\w*\s+suicide\b",
    r"\b(?:my|a)\s+suicide\s+(?:note|letter|plan)\b",
    r"\bend(?:ing)?\s+(?:my\s+(?:own\s+)?life|it\s+all|things\s+for\s+good)\b",
    r"\btak(?:e|ing)\s+my\s+(?:own\s+)?life\b",
    r"\b(?:want|wanna|wish|going|ready|deserve)\s+(?:to\s+)?(?:\w+\s+){0,1}(?:die|be\s+dead)\b",
    r"\bwish\s+i\s+(?:was|were|had\s+been)\s+(?:dead|never\s+born)\b",
    r"\b(?:don'?t|do\s+not|no\s+longer)\s+want\s+to\s+(?:live|be\s+alive|exist|wake\s+up)\b",
    r"\bno\s+(?:reason|point)\s+(?:to|in|for\s+me\s+to)\s+(?:keep\s+)?(?:liv|go\s+on|going\s+on)",
    r"\bbetter\s+off\s+(?:dead|without\s+me)\b",
    r"\b(?:stop|stopped)\s+existing\b",
    r"\b(?:overdos(?:e|ing|ed)|od)\b.{0,30}\b(?:pills|meds|tonight|on\s+purpose)\b|"
    r"\b(?:going\s+to|gonna|want\s+to)\s+overdose\b",
    r"\b(?:took|swallowed|taken)\s+(?:all|every|the\s+whole|a\s+whole|a\s+handful\s+of|a\s+bunch\s+of|too\s+many|"
    r"way\s+too\s+many|\d+)\s+(?:\w+\s+){0,3}(?:pills|tablets|meds|medications?|painkillers)\b",
    rf"\b{_INTENT}\s+(?:\w+\s+){{0,2}}jump(?:ing)?\s+(?:off|from|in\s+front\s+of)\b",
]
_WHO = (r"(?:he|she|they|someone|somebody|a\s+(?:man|guy|woman|stranger)|my\s+(?:\w+\s+)?(?:husband|wife|partner|"
        r"boyfriend|girlfriend|dad|father|mom|mum|mother|stepdad|stepmom|ex|brother|sister|roommate|flatmate|"
        r"son|daughter|uncle|neighbou?r))")
_DANGER = [
    rf"\b{_WHO}\s+(?:is|'s|are|'re|keeps?|started|just)\s+(?:\w+\s+){{0,1}}(?:hitting|beating|choking|strangling|"
    r"punching|kicking|attacking|stabbing|threatening|stalking|chasing|slapping)\s+(?:me|us|my)\b",
    rf"\b{_WHO}\s+(?:is|'s|are|'re)\s+(?:\w+\s+){{0,1}}(?:breaking|trying\s+to\s+(?:break|get|force\s+\w+\s+way))\s+in",
    r"\b(?:breaking|broke)\s+into\s+my\s+(?:house|home|flat|apartment|room)\s+(?:right\s+)?now\b",
    r"\bthreaten(?:ed|ing|s)?\s+to\s+kill\s+(?:me|us)\b",
    r"\b(?:said|says)\s+(?:he|she|they)(?:'d|'ll|\s+would|\s+will)\s+kill\s+(?:me|us)\b",
    rf"\b{_WHO}\s+(?:\w+\s+){{0,2}}(?:has|have|got|with|holding|pointing)\s+(?:a|his|her)\s+(?:gun|knife|weapon)\b",
    r"\b(?:locked\s+me\s+in|won'?t\s+let\s+me\s+(?:leave|go|out))\b",
    r"\bi'?m\s+(?:being\s+(?:followed|stalked|attacked|abused|assaulted|held)|not\s+safe|in\s+danger)\b",
    r"\b(?:scared|afraid|fear)\s+for\s+my\s+life\b",
    r"\b(?:there'?s|there\s+is)\s+(?:a\s+stranger|an\s+intruder|someone)\s+in\s+my\s+(?:house|home|flat|apartment|room)",
]
# Idioms removed before either detector looks: "this homework is killing me", "to die for",
# "kill the lights". A thing (not a person) as the subject of "is killing me" is an idiom.
_PEOPLE = (r"husband|wife|partner|boyfriend|girlfriend|dad|father|mom|mum|mother|step\w+|ex|brother|sister|"
           r"roommate|flatmate|son|daughter|uncle|aunt|neighbou?r")
_IDIOMS = [
    r"\b(?:could|would|'d)\s+(?:literally\s+)?(?:kill|murder|die)\s+(?:someone\s+)?for\b", r"\bto\s+die\s+for\b",
    r"\bdying\s+(?:to|for|of|here)\b", r"\b(?:would|'d)\s+(?:rather|sooner)\s+die\s+than\b",
    r"\b(?:die|died|dying)\s+(?:of|from)\s+(?:embarrassment|shame|boredom|laughter|laughing|cringe)\b",
    r"\b(?:nearly|almost|literally)\s+died\s+(?:laughing|of)\b", r"\bdied\s+laughing\b",
    r"\bsuicide\s+(?:squad|sprints?|doors?|runs?|drills?|mission)\b",
    r"\b(?:kill|killed|killing)\s+(?:it|time|some\s+time|a\s+(?:process|container)|the\s+(?:engine|music|power|"
    r"mood|vibe|process|app|program|server|bottle|fly|mosquito|lights?|lamps?|tv|telly|radio|fan|heat(?:ing|er)|"
    r"headlights|noise|alarm|motor|conversation))\b",
    r"\b(?:car|van|bike|phone|batter(?:y|ies)|laptop|computer|tablet|charger|earbuds|headphones|tv|fridge|kettle|printer|"
    r"router|wifi|engine|boiler|dishwasher|(?:lawn)?mower|bulb|torch|remote|watch|console|controller|speaker|camera)\s+"
    r"(?:\w+\s+)?(?:died|dead|is\s+dying|gave\s+up|conked\s+out)\b", r"\b(?:is|was|'s|are|were)\s+(?:absolute\s+)?murder\b",
    r"\b(?:kill|killed|killing|slay|slayed|defeat|defeated)\s+(?:the|a|an|every|all\s+the)\s+(?:\w+\s+)?(?:dragons?|boss|"
    r"bosses|monsters?|zombies?|enem(?:y|ies)|trolls?|orcs?|goblins?|aliens?|villains?|demons?|vampires?|mobs?)\b",
    r"\b(?:suicide|self[- ]?harm|self[- ]?injury|overdose)\s+(?:prevention|awareness|rates?|statistics|research|"
    r"campaigns?|stigma|charit(?:y|ies)|education|policy)\b",  # research and awareness topics
    rf"\b(?:this|that|it|these|those|the|work|school|my|your)\s+(?!(?:{_PEOPLE})\b)(?:\w+\s+){{0,3}}"
    r"(?:is|are|'s|'re)\s+(?:slowly\s+|literally\s+)?killing\s+(?:me|my\s+\w+)\b",
    r"\b(?:mom|mum|dad|parents?|boss|teacher|coach|sister|brother|wife|husband)\s+(?:is\s+|are\s+|will\s+|'s\s+|'ll\s+)?"
    r"(?:going\s+to\s+|gonna\s+)?(?:kill|murder)\s+me\s+(?:if|when|for)\b",
    r"\b(?:be|is|was)\s+the\s+(?:death|end)\s+of\s+me\b", r"\b(?:scared|bored|sick)\s+to\s+death\b",
    r"\bdressed\s+to\s+kill\b",
    r"\b(?:movie|film|book|show|series|episode|ending|finale|season|song|album|plot\s+twist|chapter|speech)(?:'s)?\s+"
    r"(?:\w+\s+){0,2}(?:destroyed|wrecked|killed|ended|gutted|broke|murdered)\s+me\b",  # "the ending destroyed me"
]
# An accidental injury ("burned myself on the oven", "cut my finger chopping") is blanked too, unless it was meant.
_ACCIDENT = re.compile(
    r"\b(?:hurt|cut|burn(?:ed|t)?|scalded|injured|bruised|sprained|twisted|pulled|strained|banged|bumped|nicked|sliced|"
    r"pricked|grazed|scraped)\s+(?:my\s?self|my\s+\w+)\s+(?=accidentally|by\s+accident|(?:on|against)\s+(?:a|an|the|some)\s+"
    r"(?:\w+\s+)?(?:oven|stove|hob|kettle|iron|pan|pot|tray|grill|barbecue|radiator|heater|glass|can|tin|lid|knife|nail|"
    r"paper|edge|corner|table|door|cupboard|desk|stairs?|fence|ladder|ice|rock|trampoline|bike)\b|at\s+(?:the\s+)?(?:gym|"
    r"work|practice|training|football)\b|(?:(?:while|when)\s+(?:i\s+was\s+)?)?(?:cooking|chopping|peeling|slicing|carving|"
    r"baking|ironing|shaving|cleaning|gardening|sewing|playing|doing|lifting|running|hiking|skiing|skating|skateboarding|"
    r"climbing|cycling|riding|training|working\s+out|dancing|moving|opening|fixing|building|painting|drilling|wrapping)\b)")
_MEANT = re.compile(r"\b(?:on\s+purpose|deliberately|intentionally|punish|to\s+feel|deserve|again)\b")
# Plain denials and recovery ("I would never kill myself", "I used to self-harm") are removed too:
# the rest of the message still counts ("I'd never hurt myself but I want to die" is caught).
_DENIAL = re.compile(r"\b(?:would|will|am|'m|'d|wo|do|does|was)\s*(?:never|not|n't)\s+(?:\w+\s+){0,2}(?:kill|hurt|harm|"
                     r"suicidal)(?:\s+(?:my\s?self|anyone))?|\bnot\s+suicidal\b|"
                     r"\bnever\s+(?:\w+\s+){0,1}(?:kill|hurt|harm)\s+my\s?self\b|\bused\s+to\s+self[- ]?harm")

_COMPILED = ([(re.compile(p), "self_harm") for p in _SELF_HARM] + [(re.compile(p), "danger") for p in _DANGER])
_IDIOM_RE = re.compile("|".join(_IDIOMS))


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
        if getattr(est, "modality", None) == "text" and isinstance(est.details.get("crisis"), dict):
            return est
    return None


class CrisisClassifier:
    """The crisis head of the text model (pipelines/weights/text, `python -m pipelines.training.text`):
    p(self_harm) + p(danger) of the whole message and of each sentence, in the analyzer's own pass.
    Its threshold was chosen on the dev split (docs/text.md: 95% recall with the patterns when reachable,
    else the lowest threshold that keeps everyday false alarms within 1%)."""

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
        return CrisisCheck(False, score=risk)
    return CrisisCheck(True, f"classifier: p={risk:.2f} ({reading.get('pieces', 1)} pieces read)",
                       reading["category"], risk)


_default_lock = threading.Lock()
_default: list = []  # [CrisisClassifier | None] once loaded


def _switched_off() -> bool:
    return os.environ.get("COMPANION_CRISIS_CLASSIFIER", "on").strip().lower() in ("off", "0", "false", "none")


def default_classifier() -> CrisisClassifier | None:
    """The shipped head, loaded once; None when switched off or its files are missing
    (then the patterns still run, and the reason is logged once)."""
    if _switched_off():
        return None
    with _default_lock:
        if not _default:
            try:
                _default.append(CrisisClassifier())
            except (FileNotFoundError, ImportError, OSError, ValueError, KeyError) as exc:
                log.error("crisis classifier unavailable, using patterns only: %s", exc)
                _default.append(None)
        return _default[0]


def detect(text: str, *, classifier: CrisisClassifier | None | bool = True, estimates: Sequence[Any] = ()
           ) -> CrisisCheck:
    """Is this message a crisis? Patterns first (cheap, explicit), then the learned head.

    `estimates`: the turn's analyzer estimates; when the shipped text analyzer made one, its crisis
    reading is used and nothing runs twice. classifier=True uses the shipped head; False/None patterns only.
    An alarm on a message with an idiom or a denial ("I'd rather die than sing") is read again without
    it: the head reads the raw words, and on the eval set it fires on 1 in 45 idioms."""
    if not isinstance(text, str) or not text.strip():
        return CrisisCheck(False)
    found = detect_patterns(text)
    if found.is_crisis or classifier is False or classifier is None or (classifier is True and _switched_off()):
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
    if not head.is_crisis or clean == normalize(text):
        return head
    if not clean:
        return CrisisCheck(False, score=head.score)
    return loaded.check(clean) if (loaded := model()) is not None else head


# -- the reply ----------------------------------------------------------------------------------
# crisis line, emergency number, domestic-abuse line (None where we list none)
RESOURCES: dict[str, tuple[str, str, str | None]] = {
    "US": ("call or text 988 (the 988 Suicide & Crisis Lifeline)", "911",
           "the National Domestic Violence Hotline is 1-800-799-7233"),
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
INTERNATIONAL = ("contact a local crisis line (findahelpline.com lists them by country)", "your local emergency number",
                 None)


def resources(locale: str | None) -> tuple[str, str, str | None]:
    """Resources for a locale such as 'US', 'UK', 'en_GB' or 'en-IE'; unknown: international wording."""
    key = (locale or "").strip().upper().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in RESOURCES and "_" in key:
        key = _ALIASES.get(key.rsplit("_", 1)[1], key.rsplit("_", 1)[1])
    return RESOURCES.get(key, INTERNATIONAL)


def crisis_reply(locale: str | None, category: str | None = None) -> str:
    """The fixed, caring message. category None gives wording that fits both kinds of crisis."""
    line, emergency, abuse = resources(locale)
    ai = "I'm an AI, not a person, so I can't get help to you myself, but I'm here to keep talking while you reach out."
    if category == "danger":
        extra = f" When you can, {abuse}." if abuse else ""
        return ("That sounds frightening, and your safety comes first. If you are in danger right now, call "
                f"{emergency}, or get to a safe place and ask someone nearby for help.{extra} {ai}")
    if category == "self_harm":
        return ("I'm really sorry you're going through this, and I'm glad you told me. You deserve support from a "
                f"person right now: please {line}; they are there day and night. If you might act on these thoughts, "
                f"call {emergency} now. {ai}")
    return ("I'm really sorry you're going through this, and I'm glad you told me. If you are in danger or might hurt "
            f"yourself, call {emergency} now. To talk with someone, please {line}. {ai}")
