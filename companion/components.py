"""Builds the backends named in Settings through the registry, lazily and once.

A component is created on first use, so a text-only user never loads the face model,
and `Companion(...)` itself is cheap. Tests and embedders may pass ready objects in.
Each backend is built with only the options its constructor declares (registry.accepted_options);
a user-given option it does not declare (COMPANION_ANALYZERS__*_OPTIONS) raises BadSetting.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from companion import registry
from companion.config import Settings
from companion.errors import InvalidInput
from companion.protocols import Embedder, EmotionAnalyzer, Generator, ReplyJudge, Synthesizer, Transcriber
from companion.types import MODALITIES, EmotionEstimate


class Components:
    def __init__(
        self,
        settings: Settings,
        *,
        generator: Generator | None = None,
        analyzers: dict[str, EmotionAnalyzer | None] | None = None,
        embedder: Embedder | None = None,
        transcriber: Transcriber | None = None,
        synthesizer: Synthesizer | None = None,
        replies: Any = None,
        judge: ReplyJudge | None = None,
    ):
        self.settings = settings
        self._lock = threading.RLock()
        self._made: dict[str, Any] = {}
        given = {
            "generator": generator,
            "embedder": embedder,
            "transcriber": transcriber,
            "synthesizer": synthesizer,
            "replies": replies,
            "judge": judge,
        }
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
    def analyzer(self, modality: str) -> EmotionAnalyzer | None:
        def build() -> EmotionAnalyzer | None:
            name = getattr(self.settings.analyzers, modality)
            if registry.is_off(name):
                return None
            options = dict(getattr(self.settings.analyzers, f"{modality}_options"))
            registry.check_options(modality, name, options, setting=f"COMPANION_ANALYZERS__{modality.upper()}_OPTIONS")
            return registry.create(modality, name, **options)

        return self._get(f"analyzer:{modality}", build)

    def analyze(self, modality: str, signal: Any, **kwargs: Any) -> list[EmotionEstimate]:
        analyzer = self.analyzer(modality)
        if analyzer is None:
            return []
        estimate = analyzer.analyze(signal, **kwargs) if kwargs else analyzer.analyze(signal)
        return [estimate] if estimate is not None else []

    def update_voice_baseline(self, baseline: dict | None, features: dict) -> dict:
        return registry.function("voice_baseline")(baseline, features)

    # -- language ------------------------------------------------------------------------------------
    def generator(self) -> Generator:
        def build() -> Generator:
            # A backend receives the LLMSettings fields its constructor declares (model, threads, base_url,
            # ...); the others (max_tokens, temperature, ...) are the reply pipeline's. No list to keep in sync.
            llm = self.settings.llm
            declared = registry.accepted_options("generator", llm.backend) & set(type(llm).model_fields)
            return registry.create("generator", llm.backend, **{k: getattr(llm, k) for k in sorted(declared)})

        return self._get("generator", build)

    def embedder(self) -> Embedder:
        return self._get("embedder", lambda: registry.create("embedder", "minilm"))

    def embed(self, texts: list[str]):
        return self.embedder().embed(texts)

    def replies(self) -> Any:
        from companion.generation.reply import ReplyPipeline

        llm = self.settings.llm
        return self._get(
            "replies",
            lambda: ReplyPipeline(self.generator(), llm, embedder=self.embedder(), judge=self.judge()),
        )

    def judge(self) -> ReplyJudge | None:
        """The reply judge, or None when switched off. It reads with the MiniLM encoder and text heads it
        learnt from: the app's own embedder and text analyzer are shared when they are those, as by default."""
        name = self.settings.llm.judge
        if registry.is_off(name):
            return None

        def build() -> ReplyJudge:
            text, embedder = self.analyzer("text"), self.embedder()
            text_ok = isinstance(text, registry.resolve("text", "minilm")) and not self.settings.analyzers.text_options
            return registry.create(
                "judge",
                name,
                embedder=embedder if isinstance(embedder, registry.resolve("embedder", "minilm")) else None,
                analyzer=text if text_ok else None,
            )

        return self._get("judge", build)

    # -- speech --------------------------------------------------------------------------------------
    def transcriber(self) -> Transcriber:
        return self._get(
            "transcriber", lambda: registry.create("transcriber", "whisper", model=self.settings.speech.asr_model)
        )

    def synthesizer(self) -> Synthesizer:
        return self._get(
            "synthesizer", lambda: registry.create("synthesizer", "piper", voice=self.settings.speech.voice)
        )

    def transcribe(self, audio: Any) -> str:
        return self.transcriber().transcribe(audio).text.strip()

    def speak(self, text: str, mood: Any) -> tuple[int, Any] | None:
        return self.synthesizer().synthesize(text, mood=mood)
