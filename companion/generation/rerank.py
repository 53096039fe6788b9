"""Score reply candidates: emotion fit, relevance, safety and grounding, strategy.

Every check is a hard gate (a candidate must pass all to be used) with a graded value to
rank the ones that pass. The checks are written against the failures SmolLM2-135M showed
when prompted plainly: cheer at a grieving user, invented hotlines and names, lived
experiences ("I've been doing this job for years"), loops, and answering as if it were the user.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from companion.generation import grounding
from companion.generation.planner import looks_foreign

# Reply emotions that clash with the feeling the reply answers (read by the text analyzer).
FORBIDDEN = {
    "sadness": {"joy", "anger", "disgust"},  # not surprise: GoEmotions reads questions ("how are you?") as surprise
    "fear": {"anger", "disgust"},
    "anger": {"joy", "disgust"},
    "disgust": {"joy"},
    "joy": {"sadness", "anger", "fear", "disgust"},
    "surprise": {"anger", "disgust"},
    "neutral": {"anger", "disgust"},
    "unknown": {"anger", "disgust"},
}
_CHEER = re.compile(r"\b(?:congrat\w*|wonderful|amazing|awesome|fantastic|great news|exciting|excited|yay|hooray"
                    r"|lucky|glad (?:about|to hear)|happy (?:about|to hear|for you)|good for you|how fun|so fun"
                    r"|celebrat\w*|brilliant|thrilled|delighted|lovely|so cool|what a treat|incredible|blessing"
                    r"|(?:great|wonderful|amazing) (?:opportunity|chance|moment|tribute|thing)|opportunity|beautiful"
                    r"|you'?re (?:so |very |really )?(?:glad|happy|lucky|excited)|funny|sweet|bittersweet|yummy|fun"
                    r"|it'?s (?:great|good|nice) that|glad)\b",
                    re.I)
# Praise that fits news, not an everyday remark ("That's a wonderful way to celebrate" for a normal week).
_EXUBERANT = re.compile(r"\b(?:congrat\w*|celebrat\w*|wonderful|amazing|incredible|fantastic|awesome|delightful"
                        r"|beautiful|blessed|blessing|thrilled|brilliant)\b", re.I)
# Minimising phrases: well meant, but they tell a hurting person their feeling is wrong.
_MINIMISING = re.compile(r"\b(?:at least|bright side|silver lining|everything happens for a reason|could be worse"
                         r"|cheer up|don'?t be sad|don'?t worry|no need to worry|stop (?:crying|worrying)"
                         r"|it'?s not (?:a big deal|that bad)"
                         r"|move on|no reason to (?:be|feel)|not the end of the world|doom and gloom|lemons|get over"
                         r"|how the world is|that'?s life|the way it is|part of life|part of the job)\b", re.I)
_CONDOLENCE = re.compile(r"\b(?:sorry (?:to hear|for your|about)|condolences|that'?s (?:tough|hard|awful|terrible)"
                         r"|must hurt|so sad|i'?m sorry)\b", re.I)
_HOSTILE = re.compile(r"\b(?:stupid|idiot|dumb|pathetic|shut up|(?<!not )(?<!n't )your (?:own )?fault|deserve(?:d)? it"
                      r"|get over it"
                      r"|stop whining|man up|grow up|ridiculous|overreacting|not a big deal)\b", re.I)
_ORDERS = re.compile(r"\byou (?:should|need to|have to|must|ought to|'d better|better)\b(?! be (?:so |really |very )?proud)"
                     r"|\b(?:just|try to) (?:relax|calm down|forget|ignore|stop)\b", re.I)
_TIC = re.compile(r"\bnot (?:just|only)\b[^.!?]{1,60}?\b(?:but|it'?s)\b|\bnot about\b[^.!?]{1,60}?\bit'?s about\b", re.I)
_SUGGESTS = re.compile(r"\b(?:try|maybe|perhaps|might|could|how about|what if you|(?:can|may) (?:help|calm|ease|make)"
                       r"|one idea|a good (?:first )?step|consider|start(?:ing)? (?:with|by)|(?:gentle|good) way to)\b",
                       re.I)
# How strictly replies must resemble the curated ones, per strategy prompt: emotional replies are
# formulaic and drift shows as distance; questions and advice carry their own topic, so less so.
TYPICALITY_WEIGHT = {"reflection": 1.0, "affirmation": 1.0, "checkin": 1.25, "checkin_trend": 1.1,
                     "restatement": 0.75, "other": 0.75, "suggestion": 0.8, "information": 1.0, "question": 0.0}
_DENIES_NORMAL = re.compile(r"\b(?:it'?s|that'?s|is) not (?:normal|okay|ok|common|natural)\b|^no\b", re.I)
LISTENING = ("reflection", "restatement", "affirmation", "question")
CHECKS = ("emotion", "relevance", "safety", "strategy")


@dataclass
class CandidateScore:
    text: str
    checks: dict[str, bool]
    values: dict[str, float]
    problems: list[str] = field(default_factory=list)
    reading: str | None = None  # the analyzer's label for the candidate
    variant: str = "full"       # "full" sample, "first_sentence" (cut after it), "first_sentence+tail" (hybrid)

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    @property
    def score(self) -> float:
        v = self.values
        return 0.4 * v["emotion"] + 0.4 * v["relevance"] + 0.1 * v["length"] + 0.1 * v["strategy"]

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "passed": self.passed, "score": round(self.score, 3), "checks": self.checks,
                "values": {k: round(x, 3) for k, x in self.values.items()}, "problems": self.problems,
                "reading": self.reading, "variant": self.variant}


def lexicon_fit(text: str, feeling: str, tone: str) -> tuple[bool, list[str]]:
    """Tone words that clash with the user's feeling; used always, and alone when the analyzer is off."""
    problems = []
    if _HOSTILE.search(text):
        problems.append("hostile wording")
    negative = feeling in ("sadness", "fear", "anger", "disgust") or tone in ("comfort",)
    if negative and _CHEER.search(text):
        problems.append(f"cheerful wording to someone feeling {feeling}")
    if negative and _MINIMISING.search(text):
        problems.append(f"minimises the feeling ({_MINIMISING.search(text).group(0)!r})")
    if (feeling == "joy" or tone == "celebrate") and _CONDOLENCE.search(text):
        problems.append("condolences for good news")
    elif feeling == "neutral" and tone == "calm" and _CONDOLENCE.search(text):
        problems.append("condolences for a calm message")
    if feeling == "neutral" and tone == "calm" and (praise := _EXUBERANT.search(text)):
        problems.append(f"over-the-top praise for an everyday message ({praise.group(0)!r})")
    return not problems, problems


def emotion_fit(text: str, feeling: str, tone: str, analyzer: Any = None, estimate: Any = None
                ) -> tuple[bool, float, list[str], str | None]:
    """(passes, graded value, problems, the analyzer's reading). `estimate`: the analyzer's reading, if done."""
    ok, problems = lexicon_fit(text, feeling, tone)
    if estimate is None and analyzer is not None:
        estimate = analyzer.analyze(text)
    if estimate is None:
        return ok, 1.0 if ok else 0.0, problems, None
    forbidden = FORBIDDEN.get(feeling, FORBIDDEN["unknown"])
    worst = max(forbidden, key=lambda label: estimate.probs.get(label, 0.0))
    p = estimate.probs.get(worst, 0.0)
    # GoEmotions' Ekman map files caring, approval and gratitude under joy, so warm support reads as
    # joy too; cheer is joy that is near-certain *and* clearly positive.
    if worst == "joy":
        clash = p >= 0.75 and estimate.valence >= 0.2
    else:
        clash = estimate.label == worst and p >= 0.5
    if clash:
        problems.append(f"reads as {worst} ({p:.0%}, valence {estimate.valence:+.2f}) to someone feeling {feeling}")
    return not problems, (1.0 - p) if ok else 0.0, problems, estimate.label


def length_value(words: int) -> float:
    """1 for 8-30 words, lower towards the hard limits."""
    if 8 <= words <= 30:
        return 1.0
    return max(0.0, 1.0 - abs(words - (8 if words < 8 else 30)) / 20)


class Reranker:
    """Scores candidates for one turn. analyzer: TextEmotionAnalyzer or None; embedder: MiniLMEmbedder or None."""

    def __init__(self, analyzer: Any = None, embedder: Any = None, *, min_relevance: float = 0.25,
                 min_typicality: float = 0.45, max_words: int = 50):
        self.analyzer = analyzer
        self.embedder = embedder
        self.min_relevance = min_relevance
        self.min_typicality = min_typicality
        self.max_words = max_words
        self._prototypes: dict[str, np.ndarray] = {}

    def score(self, candidates: Sequence[str], ctx: Any, plan: Any, *, curated_tail: bool = False
              ) -> list[CandidateScore]:
        """Score candidates; `curated_tail`: each ends in a curated sentence, so only the model's part can drift."""
        relevance = self._relevance(candidates, ctx)
        typicality = self._typicality(candidates, plan)
        known = grounding.context_text(ctx)
        recent = [t["content"] for t in getattr(ctx, "history", ()) if t.get("role") == "assistant"][-3:]
        readings = self._readings(candidates)
        scored = []
        for text, rel, estimate, typical in zip(candidates, relevance, readings, typicality):
            problems: list[str] = []
            e_ok, e_value, e_problems, reading = emotion_fit(text, plan.feeling, plan.tone, estimate=estimate)
            problems += e_problems
            s_problems = grounding.problems(text, known, recent=recent, max_words=self.max_words,
                                            message=ctx.text, injection="injection" in plan.situation,
                                            remembers=bool(getattr(ctx, "memories", ()) or recent),
                                            user_name=getattr(ctx, "name", None))
            problems += s_problems
            # Replies to emoji, another language, an injection, or to the face/voice (check-ins) answer
            # something other than the words, so similarity to the words says nothing there.
            skip_relevance = rel is None or bool({"no_words", "foreign", "injection"} & set(plan.situation)) \
                or plan.prompt in ("checkin", "checkin_trend")
            r_ok = skip_relevance or rel >= self.min_relevance
            if not r_ok:
                problems.append(f"off topic (similarity {rel:.2f} < {self.min_relevance})")
            st_ok, st_value, st_problem = self._strategy(text, plan)
            if st_problem:
                problems.append(st_problem)
            weight = TYPICALITY_WEIGHT.get(plan.prompt, 1.0)
            if plan.prompt == "question" and plan.feeling not in ("neutral", "unknown", "surprise"):
                weight = 0.8  # a question to a feeling should still sound like support, not small talk
            if plan.tone == "celebrate" or curated_tail:
                weight *= 0.7  # good news and a model-written first sentence are about the topic, not formulaic
            floor = self.min_typicality * weight
            if typical is not None and typical < floor:
                st_ok = False
                problems.append(f"unlike any supportive reply for {plan.prompt} (typicality {typical:.2f} < {floor:.2f})")
            if typical is not None:
                st_value = 0.5 * st_value + 0.5 * typical
            words = len(text.split())
            scored.append(CandidateScore(
                text=text, checks={"emotion": e_ok, "relevance": r_ok, "safety": not s_problems, "strategy": st_ok},
                values={"emotion": e_value, "relevance": 1.0 if rel is None else float(rel),
                        "length": length_value(words), "strategy": st_value},
                problems=problems, reading=reading))
        return scored

    def _readings(self, candidates: Sequence[str]) -> list[Any]:
        if self.analyzer is None or not candidates:
            return [None] * len(candidates)
        if hasattr(self.analyzer, "analyze_batch"):
            return list(self.analyzer.analyze_batch(list(candidates)))
        return [self.analyzer.analyze(text) for text in candidates]

    def _relevance(self, candidates: Sequence[str], ctx: Any) -> list[float | None]:
        if self.embedder is None or not candidates:
            return [None] * len(candidates)
        memory = [*getattr(ctx, "memories", ()), *getattr(ctx, "facts", ()),
                  *[t["content"] for t in getattr(ctx, "history", ()) if t.get("role") == "user"][-2:]]
        vectors = np.asarray(self.embedder.embed([ctx.text, *memory, *candidates]), dtype=np.float32)
        message, mem, cand = vectors[0], vectors[1:1 + len(memory)], vectors[1 + len(memory):]
        to_message = cand @ message
        to_memory = (cand @ mem.T).max(axis=1) if len(memory) else np.zeros(len(candidates), dtype=np.float32)
        return [float(max(m, 0.9 * r)) for m, r in zip(to_message, to_memory)]

    def _typicality(self, candidates: Sequence[str], plan: Any) -> list[float | None]:
        """How much each sentence reads like the curated replies for this strategy (the weakest sentence counts).

        SmolLM2-135M's failures are often fluent nonsense ("It's not just bread that can be moulded")
        that no rule names; such sentences sit far, in MiniLM space, from every reply a person wrote
        for the strategy, while sound ones sit close to at least one.
        """
        if self.embedder is None or not candidates:
            return [None] * len(candidates)
        prototypes = self._prototypes_for(plan.prompt)
        sentences = [[s for s in grounding.sentences(text)] or [text] for text in candidates]
        flat = [s for group in sentences for s in group]
        sims = (np.asarray(self.embedder.embed(flat), dtype=np.float32) @ prototypes.T).max(axis=1)
        out, i = [], 0
        for group in sentences:
            out.append(float(sims[i:i + len(group)].min()))
            i += len(group)
        return out

    def _prototypes_for(self, prompt: str) -> np.ndarray:
        if prompt not in self._prototypes:
            from companion.generation.fallback import fill, load_templates
            from companion.generation.shots import load_strategy

            texts = [ex.assistant for ex in load_strategy(prompt).exemplars]
            texts += [fill(t) for _, t in load_templates(prompt)]
            texts += [t for _, t in load_templates(prompt, "tails")]  # curated second sentences are prototypes too
            sentences = [s for t in texts for s in grounding.sentences(t)]
            self._prototypes[prompt] = np.asarray(self.embedder.embed(sentences), dtype=np.float32)
        return self._prototypes[prompt]

    @staticmethod
    def _strategy(text: str, plan: Any) -> tuple[bool, float, str | None]:
        asks = "?" in text
        if plan.strategy.name in LISTENING and _ORDERS.search(text):
            return False, 0.0, "gives orders or advice in a turn meant for listening"
        if _TIC.search(text):
            return False, 0.0, "the 'not just X, it's about Y' tic of small models"
        if "foreign" in plan.situation:  # say you understand English best, or answer in their language
            ok = "english" in text.lower() or looks_foreign(text)
            return ok, 1.0 if ok else 0.0, None if ok else "neither in their language nor asks for English"
        if plan.prompt in ("checkin", "checkin_trend") or "no_words" in plan.situation:
            return asks, 1.0 if asks else 0.0, None if asks else "does not ask the question this turn needs"
        if plan.strategy.name == "question":  # the strategy *is* the question: the reply must ask one
            ends = text.rstrip().endswith("?")
            return asks, 1.0 if ends else 0.7 if asks else 0.0, None if asks else "a question turn that asks nothing"
        if plan.strategy.name == "suggestion" and not _SUGGESTS.search(text):
            return False, 0.0, "a suggestion turn that suggests nothing"
        if plan.strategy.name == "information" and _DENIES_NORMAL.search(text):
            return False, 0.0, "tells them a common feeling is not normal"
        if plan.wants_question:
            return True, 1.0 if asks else 0.5, None
        return True, 1.0, None


def pick(scored: Sequence[CandidateScore]) -> CandidateScore | None:
    """The best passing candidate, or None when none passes."""
    passing = [s for s in scored if s.passed]
    return max(passing, key=lambda s: s.score) if passing else None
