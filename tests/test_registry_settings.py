import subprocess
import sys
import textwrap

import pytest

from companion import registry
from companion.config import Settings
from companion.errors import BadSetting, CompanionError


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
    """Each entry imports and names a class (not just an existing module) whose options are declared."""
    for kind, table in registry.BACKENDS.items():
        for name, target in table.items():
            cls = registry.resolve(kind, name)
            assert isinstance(cls, type), f"{kind}/{name}: {target} is not a class"
            assert f"{cls.__module__}:{cls.__qualname__}" == target, f"{kind}/{name}: {target} resolves elsewhere"
            registry.accepted_options(kind, name)  # raises TypeError for a **kwargs catch-all


def test_every_registered_function_resolves():
    for name, target in registry.FUNCTIONS.items():
        fn = registry.function(name)
        assert callable(fn) and not isinstance(fn, type), f"{name}: {target} is not a function"
    with pytest.raises(registry.UnknownBackend, match="llm_gguf"):
        registry.function("nope")


def test_an_unknown_backend_option_is_a_bad_setting():
    with pytest.raises(BadSetting, match=r"generator backend 'echo' has no option 'temprature'.*'reply'"):
        registry.create("generator", "echo", temprature=0.3)
    assert isinstance(BadSetting("x"), CompanionError)


def test_analyzer_options_are_checked_against_the_backend(tmp_path):
    from companion.components import Components

    settings = Settings(data_dir=tmp_path, analyzers={"face": "cnn", "face_options": {"flip": False, "modle": "x"}})
    with pytest.raises(BadSetting) as info:
        Components(settings).analyzer("face")
    message = str(info.value)
    assert "'cnn'" in message and "'modle'" in message and "COMPANION_ANALYZERS__FACE_OPTIONS" in message
    assert "'model'" in message  # lists what it does take


def test_each_generator_gets_only_the_settings_it_declares(tmp_path, monkeypatch):
    from companion.components import Components
    from companion.config import LLMSettings

    made = {}
    real_create = registry.create

    def record(kind, name, **options):  # builds nothing heavy: an echo generator stands in for each
        made[name] = options
        return real_create("generator", "echo")

    monkeypatch.setattr(registry, "create", record)
    for backend in registry.names("generator"):
        llm = {"backend": backend, "base_url": "http://127.0.0.1:9/v1", "threads": 1, "gguf_file": "x.gguf"}
        Components(Settings(data_dir=tmp_path, llm=llm)).generator()
        declared = registry.accepted_options("generator", backend)
        assert set(made[backend]) == declared & set(LLMSettings.model_fields), backend
        assert not set(made[backend]) & {"temperature", "max_tokens", "top_p", "max_sentences"}, backend
    assert made["echo"] == {} and "gguf_file" not in made["llamacpp"] and "base_url" not in made["transformers"]
    assert made["openai"]["base_url"] == "http://127.0.0.1:9/v1" and "threads" not in made["openai"]


def test_the_reply_judge_is_on_by_default_shares_the_minilm_readers_and_switches_off(tmp_path):
    from companion.components import Components
    from pipelines.embedding import MiniLMEmbedder
    from pipelines.reply_judge import ReplyJudge
    from pipelines.text import TextEmotionAnalyzer

    parts = Components(Settings(data_dir=tmp_path))
    judge = parts.judge()
    assert isinstance(judge, ReplyJudge) and parts.replies().judge is judge and 0 < judge.floor < 1
    assert isinstance(parts.analyzer("text"), TextEmotionAnalyzer) and judge._analyzer is parts.analyzer("text")
    assert judge._embedder is parts.embedder() and isinstance(judge._embedder, MiniLMEmbedder)
    off = Components(Settings(data_dir=tmp_path, llm={"judge": "none"}))
    assert off.judge() is None and off.replies().judge is None


def test_missing_judge_weights_say_how_to_retrain_or_switch_off(tmp_path):
    from pipelines.loading import MissingModel
    from pipelines.reply_judge import ReplyJudge

    with pytest.raises(MissingModel, match=r"pipelines.training.reply_judge.*COMPANION_LLM__JUDGE=none"):
        ReplyJudge(weights_dir=str(tmp_path))
    (tmp_path / "judge.json").write_text("{not json")
    with pytest.raises(MissingModel, match="unreadable"):
        ReplyJudge(weights_dir=str(tmp_path))


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
