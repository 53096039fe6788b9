"""Fakes at the models' edge only: fixed analyzers and a bag-of-words embedder."""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from companion.types import EmotionEstimate, circumplex_position


class FixedAnalyzer:
    def __init__(self, modality: str, label: str, confidence: float = 0.8):
        self.modality, self.label, self.confidence = modality, label, confidence
        self.seen = []

    def analyze(self, signal, **kwargs):
        self.seen.append(signal)
        probs = {self.label: 0.85, "neutral": 0.15} if self.label != "neutral" else {"neutral": 1.0}
        v, a = circumplex_position(probs)
        return EmotionEstimate(
            modality=self.modality, probs=probs, valence=v, arousal=a, confidence=self.confidence, source="fixed"
        )

    def analyze_batch(self, signals):
        return [self.analyze(s) for s in signals]


class WordEmbedder:
    """Hashes words into 64 buckets: similar wording -> similar vectors. Deterministic."""

    dim = 64

    def embed(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, int(hashlib.md5(word.strip(".,!?").encode()).hexdigest(), 16) % self.dim] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


class FailingGenerator:
    name = "failing"

    def stream(self, messages, **kwargs):
        yield "Half a "
        raise RuntimeError("backend died mid-stream")


@lru_cache(maxsize=1)
def shared_embedder():
    """The real all-MiniLM-L6-v2 sentence embedder, loaded once for the whole test session."""
    from pipelines.embedding import MiniLMEmbedder

    return MiniLMEmbedder()


class MiniLM:
    """The real MiniLM sentence embedder (shared, loaded once)."""

    def embed(self, texts):
        return shared_embedder().embed(texts)


class SadText:
    """A text analyzer at the model's edge that always reads sadness (0.7)."""

    def analyze(self, signal, **_):
        from companion.types import EMOTIONS

        probs = {k: (0.7 if k == "sadness" else 0.05) for k in EMOTIONS}
        return EmotionEstimate("text", probs, valence=-0.6, arousal=-0.2, confidence=0.7, source="fixed")
