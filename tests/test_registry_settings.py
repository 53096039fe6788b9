import subprocess
import sys
import textwrap

import pytest

from companion import registry
from companion.config import Settings


def test_unknown_backend_lists_valid_names():
    with pytest.raises(registry.UnknownBackend) as info:
        registry.resolve("generator", "gpt-17")
    for name in ("llamacpp", "transformers", "openai", "echo"):
        assert name in str(info.value)
    with pytest.raises(registry.UnknownBackend, match="valid kinds"):
        registry.resolve("smell", "x")


def test_resolve_imports_lazily():
    cls = registry.resolve("generator", "echo")
    assert cls.__name__ == "EchoGenerator"
    assert registry.create("generator", "echo", reply="hi").reply == "hi"


def test_every_registered_backend_points_at_a_class():
    import importlib
    for kind, table in registry.BACKENDS.items():
        for name, target in table.items():
            module, _, attr = target.partition(":")
            spec = importlib.util.find_spec(module)
            assert spec is not None, f"{kind}/{name}: module {module} missing"


def test_settings_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("COMPANION_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COMPANION_LLM__BACKEND", "openai")
    monkeypatch.setenv("COMPANION_LLM__MAX_TOKENS", "33")
    monkeypatch.setenv("COMPANION_ANALYZERS__FACE", "none")
    monkeypatch.setenv("COMPANION_FUSION__WEIGHTS", '{"text": 2.0, "voice": 1.0, "face": 0.5}')
    s = Settings()
    assert s.llm.backend == "openai" and s.llm.max_tokens == 33
    assert registry.is_off(s.analyzers.face)
    assert s.fusion.weights["text"] == 2.0
    assert s.resolved_store_url() == f"sqlite:///{tmp_path / 'companion.db'}"


def test_settings_reject_bad_values(monkeypatch):
    monkeypatch.setenv("COMPANION_LLM__TEMPERATURE", "9")
    with pytest.raises(Exception, match="temperature"):
        Settings()


def test_import_companion_loads_no_model_and_opens_no_socket():
    code = textwrap.dedent("""
        import socket, sys
        opened = []
        real = socket.socket.__init__
        def spy(self, *a, **k):
            opened.append(a); return real(self, *a, **k)
        socket.socket.__init__ = spy
        import companion
        from companion import Companion, Settings, EMOTIONS, EmotionEstimate, MoodState, Reply
        heavy = [m for m in ("torch", "transformers", "xllamacpp", "cv2", "librosa", "gradio", "faster_whisper")
                 if m in sys.modules]
        print("HEAVY", heavy, "SOCKETS", len(opened))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY [] SOCKETS 0" in out, out
