"""The one table of backends: kind -> name -> "module:Class", and of the functions the core and the
backends call in pipelines/ (model locators, the voice baseline update): name -> "module:function".

These two tables are the only place in companion/ that names pipelines/, and only as strings:
modules are imported when a backend is created or a function first called, so `import companion`
stays free of torch, model files and sockets. Adding a backend is adding a line here; its contract
is the Protocol of its kind in companion/protocols.py (PROTOCOLS there, checked by tests/test_protocols.py).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable, Mapping

from companion.errors import BadSetting, CompanionError, WrongType

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
    "judge": {
        "reply-fit": "pipelines.reply_judge:ReplyJudge",
    },
    "transcriber": {
        "whisper": "pipelines.speech:Transcriber",
    },
    "synthesizer": {
        "piper": "pipelines.speech:Synthesizer",
    },
}

FUNCTIONS: Mapping[str, str] = {
    # model locators (pipelines/loading.py, the only code that finds model files)
    "llm_gguf": "pipelines.loading:llm_gguf",  # (model path | None) -> GGUF Path, or MissingModel
    "llm_adapter": "pipelines.loading:llm_adapter",  # (adapter setting, model) -> checked LoRA Path | None
    "llm_merged": "pipelines.llm_merge:merged_model",  # (GGUF, adapter) -> cached GGUF with the adapter merged in
    "smollm2_gguf": "pipelines.loading:smollm2_gguf",  # () -> the embedded SmolLM2 GGUF Path
    "torch_threads": "pipelines.loading:torch_threads",  # (n | None) -> None
    # voice messages: decode any sound file to mono float32 at the analyzers' rate
    "load_audio": "pipelines.audio:load",  # (path, max_seconds=) -> samples, or AudioError
    "audio_rate": "pipelines.audio:sample_rate",  # () -> samples per second of load_audio's output
    # the voice analyzer's per-user baseline (its input features, folded in turn by turn)
    "voice_baseline": "pipelines.voice:update_baseline",  # (baseline | None, features) -> baseline
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


def _load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def resolve(kind: str, name: str) -> type:
    """Import and return the class registered as `name` for `kind`."""
    table = _table(kind)
    try:
        target = table[name]
    except KeyError:
        raise UnknownBackend(
            f"unknown {kind} backend {name!r}; valid names are {sorted(table)}"
            + (" (or 'none' to switch it off)" if kind in ("text", "voice", "face") else "")
        ) from None
    return _load(target)


def function(name: str) -> Callable[..., Any]:
    """Import and return the function registered as `name` in FUNCTIONS."""
    try:
        target = FUNCTIONS[name]
    except KeyError:
        raise UnknownBackend(f"unknown registry function {name!r}; valid names are {sorted(FUNCTIONS)}") from None
    return _load(target)


def accepted_options(kind: str, name: str) -> frozenset[str]:
    """The keyword options the backend's constructor declares (each backend takes only its own)."""
    cls = resolve(kind, name)
    params = inspect.signature(cls).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        raise WrongType(
            f"{kind} backend {name!r} ({cls.__qualname__}) takes **kwargs: a backend must "
            "declare its options, so that an unknown one is an error"
        )
    return frozenset(
        p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    )


def check_options(kind: str, name: str, given: Mapping[str, Any], *, setting: str | None = None) -> None:
    """BadSetting naming the backend and the option when `given` holds a name the backend does not take."""
    accepted = accepted_options(kind, name)
    unknown = sorted(set(given) - accepted)
    if unknown:
        where = f" (from {setting})" if setting else ""
        raise BadSetting(
            f"the {kind} backend {name!r} has no option {', '.join(map(repr, unknown))}{where}; "
            f"its options are {sorted(accepted) or 'none'}"
        )


def create(kind: str, name: str, /, **options: Any) -> Any:
    """Build the backend `name` of `kind` with `options` as keyword arguments; an option the backend
    does not declare raises BadSetting."""
    check_options(kind, name, options)
    return resolve(kind, name)(**options)


def is_off(name: str | None) -> bool:
    return name is None or str(name).strip().lower() in OFF
