"""Emotion from the sound of the voice (not the words): `VoiceEmotionAnalyzer`.

    analyzer = VoiceEmotionAnalyzer()
    estimate = analyzer.analyze((16000, samples), baseline=user_baseline)   # None for silence
    user_baseline = update_baseline(user_baseline, estimate.details["features"])

Acoustic features (pipelines.voice_features) and a Whisper-encoder embedding
(pipelines.voice_embedding) go into a linear head trained on RAVDESS (pipelines.voice_model,
weights in pipelines/weights/voice/). The per-user baseline is the user's running mean of the
acoustic features: with it, the analyzer reads pitch, loudness and tempo *relative to that
user's own voice* (a deep voice is not "sad", a loud microphone is not "angry"); see docs/voice.md.
Only the last 30 s of a long recording are analysed (emotion is about now).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from companion.errors import InvalidInput
from companion.types import EMOTIONS, EmotionEstimate
from pipelines import audio, voice_features
from pipelines.voice_model import RAVDESS_LABELS, TO_EMOTION, BaselineError, VoiceModel, baseline_turns, update_baseline

__all__ = ["VoiceEmotionAnalyzer", "VoiceReading", "update_baseline", "BaselineError"]

MAX_SECONDS = 30.0  # analyse the last 30 s of longer audio
MIN_VOICED_S = 0.25  # less voiced speech than this is no evidence: None


@dataclass(frozen=True)
class VoiceReading:
    """What the model saw and said, before it becomes an EmotionEstimate."""

    probs8: np.ndarray  # over RAVDESS_LABELS
    valence: float
    arousal: float
    features: dict[str, float]  # the model's named input (the baseline's input)
    voiced_s: float
    speaker_weight: float  # how much the user's baseline shaped this reading (0..1)
    baseline_turns: int


class VoiceEmotionAnalyzer:
    modality = "voice"

    def __init__(
        self,
        *,
        weights: str | Path | None = None,
        max_seconds: float = MAX_SECONDS,
        min_voiced_s: float = MIN_VOICED_S,
        threads: int = 2,
        warmup: bool = True,
    ) -> None:
        from pipelines.loading import weights_file

        path = Path(weights) if weights else weights_file("voice", "model.npz")
        self.model = VoiceModel.load(path)
        self.max_seconds, self.min_voiced_s = float(max_seconds), float(min_voiced_s)
        self.encoder = None
        encoder_name = self.model.meta.get("encoder")
        if encoder_name:
            from pipelines.voice_embedding import WhisperEncoder

            self.encoder = WhisperEncoder(model=encoder_name, threads=threads)
        self.source = f"voice:{self.model.meta.get('name', path.stem)}"
        if warmup:  # first calls build FFT plans, mel filters and CTranslate2 buffers: do it at load
            self._infer(_warmup_signal(), None)

    # -- contract ---------------------------------------------------------------------------
    def analyze(self, signal: Any, *, baseline: Mapping[str, Any] | None = None) -> EmotionEstimate | None:
        """(sample_rate, samples) or a file path -> EmotionEstimate, or None when there is no
        voiced speech. Bad audio raises pipelines.audio.AudioError (a ValueError); a malformed
        baseline raises BaselineError (a ValueError)."""
        baseline_turns(baseline)  # validate before any work
        samples = self._prepare(signal)
        if samples is None:
            return None
        with audio.single_blas_thread():
            reading = self._infer(samples, baseline)
        return None if reading is None else _to_estimate(reading, self.source)

    def analyze_batch(
        self, signals: Sequence[Any], *, baselines: Sequence[Mapping[str, Any] | None] | None = None
    ) -> list[EmotionEstimate | None]:
        if baselines is not None and len(baselines) != len(signals):
            raise InvalidInput(f"got {len(signals)} signals but {len(baselines)} baselines")
        return [self.analyze(s, baseline=None if baselines is None else baselines[i]) for i, s in enumerate(signals)]

    # -- stages -----------------------------------------------------------------------------
    def _prepare(self, signal: Any) -> np.ndarray | None:
        samples = audio.load(signal, max_seconds=self.max_seconds, keep="end")
        return None if audio.is_silent(samples) else samples

    def _infer(self, samples: np.ndarray, baseline: Mapping[str, Any] | None) -> VoiceReading | None:
        features = voice_features.extract(samples)
        if features is None:
            return None
        voiced_s = features["voiced_fraction"] * features["active_s"]
        if voiced_s < self.min_voiced_s:
            return None
        named = self.model.named(features, self.encoder.embed(samples) if self.encoder else None)
        probs, va, weight = self.model.predict(np.array([named[name] for name in self.model.names]), baseline)
        return VoiceReading(
            probs8=probs[0],
            valence=float(va[0, 0]),
            arousal=float(va[0, 1]),
            features=named,
            voiced_s=voiced_s,
            speaker_weight=weight,
            baseline_turns=baseline_turns(baseline),
        )


def _to_estimate(reading: VoiceReading, source: str) -> EmotionEstimate:
    """Pure: a reading -> the contract's EmotionEstimate (RAVDESS's calm folds into neutral).

    Confidence is the margin of the top class over chance, scaled down for short speech
    (under 1.5 s voiced) because a single word carries little prosody."""
    probs = dict.fromkeys(EMOTIONS, 0.0)
    for label, p in zip(RAVDESS_LABELS, reading.probs8):
        probs[TO_EMOTION[label]] += float(p)
    total = sum(probs.values())
    probs = {k: v / total for k, v in probs.items()}
    chance = 1.0 / len(EMOTIONS)
    margin = (max(probs.values()) - chance) / (1.0 - chance)
    confidence = float(np.clip(margin * min(1.0, reading.voiced_s / 1.5), 0.0, 1.0))
    return EmotionEstimate(
        modality="voice",
        probs=probs,
        valence=float(np.clip(reading.valence, -1, 1)),
        arousal=float(np.clip(reading.arousal, -1, 1)),
        confidence=confidence,
        source=source,
        at=time.time(),
        details={
            "features": {k: round(float(v), 4) for k, v in reading.features.items()},
            "summary": {k: round(float(reading.features[k]), 2) for k in voice_features.SUMMARY},
            "voiced_s": round(reading.voiced_s, 3),
            "ravdess": {k: round(float(p), 4) for k, p in zip(RAVDESS_LABELS, reading.probs8)},
            "baseline_turns": reading.baseline_turns,
            "baseline_weight": round(reading.speaker_weight, 3),
        },
    )


def _warmup_signal() -> np.ndarray:
    """One second of a voiced, vowel-like sound (harmonics of a gliding 140 Hz pitch)."""
    t = np.arange(audio.SAMPLE_RATE) / audio.SAMPLE_RATE
    phase = 2 * np.pi * (140 * t + 20 * t * t)
    wave = sum(np.sin(k * phase) / k for k in range(1, 12))
    return (0.3 * wave * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) / 3).astype(np.float32)
