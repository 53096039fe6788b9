"""Training and evaluation examples for the reply model, built by the run-time prompt builder.

Sources (../shared/datasets): ESConv supporter turns (with their strategy label) and
EmpatheticDialogues listener turns, each with up to 3 earlier turns, plus written memory
questions (reply_memory.py). Every example's prompt comes from
`companion.generation.prompt.build_messages`, with the mood read by the project's own text
analyzer and fused by the project's own fusion, so training sees what inference sees.

Split by conversation (a stable hash of its id), never by turn:
  ESConv train.txt -> train (90%) / dev (10%);  ESConv valid.txt -> test
  EmpatheticDialogues valid -> train (70%) / dev (10%) / test (20%)
Replies an AI must not say are dropped, with the reason counted (companion.generation.checks).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

from companion import fusion
from companion.config import FusionSettings
from companion.generation import checks
from companion.generation.planner import STRATEGIES, plan
from companion.generation.prompt import HISTORY_TURNS, TurnContext, build_messages
from pipelines.training.reply_example import Example
from pipelines.training.text_data import DEFAULT_DATA, data_file

LABEL_TO_STRATEGY = {label: name for name, label in STRATEGIES.items()}
MAX_REPLY_WORDS = 45  # the persona asks for one or two short sentences; longer turns teach lectures
MIN_REPLY_WORDS = 2
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    text: str
    strategy: str | None = None  # ESConv label of an assistant turn


@dataclass(frozen=True)
class Conversation:
    corpus: str
    conv_id: str
    split: str
    turns: tuple[Turn, ...]
    feeling: str = ""  # the corpus's own emotion label (ED's 32, ESConv's emotion_type): for readers only


def bucket(conv_id: str) -> float:
    """A stable number in [0, 1) per conversation id: the split never depends on file order or a seed."""
    return int(hashlib.sha1(conv_id.encode("utf-8")).hexdigest()[:8], 16) / 2**32


_CONTRACTIONS = {
    "im": "I'm",
    "ive": "I've",
    "dont": "don't",
    "cant": "can't",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "isnt": "isn't",
    "wasnt": "wasn't",
    "youre": "you're",
    "thats": "that's",
    "wouldnt": "wouldn't",
    "couldnt": "couldn't",
    "shouldnt": "shouldn't",
    "havent": "haven't",
    "arent": "aren't",
}
_BARE = re.compile(r"\b(" + "|".join(_CONTRACTIONS) + r"|i)\b(?!')")


def _clean(text: str) -> str:
    """Crowd-typed text as written English: '_comma_', ' ,', a lower-case 'i' or first letter, 'dont'.
    The reply model copies the surface of what it learns, and a reader judges that surface too."""
    text = re.sub(r"\s+", " ", text.replace("_comma_", ",")).strip()
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = _BARE.sub(lambda m: "I" if m.group(1) == "i" else _CONTRACTIONS[m.group(1)], text)
    text = re.sub(r"\bi(?='(?:m|ve|ll|d)\b)", "I", text)
    return text[:1].upper() + text[1:]


def _merged(turns: Iterable[Turn]) -> list[Turn]:
    """Consecutive turns of one role as one turn: the run-time history alternates user/assistant.
    A merged assistant turn keeps the strategy of its first part."""
    out: list[Turn] = []
    for turn in turns:
        if not turn.text:
            continue
        if out and out[-1].role == turn.role:
            out[-1] = Turn(turn.role, f"{out[-1].text} {turn.text}", out[-1].strategy or turn.strategy)
        else:
            out.append(turn)
    return out


# Read once per process: the text heads' training reads both corpora for three kinds of rows and two
# splits, and the conversations are frozen, so the tuples are shared safely.
@lru_cache(maxsize=4)
def read_esconv(data_dir: Path = DEFAULT_DATA) -> tuple[Conversation, ...]:
    convs = []
    for filename in ("train.txt", "valid.txt"):
        lines = data_file(data_dir, "esconv", filename).read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            row = json.loads(line)
            conv_id = f"esconv:{filename}:{i}"
            split = "test" if filename == "valid.txt" else ("dev" if bucket(conv_id) < 0.10 else "train")
            turns = [
                Turn("user" if t["speaker"] == "usr" else "assistant", _clean(t["text"]), t.get("strategy"))
                for t in row["dialog"]
            ]
            convs.append(Conversation("esconv", conv_id, split, tuple(_merged(turns)), row.get("emotion_type", "")))
    return tuple(convs)


@lru_cache(maxsize=4)
def read_ed(data_dir: Path = DEFAULT_DATA) -> tuple[Conversation, ...]:
    convs = []
    path = data_file(data_dir, "empathetic-dialogues", "valid_conversations.jsonl")
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        conv_id = f"ed:{row['conv_id']}"
        b = bucket(conv_id)
        split = "train" if b < 0.70 else ("dev" if b < 0.80 else "test")
        turns = [Turn("user" if t["role"] == "speaker" else "assistant", _clean(t["text"])) for t in row["turns"]]
        convs.append(Conversation("ed", conv_id, split, tuple(_merged(turns)), row.get("emotion", "")))
    return tuple(convs)


@dataclass(frozen=True)
class Target:
    """One assistant turn to learn, with what came before it."""

    conv: Conversation
    index: int  # position of the assistant turn in conv.turns

    @property
    def reply(self) -> Turn:
        return self.conv.turns[self.index]

    @property
    def user_text(self) -> str:
        return self.conv.turns[self.index - 1].text

    @property
    def history(self) -> tuple[dict[str, str], ...]:
        before = self.conv.turns[max(0, self.index - 1 - HISTORY_TURNS) : self.index - 1]
        return tuple({"role": t.role, "content": t.text} for t in before)


def targets(convs: Iterable[Conversation]) -> Iterator[Target]:
    for conv in convs:
        for i, turn in enumerate(conv.turns):
            if turn.role == "assistant" and i > 0 and conv.turns[i - 1].role == "user":
                yield Target(conv, i)


def drop_reason(target: Target) -> str | None:
    """Why this reply must not be learnt, or None. The reasons are counted in the weights' README."""
    text = target.reply.text
    words = len(text.split())
    if target.reply.strategy == "Self-disclosure":
        return "self-disclosure (an AI has no experiences to share)"
    if words < MIN_REPLY_WORDS:
        return "too short"
    if words > MAX_REPLY_WORDS:
        return "too long"
    known = "\n".join([target.user_text, *(t["content"] for t in target.history)]).lower()
    found = checks.problems(text, known)
    if not found:
        return None
    first = found[0]
    if first.startswith("claims a human life") or first.startswith("gives itself a name"):
        return "claims a human life"
    if first.startswith("names not in"):
        return "names the user never gave"
    if first.startswith(("number", "phone")):
        return "numbers not in the conversation"
    if first.startswith("link"):
        return "link or e-mail"
    return first.split(" (")[0].split(":")[0]


def make_example(target: Target, mood, estimate) -> Example:
    """The prompt for one target, built exactly as ReplyPipeline builds it at run time."""
    ctx = TurnContext(
        user="train",
        text=target.user_text,
        mood=mood,
        estimates=(estimate,) if estimate else (),
        history=target.history,
    )
    label = target.reply.strategy
    if label is not None and label in LABEL_TO_STRATEGY:  # ESConv: the supporter's own strategy
        prompt, feeling = LABEL_TO_STRATEGY[label], mood.label
    else:  # ED: what the planner would choose here
        chosen = plan(ctx)
        prompt, feeling = chosen.prompt, chosen.feeling
    messages, _ = build_messages(ctx, prompt=prompt, feeling=feeling)
    return Example(
        target.conv.corpus,
        target.conv.conv_id,
        target.conv.split,
        messages,
        target.reply.text,
        prompt,
        mood.label,
        {"feeling": target.conv.feeling, "turn": target.index},
    )


def moods_for(texts: list[str], analyzer: Any, settings: FusionSettings, batch: int = 256) -> list[tuple[Any, Any]]:
    """(MoodState, EmotionEstimate) per user text: the text analyzer, then fusion with no earlier mood."""
    out = []
    for start in range(0, len(texts), batch):
        for est in analyzer.analyze_batch(texts[start : start + batch]):
            mood = fusion.fuse([est] if est else [], now=est.at if est else None, settings=settings)
            out.append((mood, est))
    return out


def build(
    data_dir: Path = DEFAULT_DATA, *, analyzer: Any = None, progress: bool = True
) -> tuple[dict[str, list[Example]], Counter]:
    """All examples by split, and the count of dropped replies by reason."""
    from tqdm import tqdm

    from pipelines.training.reply_memory import memory_examples

    if analyzer is None:
        from pipelines.text import TextEmotionAnalyzer

        analyzer = TextEmotionAnalyzer()
    dropped: Counter = Counter()
    kept: list[Target] = []
    for target in targets([*read_esconv(data_dir), *read_ed(data_dir)]):
        reason = drop_reason(target)
        if reason:
            dropped[f"{target.conv.corpus}: {reason}"] += 1
        else:
            kept.append(target)
    settings = FusionSettings()
    texts = [t.user_text for t in kept]
    moods = []
    for start in tqdm(range(0, len(texts), 1024), desc="reading moods", disable=not progress, unit="k turns"):
        moods += moods_for(texts[start : start + 1024], analyzer, settings)
    by_split: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for target, (mood, est) in zip(kept, moods):
        by_split[target.conv.split].append(make_example(target, mood, est))
    for split, examples in memory_examples(analyzer, settings).items():
        by_split[split] += examples
    return by_split, dropped


def save(by_split: dict[str, list[Example]], dropped: Counter, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, examples in by_split.items():
        (out_dir / f"{split}.jsonl").write_text("".join(e.to_json() + "\n" for e in examples), encoding="utf-8")
    (out_dir / "dropped.json").write_text(json.dumps(dict(sorted(dropped.items())), indent=1), encoding="utf-8")


def load(out_dir: Path, split: str) -> list[Example]:
    path = out_dir / f"{split}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; build the examples first: python -m pipelines.training.reply_data")
    return [Example(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line]


def counts(by_split: dict[str, list[Example]]) -> dict[str, dict[str, int]]:
    return {split: dict(Counter(e.corpus for e in examples)) for split, examples in by_split.items()}


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Build the reply model's examples (prompts as at run time).")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared datasets folder")
    parser.add_argument("--out", type=Path, default=Path("artifacts/reply_data"))
    args = parser.parse_args(argv)
    by_split, dropped = build(args.data)
    save(by_split, dropped, args.out)
    print(json.dumps({"examples": counts(by_split), "dropped": dict(sorted(dropped.items()))}, indent=1))


if __name__ == "__main__":
    main()
