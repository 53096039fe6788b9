"""Conversational rows for the text heads, beside GoEmotions and EmoBank.

- emotion: EmpatheticDialogues and ESConv user turns, labelled by their conversation's emotion
  mapped to the seven labels (ED_TO_EKMAN, ESCONV_TO_EKMAN; None = dropped, with the reason);
- crisis (none / self_harm / danger): the project's written sentences (benchmarks/data/crisis_train.jsonl,
  each in a few surface variants), plus everyday negatives: ED/ESConv user turns and their sentences,
  and GoEmotions comments. A turn that mentions suicide, self-harm, dying or abuse is left out of the
  negatives (RISKY): its label would be a guess, and a real crisis turn must not be taught as "none";
- masking: written dismissals ("I'm fine, it's whatever"), read as slightly negative and unsure.

Splits follow pipelines.training.reply_data (by conversation: ED 70/10/20 by a hash of its id, ESConv
train.txt 90/10 train/dev with valid.txt as test); the written crisis sentences go 85/15 by a hash of
the sentence, so all variants of one sentence sit on one side. Test rows are never read here.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from companion import rules
from companion.types import EMOTIONS
from pipelines.text import sentences
from pipelines.training.reply_data import bucket, read_ed, read_esconv

ROOT = Path(__file__).resolve().parents[2]
CRISIS_TRAIN = ROOT / "benchmarks" / "data" / "crisis_train.jsonl"
CRISIS_EVAL = ROOT / "benchmarks" / "data" / "crisis_eval.jsonl"
MASKING_TRAIN = ROOT / "benchmarks" / "data" / "masking_train.jsonl"
# Plain statements ("I work as a nurse and I live in Lisbon.") read as fear 0.47: the dialogue rows teach
# that a first-person turn carries a feeling (ED and ESConv have no neutral turns); these teach the other
# case. The reply adapter was retrained on the moods of heads that learnt them (docs/text.md).
STATEMENTS_TRAIN = ROOT / "benchmarks" / "data" / "statements_train.jsonl"
CRISIS_CLASSES = ("none", "self_harm", "danger")

# ED's 32 situation labels, following GoEmotions' own Ekman grouping where it names the feeling
# (embarrassment and remorse are sadness there, caring and optimism joy). Dropped (None): labels that
# are a stance rather than one of the seven feelings (faithful, trusting, prepared), mixed ones
# (nostalgic, sentimental: fond and sad at once) and jealous (anger or sadness, by case).
ED_TO_EKMAN = {
    "joyful": "joy",
    "excited": "joy",
    "proud": "joy",
    "grateful": "joy",
    "content": "joy",
    "impressed": "joy",
    "hopeful": "joy",
    "confident": "joy",
    "anticipating": "joy",
    "caring": "joy",
    "sad": "sadness",
    "lonely": "sadness",
    "devastated": "sadness",
    "disappointed": "sadness",
    "guilty": "sadness",
    "ashamed": "sadness",
    "embarrassed": "sadness",
    "angry": "anger",
    "furious": "anger",
    "annoyed": "anger",
    "afraid": "fear",
    "terrified": "fear",
    "anxious": "fear",
    "apprehensive": "fear",
    "surprised": "surprise",
    "disgusted": "disgust",
    "faithful": None,
    "trusting": None,
    "prepared": None,
    "nostalgic": None,
    "sentimental": None,
    "jealous": None,
}
ESCONV_TO_EKMAN = {
    "anxiety": "fear",
    "fear": "fear",
    "nervousness": "fear",
    "depression": "sadness",
    "sadness": "sadness",
    "shame": "sadness",
    "guilt": "sadness",
    "pain": "sadness",
    "anger": "anger",
    "disgust": "disgust",
    "jealousy": None,
}
ESCONV_MIN_WORDS = 8  # shorter seeker turns are greetings and "yes"; they carry no feeling of their own
ESCONV_FIRST_TURNS = 4  # the seeker names the problem early; later turns answer the supporter's questions
RISKY = rules.regex("text_dialogue", "risky")  # prompts/rules/text_dialogue.json
_PREFIXES = ["honestly ", "i think ", "lately ", "tbh ", "right now ", "i need to tell someone, ", "ok so "]
_SUFFIXES = [" and i mean it", " tonight", ", i'm serious", " lol", ", what do i do", " again"]


@dataclass
class Rows:
    """Texts with one integer label each (EMOTIONS or CRISIS_CLASSES index), and where they came from."""

    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    def add(self, text: str, label: int, kind: str) -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.kinds.append(kind)

    @property
    def target(self) -> np.ndarray:
        return np.asarray(self.labels, dtype=np.int64)


def dialogue_emotion(data_dir: Path, split: str) -> Rows:
    """User turns labelled with their conversation's feeling: ED's opening turn, ESConv's first long turns."""
    rows = Rows()
    for conv in read_ed(data_dir):
        label = ED_TO_EKMAN.get(conv.feeling)
        users = [t.text for t in conv.turns if t.role == "user"]
        if conv.split == split and label and users:
            rows.add(users[0], EMOTIONS.index(label), "ed")
    for conv in read_esconv(data_dir):
        label = ESCONV_TO_EKMAN.get(conv.feeling)
        if conv.split != split or not label:
            continue
        users = [t.text for t in conv.turns if t.role == "user"][:ESCONV_FIRST_TURNS]
        for text in users:
            if len(text.split()) >= ESCONV_MIN_WORDS:
                rows.add(text, EMOTIONS.index(label), "esconv")
    return rows


def dialogue_turns(data_dir: Path, split: str) -> tuple[list[tuple[str, str]], int]:
    """(corpus, user turn) of a split, and how many turns were left out as possibly a real crisis."""
    turns, risky = [], 0
    for conv in read_ed(data_dir) + read_esconv(data_dir):
        if conv.split != split:
            continue
        for turn in conv.turns:
            if turn.role != "user":
                continue
            if RISKY.search(turn.text):
                risky += 1
            else:
                turns.append((conv.corpus, turn.text))
    return turns, risky


DEV_DIALOGUE_PIECES = 3000  # the dev split's everyday pieces (of 3,114): the threshold reads these


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def variants(text: str, rng: random.Random) -> list[str]:
    """The sentence, a casual lower-case form, and one with a prefix or suffix: people type all three."""
    bare = text.rstrip(".!?").lower()
    out = [text, bare, rng.choice(_PREFIXES) + bare]
    out.append(bare + rng.choice(_SUFFIXES) if rng.random() < 0.5 else text[0].upper() + text[1:])
    return list(dict.fromkeys(out))


def text_key(text: str) -> str:
    """How crisis sentences are compared: case and end punctuation do not make a new sentence."""
    return text.lower().strip(" .!?")


def written_split(text: str) -> str:
    return "dev" if bucket("crisis:" + text_key(text)) < 0.15 else "train"


def crisis_rows(
    data_dir: Path,
    split: str,
    *,
    goemotions: int = 3000,
    dialogue_cap: int | None = 12000,
    seed: int = 13,
    dialogue: bool = True,
) -> tuple[Rows, dict[str, int]]:
    """Crisis rows of a split (train or dev) and counts for the README (left-out risky turns included).
    `dialogue_cap` caps the train split's everyday ED/ESConv pieces (None: all of them); dev always
    keeps DEV_DIALOGUE_PIECES, so the thresholds and dev scores of differently trained heads compare."""
    rng = random.Random(seed)
    eval_texts = {text_key(r["text"]) for r in read_jsonl(CRISIS_EVAL)}
    rows, counts = Rows(), {}
    for row in read_jsonl(CRISIS_TRAIN):
        if text_key(row["text"]) in eval_texts:
            raise SystemExit(f"training sentence {row['text']!r} is also in the eval set; remove it from one of them")
        if written_split(row["text"]) != split:
            continue
        for text in variants(row["text"], rng) if split == "train" else [row["text"]]:
            rows.add(text, CRISIS_CLASSES.index(row["label"]), f"written_{row['label']}")
    turns, counts["dialogue_turns_left_out_risky"] = dialogue_turns(data_dir, split) if dialogue else ([], 0)
    # an everyday piece that is also an eval message ("Good morning") would score the eval on its own training
    pieces = [t for _, turn in turns for t in dict.fromkeys([turn, *sentences(turn)]) if text_key(t) not in eval_texts]
    rng.shuffle(pieces)
    for text in pieces[: dialogue_cap if split == "train" else DEV_DIALOGUE_PIECES]:
        rows.add(text, 0, "dialogue")
    goe_split = "train" if split == "train" else "dev"
    goe = [
        line.split("\t", 1)[0]
        for line in (data_dir / "goemotions" / f"{goe_split}.tsv").read_text(encoding="utf-8").splitlines()
    ]
    goe = [t for t in goe if len(t.split()) >= 3 and not RISKY.search(t) and text_key(t) not in eval_texts]
    rng.shuffle(goe)
    for text in goe[: goemotions if split == "train" else goemotions // 4]:
        rows.add(text, 0, "goemotions")
    counts.update({k: rows.kinds.count(k) for k in dict.fromkeys(rows.kinds)})
    return rows, counts


def masking_rows(statements: bool = True) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Written dismissals (and plain statements): (texts, emotion target distributions (n, 7), (valence,
    arousal) (n, 2))."""
    data = read_jsonl(MASKING_TRAIN) + (read_jsonl(STATEMENTS_TRAIN) if statements else [])
    target = np.zeros((len(data), len(EMOTIONS)), np.float32)
    affect = np.zeros((len(data), 2), np.float32)
    for i, row in enumerate(data):
        for name, p in row["emotion"].items():
            target[i, EMOTIONS.index(name)] = p
        target[i] /= target[i].sum()
        affect[i] = (row["valence"], row["arousal"])
    return [r["text"] for r in data], target, affect
