"""From a turn's context to a reply: one sample of the support-tuned model, streamed sentence by sentence.

`ReplyPipeline.stream(ctx)` is a generator: it yields text pieces and *returns* a ReplyOutcome
(use `outcome = yield from pipeline.stream(ctx)`). Tokens are read as the model writes them; each
sentence is shown as soon as it is complete and has passed the checks in `checks.py` (no invented
numbers, links or names, no claim to be human). A first sentence that fails is replaced by a
curated reply; a later one is dropped. Either way the flags say so.

With a judge (pipelines/reply_judge.py, learnt from blind readings), a first sentence judged below its
floor is held back while a second sample is drawn; the better judged of the two is shown ("resampled"
in the flags when it is the second). Only those turns, about a fifth, pay for a second sample.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from companion.errors import GenerationError
from companion.generation import checks
from companion.generation.fallback import fallback_reply, not_told, told
from companion.generation.planner import plan as make_plan
from companion.generation.prompt import TurnContext, build_messages
from companion.generation.recall import recall_reply
from companion.types import Strategy

__all__ = ["ReplyOutcome", "ReplyPipeline", "TurnContext"]


@dataclass(frozen=True)
class ReplyOutcome:
    text: str
    strategy: Strategy | None
    flags: tuple[str, ...] = ()
    blocks: dict[str, str] = field(default_factory=dict)  # the prompt blocks used (for --json and tests)
    problems: tuple[str, ...] = ()  # why a sentence was replaced or dropped


STOP = ("\n", "<|im_end|>", "User:", "user:", "<|im_start|>")
# A sentence ends at . ! ? (and closing quotes or brackets) followed by a space; "Mr." stays attached.
_SENTENCE_END = re.compile(r"(?<!\bMr)(?<!\bMrs)(?<!\bDr)(?<!\bMs)[.!?]+[\"')\]]?\s+")
_LEAD = re.compile(r"^\s*(?:<\|?/?\w*\|?>\s*)*(?:(?:assistant|ember)\s*:\s*)?", re.I)


def split_sentences(buffer: str) -> tuple[list[str], str]:
    """Whole sentences at the start of `buffer`, and the unfinished rest."""
    found, start = [], 0
    for match in _SENTENCE_END.finditer(buffer):
        sentence = buffer[start : match.end()].strip()
        if re.search(r"\w", sentence):  # a lone "." or "!" is no sentence
            found.append(sentence)
        start = match.end()
    return found, buffer[start:]


def pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


def _fact_conflict(sentence: str, facts: tuple[str, ...]) -> tuple[str, str] | None:
    """(problem, what to say instead) when a sentence contradicts the stored facts about a person."""
    if wrong := checks.misattributed(sentence, facts):  # say the right name, or that we were not told it
        name = checks.person_names(facts).get(wrong[0])
        instead = told(wrong[0], name) if name else not_told(wrong[0])
        return f"says {wrong[1]} is the user's {wrong[0]}; the facts say their {wrong[2]}", instead
    if denied := checks.denied(sentence, facts):  # the user did tell us: say it back
        return f"says it was not told the user's {denied[0]}; the facts name {denied[1]}", told(*denied)
    return None


def _fails(sentence: str, known: str, ctx: TurnContext) -> bool:
    return bool(checks.problems(sentence, known) or _fact_conflict(sentence, ctx.facts))


class ReplyPipeline:
    """Plan a strategy, build the prompt, stream one sample through the per-sentence checks."""

    def __init__(self, generator: Any, llm: Any, *, embedder: Any = None, judge: Any = None):
        self.generator = generator
        self.llm = llm
        self.embedder = embedder
        self.judge = judge
        floor = getattr(llm, "judge_floor", None)
        self.floor = floor if floor is not None else getattr(judge, "floor", 0.0)

    def stream(self, ctx: TurnContext) -> Iterator[str]:
        plan = make_plan(ctx)
        facts = self._relevant_facts(ctx)
        messages, blocks = build_messages(ctx, prompt=plan.prompt, feeling=plan.feeling, facts=facts)
        blocks = {**blocks, "strategy_name": plan.strategy.name, "strategy_reason": plan.strategy.reason}
        flags = ["injection_suspected"] if "injection" in plan.situation else []
        if plan.prompt == "checkin_trend":
            flags.append("checkin_trend")  # core asks about a low trend at most once a day
        recall = next((s for s in plan.situation if s.startswith("recall_")), None)
        if recall:  # said from the stored facts, not by the model (recall.py says why)
            text = recall_reply(recall, ctx.facts)
            yield from pieces(text)
            return ReplyOutcome(text=text, strategy=plan.strategy, flags=("recalled", *flags), blocks=blocks)
        known = checks.known_text(ctx)  # every stored fact is in it, the prompt's few included
        shown: list[str] = []
        problems: list[str] = []
        templated = []

        def replace_all(reason_flag: str, text: str | None = None) -> Iterator[str]:
            text = text or fallback_reply(ctx, plan, self.embedder, exclude=ctx.last_replies(3))
            shown.append(text)
            templated.append(reason_flag)
            flags.append(reason_flag)
            yield from pieces(text)

        # The embedded model reads and writes English only (its training turns are English): a message in
        # another language gets the curated line that says so, in place of garbled text in that language.
        sentences = iter(()) if "foreign" in plan.situation else self._judged(messages, ctx, known, blocks, flags)
        try:
            for sentence in sentences:
                found = checks.problems(sentence, known)
                conflict = _fact_conflict(sentence, ctx.facts)
                if conflict:
                    found.append(conflict[0])
                if not found:
                    words = pieces(sentence)
                    if shown:
                        words[0] = " " + words[0]
                    shown.append(sentence)
                    yield from words
                    if len(shown) >= self.llm.max_sentences:
                        break
                    continue
                problems.extend(found)
                if shown:
                    flags.append("sentence_dropped")
                else:
                    yield from replace_all("sentence_replaced", conflict[1] if conflict else None)
                break
        except GenerationError as exc:
            problems.append(str(exc))
            if shown:
                flags.append("generation_failed")
            else:
                yield from replace_all("generation_failed")
        finally:
            if hasattr(sentences, "close"):
                sentences.close()  # stops decoding now, not when the generator is collected
        if not shown:
            yield from replace_all("not_english" if "foreign" in plan.situation else "empty_generation")
        flags.insert(0, "template_fallback" if templated else "generated")
        return ReplyOutcome(
            text=" ".join(shown).strip(),
            strategy=plan.strategy,
            flags=tuple(flags),
            blocks=blocks,
            problems=tuple(problems),
        )

    def _judged(self, messages, ctx: TurnContext, known: str, blocks: dict, flags: list) -> Iterator[str]:
        """The sample's sentences, or a second sample's when the judge rates its first sentence better."""
        sample = self._sentences(messages)
        try:
            head = next(sample, None)
            if head is None:
                return
            if self.judge is None or _fails(head, known, ctx):  # a failing sentence is the checks' to handle
                yield head
                yield from sample
                return
            turns = min(3, len(ctx.history))
            read = next((e for e in ctx.estimates if e.modality == "text"), None)  # the turn's own reading
            score = self.judge.score(ctx.text, [head], turns, message_estimate=read)[0]
            blocks["judge"] = f"{score:.2f}"
            if score >= self.floor:
                yield head
                yield from sample
                return
            sample.close()  # frees the llama.cpp slot for the second sample
            second = self._sentences(messages, seed_offset=1)
            try:
                other = next(second, None)
                if other is not None and not _fails(other, known, ctx):
                    other_score = self.judge.score(ctx.text, [other], turns, message_estimate=read)[0]
                    blocks["judge"] += f" -> {other_score:.2f}"
                    if other_score > score:
                        flags.append("resampled")
                        yield other
                        yield from second
                        return
                yield head  # the first sample's continuation was given up for the second
            finally:
                second.close()
        finally:
            sample.close()

    def _sentences(self, messages: list[dict[str, str]], *, seed_offset: int = 0) -> Iterator[str]:
        """Whole sentences as the model writes them; a final fragment only when nothing else came."""
        llm = self.llm
        seed = None if llm.seed is None else llm.seed + seed_offset
        stream = self.generator.stream(
            messages,
            max_tokens=llm.max_tokens,
            temperature=llm.temperature,
            top_p=llm.top_p,
            seed=seed,
            stop=STOP,
        )
        buffer, emitted = "", 0
        try:  # a backend reports its failures as GenerationError; anything else is a bug and propagates
            for piece in stream:
                buffer += piece
                if not emitted:
                    buffer = _LEAD.sub("", buffer, count=1) if buffer.strip() else buffer
                done, buffer = split_sentences(buffer)
                for sentence in done:
                    emitted += 1
                    yield sentence
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()  # stops decoding at once when the reader is done (llama.cpp frees the slot)
        # The model's last sentence ends at its end-of-turn token, with no space after the "." for
        # split_sentences to see: it is whole when it ends in punctuation. An unpunctuated rest is a
        # reply only when nothing came before it ("Oh no, I'm so sorry"); after whole sentences it is
        # more likely a cut-off fragment (max_tokens), and is dropped.
        rest = buffer.strip()
        ended = re.search(r"[.!?][\"')\]]?$", rest)
        if rest and (ended or not emitted):
            yield rest if ended else rest + "."

    def _relevant_facts(self, ctx: TurnContext, k: int = 3) -> list[str]:
        """The name plus the facts closest to the message: a small model loses track of long prompts."""
        facts = list(ctx.facts)
        if len(facts) <= k or self.embedder is None:
            return facts[:k] if len(facts) > k else facts
        import numpy as np

        named = [f for f in facts if f.startswith("The user's name is")]
        rest = [f for f in facts if f not in named]
        vectors = np.asarray(self.embedder.embed([ctx.text, *rest]), dtype=np.float32)
        order = np.argsort(-(vectors[1:] @ vectors[0]))[: max(0, k - len(named))]
        return named + [rest[i] for i in sorted(order)]
