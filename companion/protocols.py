"""Contracts between the core and its backends (structural: no base class to inherit)."""
from __future__ import annotations

from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

from companion.types import EmotionEstimate


@runtime_checkable
class EmotionAnalyzer(Protocol):
    modality: str

    def analyze(self, signal: Any) -> EmotionEstimate | None: ...

    def analyze_batch(self, signals: Sequence[Any]) -> list[EmotionEstimate | None]: ...


@runtime_checkable
class Generator(Protocol):
    """Streams a chat completion. `messages` are OpenAI-style {"role", "content"} dicts."""

    name: str

    def stream(self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float,
               top_p: float, seed: int | None = None, stop: Sequence[str] = ()) -> Iterator[str]: ...


@runtime_checkable
class Embedder(Protocol):
    dim: int

    def embed(self, texts: Sequence[str]) -> Any:  # float32 array (n, dim), L2-normalised
        ...
