"""The one table of backends: kind -> name -> "module:Class".

Modules are imported only when a backend is created, so `import companion` stays free
of torch, model files and sockets. Adding a backend is adding a line here.
"""
from __future__ import annotations

import importlib
from typing import Any, Mapping

from companion.errors import CompanionError

BACKENDS: Mapping[str, Mapping[str, str]] = {
    "text": {
        "minilm": "pipelines.text:TextEmotionAnalyzer",
        "hf": "pipelines.text_hf:HFTextEmotionAnalyzer",
    },
    "voice": {
        "features": "pipelines.voice:VoiceEmotionAnalyzer",
    },
    "face": {
        "cnn": "pipelines.face:FaceEmotionAnalyzer",
        "hf": "pipelines.face_hf:HFFaceEmotionAnalyzer",
    },
    "generator": {
        "llamacpp": "companion.generation.llamacpp:LlamaCppGenerator",
        "transformers": "companion.generation.hf:TransformersGenerator",
        "openai": "companion.generation.openai_compat:OpenAIGenerator",
        "echo": "companion.generation.echo:EchoGenerator",
    },
    "embedder": {
        "minilm": "pipelines.embedding:MiniLMEmbedder",
    },
    "transcriber": {
        "whisper": "pipelines.speech:Transcriber",
    },
    "synthesizer": {
        "piper": "pipelines.speech:Synthesizer",
    },
}

OFF = ("", "none", "off", "false", "0", "disabled")


class UnknownBackend(CompanionError, LookupError):
    """A setting names a backend that is not in the registry."""


def names(kind: str) -> tuple[str, ...]:
    return tuple(_table(kind))


def _table(kind: str) -> Mapping[str, str]:
    try:
        return BACKENDS[kind]
    except KeyError:
        raise UnknownBackend(f"unknown backend kind {kind!r}; valid kinds are {sorted(BACKENDS)}") from None


def resolve(kind: str, name: str) -> type:
    """Import and return the class registered as `name` for `kind`."""
    table = _table(kind)
    try:
        target = table[name]
    except KeyError:
        raise UnknownBackend(
            f"unknown {kind} backend {name!r}; valid names are {sorted(table)}"
            + (" (or 'none' to switch it off)" if kind in ("text", "voice", "face") else "")) from None
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def create(kind: str, name: str, **options: Any) -> Any:
    """Build the backend `name` of `kind` with `options` as keyword arguments."""
    return resolve(kind, name)(**options)


def is_off(name: str | None) -> bool:
    return name is None or str(name).strip().lower() in OFF
