"""A judge of replies, learnt from blind readings: how likely a reader finds a reply fits the message.

Readers gave 3,520 verdicts on Ember's replies to held-out situations (docs/replies.md): fit or not, by the
rubric of ../shared/reply-reading.md. A logistic regression on what the shipped encoder and text
analyzer read from the message and the reply (their embeddings and product, the feeling each one
carries, the reply's length and question mark) learnt to tell those apart. The reply pipeline asks
it about a first sentence; below the floor it draws one more sample and keeps the one judged better.

Trained by `python -m pipelines.training.reply_judge` into pipelines/weights/reply_judge/.
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from companion.types import EMOTIONS
from pipelines import loading
from pipelines.loading import MissingModel

SOURCE = "reply-fit-judge-v1"
AFFECT = ("valence", "arousal", "confidence", *EMOTIONS)  # what the text analyzer says of one text


def estimate_row(est) -> np.ndarray:
    """valence, arousal, confidence and the seven probabilities of one reading; zeros for None (no words)."""
    if est is None:
        return np.zeros(len(AFFECT), np.float32)
    return np.array([est.valence, est.arousal, est.confidence, *(est.probs.get(e, 0.0) for e in EMOTIONS)], np.float32)


def affect_rows(analyzer, texts: Sequence[str]) -> np.ndarray:
    """(n, 10): estimate_row of each text as the analyzer reads it."""
    return np.array([estimate_row(e) for e in analyzer.analyze_batch(list(texts))], np.float32).reshape(-1, len(AFFECT))


def features(user_vec, user_affect, reply_vecs, reply_affect, replies: Sequence[str], history_turns: int):
    """One row per reply: the message and the reply as the encoder and the analyzer read them.

    user_vec (384,) and user_affect (10,) describe the message; reply_vecs (n, 384) and
    reply_affect (n, 10) the replies. The product of the two embeddings says what they share,
    the reply's own embedding how it is phrased ("I think that's a good idea" is generic anywhere),
    valence x valence whether the reply's feeling goes with the message's or against it.
    """
    n = len(replies)
    shape = np.array([[len(r.split()) / 20, float("?" in r), history_turns / 3] for r in replies], np.float32).reshape(
        n, 3
    )
    return np.hstack(
        [
            reply_vecs * user_vec,
            reply_vecs,
            np.repeat(user_affect[None, :], n, 0),
            reply_affect,
            user_affect[0] * reply_affect[:, :1],
            (reply_vecs @ user_vec)[:, None],
            shape,
        ]
    ).astype(np.float32)


class ReplyJudge:
    """p(a reader finds the reply fits) for a message and candidate replies; `floor` is where the
    pipeline draws another sample (chosen in training: the lowest-judged fifth of read replies)."""

    name = "reply-fit"
    floor: float = 0.0  # read from judge.json by __init__

    def __init__(self, *, weights_dir: str | None = None, embedder=None, analyzer=None) -> None:
        path = loading.WEIGHTS_DIR / "reply_judge" if weights_dir is None else Path(weights_dir)
        try:
            config = json.loads((path / "judge.json").read_text(encoding="utf-8"))
            self.weights = np.asarray(config["weights"], np.float32)
            self.bias = float(config["bias"])
            self.floor = float(config["floor"])
        except (OSError, ValueError, KeyError) as exc:
            raise MissingModel(
                f"reply judge weights missing or unreadable in {path} ({exc}); retrain them with "
                "`python -m pipelines.training.reply_judge`, or set COMPANION_LLM__JUDGE=none"
            ) from exc
        self.source = config.get("source", SOURCE)
        self._embedder, self._analyzer = embedder, analyzer
        self._lock = threading.Lock()
        self._user = lru_cache(maxsize=64)(self._read_user)

    def _parts(self):
        with self._lock:  # built once, on first use: `import` and construction load no model
            if self._embedder is None:
                from pipelines.embedding import MiniLMEmbedder

                self._embedder = MiniLMEmbedder()
            if self._analyzer is None:  # the judge learnt the minilm heads' readings, whatever backend reads moods
                from pipelines.text import TextEmotionAnalyzer

                self._analyzer = TextEmotionAnalyzer()
        return self._embedder, self._analyzer

    def _read_user(self, text: str):
        embedder, analyzer = self._parts()
        return embedder.embed([text])[0], affect_rows(analyzer, [text])[0]

    def score(
        self, message: str, replies: Sequence[str], history_turns: int = 0, *, message_estimate=None
    ) -> list[float]:
        """p(fit) for each reply to `message`, after `history_turns` earlier turns (up to 3 count).

        `message_estimate`: the text analyzer's reading of the message when the caller has it (the turn
        read it already); used when it comes from the heads the judge learnt with, saving one pass."""
        if not replies:
            return []
        embedder, analyzer = self._parts()
        if message_estimate is not None and getattr(message_estimate, "source", None) == getattr(
            analyzer, "source", None
        ):
            vectors = np.asarray(embedder.embed([message, *replies]), np.float32)  # one batch, one pass
            user_vec, reply_vecs = vectors[0], vectors[1:]
            user_affect = estimate_row(message_estimate)
        else:
            user_vec, user_affect = self._user(message)
            reply_vecs = np.asarray(embedder.embed(list(replies)), np.float32)
        rows = features(
            user_vec, user_affect, reply_vecs, affect_rows(analyzer, replies), replies, min(history_turns, 3)
        )
        if rows.shape[1] != self.weights.shape[0]:
            raise MissingModel(
                f"reply judge weights expect {self.weights.shape[0]} features, the reader gives {rows.shape[1]}: "
                "retrain with `python -m pipelines.training.reply_judge`"
            )
        return [float(p) for p in 1 / (1 + np.exp(-(rows @ self.weights + self.bias)))]
