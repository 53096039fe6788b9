"""Text -> EmotionEstimate: the packaged MiniLM encoder plus heads trained here.

Heads (pipelines/weights/text/, trained by `python -m pipelines.training.text`):
- emotion: 7-way softmax over EMOTIONS, trained on GoEmotions mapped to Ekman + neutral,
  temperature-scaled on the dev split so that the max probability is calibrated;
- affect: (valence, arousal) regression, trained on EmoBank (1..5 mapped to -1..1).
When training chose to fine-tune the encoder's top layers, their copies ship with the heads
and run after the shared bottom layers; the embedder keeps using the original ones.

Rules for awkward input (docs/text.md):
- empty or whitespace-only text -> None (no signal); a non-str -> TypeError;
- emoji and emoticons become words ("😭" -> "loudly crying face"): the tokenizer's
  vocabulary has no emoji, and training saw the same rewriting;
- long text is read in 128-token windows overlapping by 32; at most 8 windows (evenly
  spaced, first and last always kept) are averaged, weighted by their token counts;
- text that does not look English gets a low confidence (see `language_factor`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from companion.errors import WrongType
from companion.types import EMOTIONS, EmotionEstimate
from pipelines import loading, text_negation
from pipelines.embedding import TOKENIZER_LOCK, embed_tokens, mean_pool, run_layers, shared_encoder

WEIGHTS_NAME = "text"
WINDOW_TOKENS = 128
WINDOW_OVERLAP = 32
MAX_WINDOWS = 8

_EMOTICONS = [  # order matters: crying before frowning
    (r":'-?\(+", "crying face"),
    (r"[:=]-?\)+", "smiling face"),
    (r"[:=]-?\(+", "frowning face"),
    (r"[:=]-?D+", "grinning face"),
    (r"[xX]D+", "laughing face"),
    (r";-?\)+", "winking face"),
    (r"<3+", "heart"),
]
_EMOTICON_RE = re.compile("|".join(f"(?<!\\w)(?:{p})(?!\\w)" for p, _ in _EMOTICONS))
_EMOTICON_WORDS = [(re.compile(p), w) for p, w in _EMOTICONS]
# Unicode names that read badly as words; every other emoji uses its Unicode name.
_EMOJI_WORDS = {
    "❤": "red heart",
    "♥": "heart",
    "😡": "angry face",
    "🤬": "cursing angry face",
    "😮": "surprised face",
    "☹": "frowning face",
    "😤": "angry huffing face",
}
_DROP = {"\ufe0e", "\ufe0f"}  # emoji/text presentation selectors


def check_text(text: Any, who: str = "analyze") -> str | None:
    """The text to analyse, or None when it carries no signal; TypeError for a non-str."""
    if not isinstance(text, str):
        raise WrongType(
            f"{who}() takes text as str, got {type(text).__name__}"
            + ("; decode bytes first: data.decode('utf-8')" if isinstance(text, bytes) else "")
        )
    return text if text.strip() else None


def check_texts(texts: Any, who: str = "analyze_batch") -> list[str | None]:
    if isinstance(texts, (str, bytes)):
        raise WrongType(f"{who}() takes a list of str; for one text call analyze(text)")
    return [check_text(t, who) for t in texts]


def _emoji_words(ch: str) -> str | None:
    if ch in _EMOJI_WORDS:
        return _EMOJI_WORDS[ch]
    if unicodedata.category(ch) != "So" or "\u2800" <= ch <= "\u28ff" or "\U0001f1e6" <= ch <= "\U0001f1ff":
        return None  # not an emoji; braille art and flag letters carry no feeling
    return unicodedata.name(ch, "").lower() or None


def normalise_text(text: str) -> str:
    """Rewrite emoji/emoticons as words and drop invisible characters (training uses this too)."""

    def emoticon(match: re.Match) -> str:
        return next(f" {w} " for p, w in _EMOTICON_WORDS if p.fullmatch(match.group(0)))

    text = _EMOTICON_RE.sub(emoticon, unicodedata.normalize("NFC", text))
    out: list[str] = []
    previous, repeats = "", 0
    for ch in text:
        if ch in _DROP or unicodedata.category(ch) == "Cf" or "\U0001f3fb" <= ch <= "\U0001f3ff":
            continue  # zero-width joiners, skin tones
        words = _emoji_words(ch)
        if words is None:
            out.append(ch)
            previous = ""
            continue
        repeats = repeats + 1 if ch == previous else 1
        previous = ch
        if repeats <= 3:  # "😂😂😂😂😂😂" says no more than three of them
            out.append(f" {words} ")
    return " ".join("".join(out).split())


# Frequent English words that are rare as whole words in other languages (uncased wordpieces),
# and frequent words of other Latin-script languages that English does not use (accents stripped).
_ENGLISH_MARKERS = frozenset(
    "i you the and is are was were not my it this that with have has had been don can will would just "
    "very really about what how why he she they we your our their feel of for to lol omg idk ok okay "
    "yes yeah thanks thank wow haha".split()
)
_FOREIGN_MARKERS = frozenset(
    "je suis est les et une pas avec pour dans tres mais nous vous qui des "  # French
    "ich bin und nicht ist das der ein eine sehr mich mir auf heute aber wir "  # German
    "estoy muy los las que por para yo pero esta soy "  # Spanish
    "sono non che il di della molto mio "  # Italian
    "ik het een niet heel zijn estou nao muito voce eu meu minha".split()
)  # Dutch, Portuguese


def language_factor(words: Sequence[Sequence[str]]) -> float:
    """How far to trust the English-trained heads on this text, 0..1 (a heuristic, no model).

    `words` are the wordpieces of each word. More frequent English words than foreign ones
    -> 1. Otherwise the share of words the English vocabulary holds whole (smoothed towards
    0.9 over two pseudo-words, so one odd word in a short text does not sink it) maps
    0.6 -> 0 and 0.9 -> 1, halved when frequent French/German/Spanish/Italian/Dutch/
    Portuguese words appear. Non-Latin scripts are never "known": they land at 0.
    """
    words = [w for w in words if any(c.isalpha() for piece in w for c in piece)]
    if not words:
        return 1.0  # emoji, digits, punctuation: nothing points to another language
    whole = [w[0] for w in words if len(w) == 1]
    english = sum(1 for w in whole if w in _ENGLISH_MARKERS)
    foreign = sum(1 for w in whole if w in _FOREIGN_MARKERS)
    if english and english >= foreign:
        return 1.0
    known = sum(1 for w in whole if w != "[UNK]" and w.isascii())
    share = (known + 1.8) / (len(words) + 2)
    factor = float(np.clip((share - 0.6) / 0.3, 0.0, 1.0))
    return factor * 0.5 if foreign else factor


CRISIS_CLASSES = ("none", "self_harm", "danger")


class EmotionHeads(nn.Module):
    """Fine-tuned top encoder layers, then [mean; CLS] pooling and three small heads: emotion,
    affect (valence, arousal) and crisis (none / self_harm / danger), all from one pass."""

    def __init__(self, config, top_layers: Sequence[nn.Module] = (), hidden: int = 256) -> None:
        super().__init__()
        self.config = config
        self.top = nn.ModuleList(top_layers)
        width = 2 * config.hidden_size
        self.emotion = nn.Sequential(
            nn.Dropout(0.1), nn.Linear(width, hidden), nn.GELU(), nn.Dropout(0.1), nn.Linear(hidden, len(EMOTIONS))
        )
        self.affect = nn.Sequential(nn.Dropout(0.1), nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, 2))
        self.crisis = nn.Sequential(
            nn.Dropout(0.1), nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, len(CRISIS_CLASSES))
        )
        # EmoBank's (valence, arousal) are narrow (sd ~0.17 on -1..1): the head predicts z-scores.
        self.register_buffer("affect_mean", torch.zeros(2))
        self.register_buffer("affect_scale", torch.ones(2))

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if len(self.top):
            hidden = run_layers(self.config, self.top, hidden, attention_mask)
        return torch.cat([mean_pool(hidden, attention_mask), hidden[:, 0]], dim=-1)

    def predict(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(emotion logits, affect z-scores) from pooled features."""
        return self.emotion(features), self.affect(features)

    def affect_units(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.affect_scale + self.affect_mean

    def forward(self, hidden, attention_mask):
        """(emotion logits, (valence, arousal), crisis logits)."""
        return self.read(self.pool(hidden, attention_mask))

    def forward_packed(self, hidden, mask, spans: Sequence[tuple[int, int, int]]):
        """Like forward, for packed rows: `mask` keeps each text to itself, `spans` are (row, start,
        length) of each text; outputs come in the order of `spans`."""
        if len(self.top):
            hidden = run_layers(self.config, self.top, hidden, mask)
        return self.read(torch.stack([torch.cat([hidden[b, s : s + n].mean(0), hidden[b, s]]) for b, s, n in spans]))

    def read(self, features: torch.Tensor):
        logits, z = self.predict(features)
        return logits, self.affect_units(z), self.crisis(features)


def load_heads(model, weights_dir=None) -> tuple[EmotionHeads, dict]:
    """The shipped heads (and fine-tuned top layers) for the shared `model`, plus their config."""
    import copy
    from pathlib import Path

    from safetensors.torch import load_file

    folder = Path(weights_dir) if weights_dir else loading.weights_file(WEIGHTS_NAME, "config.json").parent
    if not (folder / "config.json").exists():
        raise loading.MissingModel(
            f"no text heads in {folder} (config.json missing); train them with "
            "`python -m pipelines.training.text --out DIR`"
        )
    config = json.loads((folder / "config.json").read_text())
    k = int(config["top_layers"])
    layers = model.encoder.layer
    top = [copy.deepcopy(layers[i]) for i in range(len(layers) - k, len(layers))]
    heads = EmotionHeads(model.config, top, hidden=int(config["hidden"]))
    state = {name: t.float() for name, t in load_file(str(folder / "heads.safetensors")).items()}
    heads.load_state_dict(state)
    return heads.eval(), config


@dataclass(frozen=True)
class Prepared:
    """Windows to run, which text each belongs to, and each text's language factor."""

    keep: list[int]  # positions (in the caller's list) of texts with content
    windows: list[list[int]]  # token ids per window, special tokens included
    owner: list[int]  # index into `keep` per window
    skipped: list[int]  # windows dropped per kept text (long texts)
    language: list[float]
    ended: list[tuple[frozenset, bool]] = field(default_factory=list)  # feelings said to be over, mixed
    sentence: list[bool] = field(default_factory=list)  # window is one sentence, read by the crisis head only


MAX_SENTENCES = 12


def sentences(text: str) -> list[str]:
    """The sentences of a text with two words or more (training splits its negatives the same way)."""
    return [p.strip() for p in re.split(r"(?<=[.!?;])\s+|\n+", text) if len(p.strip().split()) >= 2]


def sentence_pieces(text: str, limit: int = MAX_SENTENCES) -> list[str]:
    """The sentences of a message, merged into at most `limit` pieces; none for a single sentence.

    The crisis head reads each one as well as the whole message: one sentence about ending one's
    life in a long message about the week must not be averaged away."""
    parts = sentences(text)
    if len(parts) > limit:  # keep every word covered: merge neighbours into `limit` groups
        size = -(-len(parts) // limit)
        parts = [" ".join(parts[i : i + size]) for i in range(0, len(parts), size)]
    return parts if len(parts) > 1 else []


class TextEmotionAnalyzer:
    """MiniLM + GoEmotions/EmoBank heads. `analyze(text) -> EmotionEstimate | None`."""

    modality = "text"

    def __init__(
        self,
        *,
        weights_dir: str | None = None,
        max_windows: int = MAX_WINDOWS,
        batch_size: int = 64,
        threads: int | None = None,
    ) -> None:
        loading.torch_threads(threads)
        self.max_windows = max(1, int(max_windows))
        self.batch_size = max(1, int(batch_size))
        self._tokenizer, self._model = shared_encoder()
        self._heads, self.config = load_heads(self._model, weights_dir)
        self._shared = list(self._model.encoder.layer[: len(self._model.encoder.layer) - len(self._heads.top)])
        self.temperature = float(self.config["temperature"])
        self.source = str(self.config["source"])
        self.crisis_threshold = float(self.config.get("crisis_threshold", 1.0))
        # the lower, recall-first threshold of the check-in tier (older weights have none: no tier)
        self.crisis_check_in = float(self.config.get("crisis_check_in", self.crisis_threshold))

    def analyze(self, text: str) -> EmotionEstimate | None:
        text = check_text(text)
        return None if text is None else self.analyze_batch([text])[0]

    def analyze_batch(self, texts: Sequence[str]) -> list[EmotionEstimate | None]:
        checked = check_texts(texts)
        prepared = self._prepare(checked)
        logits, affect, crisis = self._infer(prepared)
        out: list[EmotionEstimate | None] = [None] * len(checked)
        owner = np.asarray(prepared.owner, dtype=np.int64)
        sentence = np.asarray(prepared.sentence, dtype=bool)
        for j, position in enumerate(prepared.keep):
            rows = np.flatnonzero((owner == j) & ~sentence)
            lengths = np.array([len(prepared.windows[r]) for r in rows], dtype=np.float64)
            estimate = _to_estimate(
                logits[rows],
                affect[rows],
                lengths,
                self.temperature,
                prepared.language[j],
                self.source,
                prepared.skipped[j],
                prepared.ended[j],
            )
            reading = self._crisis_reading(crisis[owner == j])
            out[position] = replace(estimate, details={**estimate.details, "crisis": reading})
        return out

    def _crisis_reading(self, logits: np.ndarray) -> dict:
        """The riskiest of a message's pieces (whole windows and sentences): risk = 1 - p(none)."""
        probs = softmax(logits)
        risk = 1.0 - probs[:, 0]
        best = int(np.argmax(risk))
        category = CRISIS_CLASSES[1 + int(np.argmax(probs[best, 1:]))]
        return {
            "risk": round(float(risk[best]), 4),
            "category": category,
            "alarm": bool(risk[best] >= self.crisis_threshold),
            "check_in": bool(self.crisis_check_in <= risk[best] < self.crisis_threshold),
            "pieces": int(len(risk)),
        }

    def _prepare(self, texts: list[str | None]) -> Prepared:
        keep, clean = [], []
        for i, text in enumerate(texts):
            text = normalise_text(text) if text is not None else ""
            if text:
                keep.append(i)
                clean.append(text)
        if not clean:
            return Prepared([], [], [], [], [], [])
        with TOKENIZER_LOCK:  # shared with the embedder: see pipelines/embedding.py
            enc = self._tokenizer(
                clean, truncation=True, max_length=WINDOW_TOKENS, stride=WINDOW_OVERLAP, return_overflowing_tokens=True
            )
            words = self._tokenizer(clean, add_special_tokens=False, truncation=True, max_length=512)
        by_text: dict[int, list[int]] = {}
        for w, j in enumerate(enc["overflow_to_sample_mapping"]):
            by_text.setdefault(int(j), []).append(w)
        windows, owner, skipped = [], [], []
        for j in range(len(clean)):
            ws = by_text[j]
            chosen = sorted({ws[int(round(x))] for x in np.linspace(0, len(ws) - 1, min(len(ws), self.max_windows))})
            windows += [enc["input_ids"][w] for w in chosen]
            owner += [j] * len(chosen)
            skipped.append(len(ws) - len(chosen))
        language = [language_factor(_words_of(e)) for e in words.encodings]
        is_sentence = [False] * len(windows)
        pieces = [(j, p) for j, t in enumerate(clean) for p in sentence_pieces(t)]
        if pieces:  # each sentence as its own window too, for the crisis head (same batch, one pass)
            with TOKENIZER_LOCK:
                ids = self._tokenizer([p for _, p in pieces], truncation=True, max_length=WINDOW_TOKENS)["input_ids"]
            windows += ids
            owner += [j for j, _ in pieces]
            is_sentence += [True] * len(pieces)
        return Prepared(
            keep, windows, owner, skipped, language, [text_negation.ended_feelings(t) for t in clean], is_sentence
        )

    def _infer(self, prepared: Prepared) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Emotion logits (n_windows, 7), (valence, arousal) (n_windows, 2), crisis logits (n_windows, 3).

        A small call packs its windows several to a row (a message and its sentences are one short
        row, not three rows padded to the longest): the layers' cost follows the real tokens."""
        n = len(prepared.windows)
        logits, affect = np.zeros((n, len(EMOTIONS)), np.float32), np.zeros((n, 2), np.float32)
        crisis = np.zeros((n, len(CRISIS_CLASSES)), np.float32)
        lengths = [len(w) for w in prepared.windows]
        # A big batch sorted by length pads little, and packed rows' masked attention costs more there.
        limit = PACK_TOKENS if n <= self.batch_size else 0
        rows = sorted(pack(lengths, limit), key=lambda row: sum(lengths[i] for i in row))
        with torch.inference_mode():
            for begin in range(0, len(rows), self.batch_size):
                batch = rows[begin : begin + self.batch_size]
                ids, positions, mask, spans = packed_batch([[prepared.windows[i] for i in row] for row in batch])
                hidden = run_layers(self._model.config, self._shared, embed_tokens(self._model, ids, positions), mask)
                lg, va, cr = self._heads.forward_packed(hidden, mask, spans)
                order = [i for row in batch for i in row]
                logits[order], affect[order], crisis[order] = lg.float().numpy(), va.float().numpy(), cr.float().numpy()
        return logits, affect, crisis


PACK_TOKENS = WINDOW_TOKENS  # a row holds windows of at most this many tokens in all


def pack(lengths: Sequence[int], limit: int) -> list[list[int]]:
    """Indices of windows packed into rows of at most `limit` tokens (a longer window gets a row of
    its own): first fit, longest first, looking at the few most recent rows only (linear time)."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        for r in range(max(0, len(rows) - 8), len(rows)):
            if lengths[i] <= room[r]:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(limit - lengths[i])
    return rows


def packed_batch(rows: Sequence[Sequence[Sequence[int]]]):
    """(ids, position ids, mask, spans) for rows of token-id windows; the mask is (rows, 1, width, width)
    bool, or the usual (rows, width) 0/1 when every row holds one window.
    Positions restart at each window and a window attends only to itself, so each one reads exactly
    as it would alone; padding attends to padding. spans: (row, start, length) per window, in order."""
    width = max(sum(len(w) for w in row) for row in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    segment = torch.full((len(rows), width), -1, dtype=torch.long)
    spans = []
    for b, row in enumerate(rows):
        start = 0
        for k, window in enumerate(row):
            ids[b, start : start + len(window)] = torch.tensor(window)
            positions[b, start : start + len(window)] = torch.arange(len(window))
            segment[b, start : start + len(window)] = k
            spans.append((b, start, len(window)))
            start += len(window)
    if max(len(row) for row in rows) == 1:  # nothing packed: a plain padding mask (no padding: none at all)
        return ids, positions, (segment >= 0).long(), spans
    mask = (segment[:, :, None] == segment[:, None, :]).unsqueeze(1)
    return ids, positions, mask, spans


def _words_of(encoding) -> list[list[str]]:
    words: dict[int, list[str]] = {}
    for word, token in zip(encoding.word_ids, encoding.tokens):
        if word is not None:
            words.setdefault(word, []).append(token)
    return list(words.values())


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, np.float64) / temperature
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _to_estimate(
    logits: np.ndarray,
    affect: np.ndarray,
    lengths: np.ndarray,
    temperature: float,
    language: float,
    source: str,
    skipped: int = 0,
    ended: tuple[frozenset, bool] = (frozenset(), False),
) -> EmotionEstimate:
    """One text's windows -> estimate. Confidence = calibrated max probability x language factor."""
    weights = lengths / lengths.sum()
    probs = weights @ softmax(logits, temperature)
    valence, arousal = np.clip(weights @ np.asarray(affect, np.float64), -1.0, 1.0)
    probs, valence = text_negation.apply(probs, float(valence), *ended)  # "not sad anymore" (text_negation.py)
    details = {"windows": int(len(lengths)), "language_factor": round(language, 3)}
    if ended[0]:
        details["ended_feelings"] = sorted(ended[0])
    if skipped:
        details["windows_skipped"] = int(skipped)
    return EmotionEstimate(
        modality="text",
        probs=dict(zip(EMOTIONS, probs.tolist())),
        valence=float(valence),
        arousal=float(arousal),
        confidence=float(probs.max() * language),
        source=source,
        details=details,
    )
