"""Contracts between the core and its backends (structural: no base class to inherit).

One Protocol per backend kind of the registry (PROTOCOLS); components.py types what it builds with
them, and tests/test_protocols.py checks every registered backend against its kind's Protocol.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Protocol, Sequence, runtime_checkable

from companion.types import EmotionEstimate


@runtime_checkable
class EmotionAnalyzer(Protocol):
    """A text, voice or face reader; `modality` is its registry kind. A backend may take extra
    keyword arguments with defaults (the voice analyzer's `baseline`, the face analyzer's `detect`)."""

    modality: str

    def analyze(self, signal: Any) -> EmotionEstimate | None: ...

    def analyze_batch(self, signals: Sequence[Any]) -> list[EmotionEstimate | None]: ...


@runtime_checkable
class Generator(Protocol):
    """Streams a chat completion. `messages` are OpenAI-style {"role", "content"} dicts."""

    name: str

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        seed: int | None = None,
        stop: Sequence[str] = (),
    ) -> Iterator[str]: ...


@runtime_checkable
class Embedder(Protocol):
    dim: int

    def embed(self, texts: Sequence[str]) -> Any:  # float32 array (n, dim), L2-normalised
        ...


@runtime_checkable
class Transcript(Protocol):
    text: str  # "" for silence


@runtime_checkable
class Transcriber(Protocol):
    """Speech to text: (sample_rate, samples) or a file path -> a Transcript."""

    def transcribe(self, signal: Any) -> Transcript: ...


@runtime_checkable
class Synthesizer(Protocol):
    """Text to speech in a voice shaped by the mood: (sample_rate, float samples)."""

    def synthesize(self, text: str, *, mood: Any = None) -> tuple[int, Any]: ...


@runtime_checkable
class ReplyJudge(Protocol):
    """p(a reader finds each reply fits the message); the reply pipeline samples again below `floor`."""

    floor: float

    def score(
        self, message: str, replies: Sequence[str], history_turns: int = 0, *, message_estimate: Any = None
    ) -> list[float]: ...


# registry kind -> the Protocol its backends satisfy
PROTOCOLS: Mapping[str, type] = {
    "text": EmotionAnalyzer,
    "voice": EmotionAnalyzer,
    "face": EmotionAnalyzer,
    "generator": Generator,
    "embedder": Embedder,
    "judge": ReplyJudge,
    "transcriber": Transcriber,
    "synthesizer": Synthesizer,
}
