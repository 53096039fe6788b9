"""Serving the app in a test: a Companion on a temporary data dir, the app on a free port.

The language model is the only fake (EchoGenerator, optionally slowed down so streaming is
visible); the analyzers, embedder and speech recogniser are the real embedded ones.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from companion.config import Settings
from companion.core import Companion
from companion.generation.echo import EchoGenerator


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class SlowEcho(EchoGenerator):
    """Echoes the message word by word with a pause, so a test can see (and cut) a stream.
    `finished` is set when a stream ends for any reason, `completed` only when it ran to the end."""

    def __init__(self, reply: str | None = None, delay_s: float = 0.0):
        super().__init__(reply)
        self.delay_s = delay_s
        self.finished = threading.Event()
        self.completed = threading.Event()

    def stream(self, messages, **kwargs):
        self.finished.clear()
        self.completed.clear()
        try:
            for piece in super().stream(messages, **kwargs):
                time.sleep(self.delay_s)
                yield piece
            self.completed.set()
        finally:
            self.finished.set()


class CountingAnalyzer:
    """A spy around a real analyzer: counts calls, changes nothing."""

    def __init__(self, inner: Any):
        self.inner, self.calls, self.found = inner, 0, 0
        self.modality = getattr(inner, "modality", None)

    def analyze(self, signal, **kwargs):
        self.calls += 1
        out = self.inner.analyze(signal, **kwargs)
        self.found += out is not None
        return out

    def analyze_batch(self, signals):
        return [self.analyze(s) for s in signals]


MISSING: dict[str, str] = {}  # modality -> why its real analyzer could not be loaded


def real_analyzers() -> dict[str, Any]:
    """The embedded analyzers of this checkout; one that cannot load is off (and MISSING says why)."""
    found: dict[str, Any] = {}
    for modality, module, cls in (
        ("text", "pipelines.text", "TextEmotionAnalyzer"),
        ("face", "pipelines.face", "FaceEmotionAnalyzer"),
        ("voice", "pipelines.voice", "VoiceEmotionAnalyzer"),
    ):
        found[modality] = None
        if not available(module):
            MISSING[modality] = f"{module} is not in this checkout"
            continue
        try:
            found[modality] = getattr(importlib.import_module(module), cls)()
        except Exception as exc:  # e.g. MissingModel: weights not trained yet
            MISSING[modality] = f"{module}.{cls}() failed: {exc}"
    return found


_SHARED: dict[str, Any] = {}


def shared_models() -> dict[str, Any]:
    """Models are loaded once per test process (they are read-only); each test gets its own store."""
    if not _SHARED:
        from pipelines.embedding import MiniLMEmbedder

        _SHARED["embedder"] = MiniLMEmbedder()
        _SHARED["analyzers"] = real_analyzers()
        if available("pipelines.speech"):
            from pipelines.speech import Transcriber

            _SHARED["transcriber"] = Transcriber(model="tiny.en")
    return _SHARED


def make_companion(data_dir: Path, generator: Any = None) -> Companion:
    models = shared_models()
    analyzers = {k: CountingAnalyzer(v) if v is not None else None for k, v in models["analyzers"].items()}
    settings = Settings(data_dir=data_dir)
    return Companion(
        settings,
        generator=generator or SlowEcho(),
        analyzers=analyzers,
        embedder=models["embedder"],
        transcriber=models.get("transcriber"),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(companion: Companion) -> Iterator[str]:
    """Launch build_app(companion) on 127.0.0.1 in this process; yield its URL; close it after."""
    import app

    demo = app.build_app(companion)
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_options())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        companion.close()
