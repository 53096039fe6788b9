"""Builds the backends named in Settings through the registry, lazily and once.

A component is created on first use, so a text-only user never loads the face model,
and `Companion(...)` itself is cheap. Tests and embedders may pass ready objects in.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from companion import registry
from companion.config import Settings
from companion.errors import InvalidInput
from companion.types import EmotionEstimate, MODALITIES


class Components:
    def __init__(self, settings: Settings, *, generator: Any = None, analyzers: dict[str, Any] | None = None,
                 embedder: Any = None, transcriber: Any = None, synthesizer: Any = None, replies: Any = None):
        self.settings = settings
        self._lock = threading.RLock()
        self._made: dict[str, Any] = {}
        given = {"generator": generator, "embedder": embedder, "transcriber": transcriber,
                 "synthesizer": synthesizer, "replies": replies}
        self._made.update({k: v for k, v in given.items() if v is not None})
        for modality, analyzer in (analyzers or {}).items():
            if modality not in MODALITIES:
                raise InvalidInput(f"unknown analyzer modality {modality!r}; valid: {MODALITIES}")
            self._made[f"analyzer:{modality}"] = analyzer  # None here means "switched off"

    def _get(self, key: str, build: Callable[[], Any]) -> Any:
        if key in self._made:
            return self._made[key]
        with self._lock:
            if key not in self._made:
                self._made[key] = build()
            return self._made[key]

    # -- analyzers ----------------------------------------------------------------------------------
    def analyzer(self, modality: str) -> Any | None:
        def build():
            name = getattr(self.settings.analyzers, modality)
            if registry.is_off(name):
                return None
            options = getattr(self.settings.analyzers, f"{modality}_options")
            return registry.create(modality, name, **options)
        return self._get(f"analyzer:{modality}", build)

    def analyze(self, modality: str, signal: Any, **kwargs: Any) -> list[EmotionEstimate]:
        analyzer = self.analyzer(modality)
        if analyzer is None:
            return []
        estimate = analyzer.analyze(signal, **kwargs) if kwargs else analyzer.analyze(signal)
        return [estimate] if estimate is not None else []

    def update_voice_baseline(self, baseline: dict | None, features: dict) -> dict:
        from pipelines.voice import update_baseline
        return update_baseline(baseline, features)

    # -- language ------------------------------------------------------------------------------------
    def generator(self) -> Any:
        llm = self.settings.llm
        return self._get("generator", lambda: registry.create(
            "generator", llm.backend, model=llm.model, gguf_file=llm.gguf_file, base_url=llm.base_url,
            api_key_env=llm.api_key_env, context_tokens=llm.context_tokens, threads=llm.threads,
            timeout_s=llm.timeout_s, adapter=llm.adapter, parallel=llm.parallel))

    def embedder(self) -> Any:
        return self._get("embedder", lambda: registry.create("embedder", "minilm"))

    def embed(self, texts: list[str]):
        return self.embedder().embed(texts)

    def replies(self) -> Any:
        from companion.generation.reply import ReplyPipeline
        return self._get("replies", lambda: ReplyPipeline(self.generator(), self.settings.llm, embedder=self.embedder()))

    # -- speech --------------------------------------------------------------------------------------
    def transcribe(self, audio: Any) -> str:
        transcriber = self._get("transcriber", lambda: registry.create(
            "transcriber", "whisper", model=self.settings.speech.asr_model))
        return transcriber.transcribe(audio).text.strip()

    def speak(self, text: str, mood: Any) -> tuple[int, Any] | None:
        synthesizer = self._get("synthesizer", lambda: registry.create(
            "synthesizer", "piper", voice=self.settings.speech.voice))
        return synthesizer.synthesize(text, mood=mood)
