"""Each generator backend with a real model or a real server on 127.0.0.1 (no mocks)."""

import pytest

from companion import registry
from companion.errors import BadSetting, GenerationError
from pipelines.loading import MissingModel, reply_adapter, smollm2_gguf

MESSAGES = [
    {"role": "system", "content": "You are a kind friend. Answer in one short sentence."},
    {"role": "user", "content": "I failed my exam today."},
]


@pytest.fixture(scope="module")
def llama():
    return registry.create("generator", "llamacpp")


def test_llamacpp_streams_a_real_reply(llama):
    pieces = list(llama.stream(MESSAGES, max_tokens=24, temperature=0.0, top_p=1.0, seed=1))
    text = "".join(pieces)
    assert len(pieces) > 3, "the reply must arrive in several pieces"
    assert len(text.split()) >= 3


def test_llamacpp_respects_max_tokens(llama):
    text = "".join(llama.stream(MESSAGES, max_tokens=4, temperature=0.0, top_p=1.0))
    assert 0 < len(text.split()) <= 6


def test_llamacpp_stops_decoding_when_the_reader_stops(llama):
    story = [{"role": "user", "content": "Tell me a very long story about a dragon and a lighthouse."}]
    stream = llama.stream(story, max_tokens=300, temperature=0.7, seed=3)
    first = [next(stream) for _ in range(3)]
    stream.close()  # the reply pipeline does this once it has a first sentence
    assert len(first) == 3 and llama.last_stream["chunks"] < 60  # not the 300 tokens asked for
    after = "".join(llama.stream(MESSAGES, max_tokens=12, temperature=0.0, top_p=1.0, seed=1))
    assert after.strip() and llama.last_stream["chunks"] <= 14  # the slot is free for the next request


def test_llamacpp_missing_model_says_what_to_do(tmp_path):
    with pytest.raises(MissingModel, match="COMPANION_LLM__MODEL"):
        registry.create("generator", "llamacpp", model=str(tmp_path / "nope.gguf"))


def test_openai_backend_against_a_real_local_server(llama):
    # xllamacpp serves the OpenAI API on a loopback port while it runs.
    base_url = llama.listening_address.rstrip("/") + "/v1"
    assert base_url.startswith("http://127.0.0.1")
    client = registry.create("generator", "openai", base_url=base_url, model="smollm2")
    pieces = list(client.stream(MESSAGES, max_tokens=20, temperature=0.0, top_p=1.0, seed=1))
    assert len(pieces) > 3 and len("".join(pieces).split()) >= 3


def test_openai_backend_unreachable_server_is_a_clear_error():
    client = registry.create("generator", "openai", base_url="http://127.0.0.1:9/v1", timeout_s=2)
    with pytest.raises(GenerationError, match="cannot reach"):
        list(client.stream(MESSAGES, max_tokens=5, temperature=0.0, top_p=1.0))


def test_openai_backend_needs_a_url():
    with pytest.raises(GenerationError, match="COMPANION_LLM__BASE_URL"):
        registry.create("generator", "openai")


@pytest.mark.slow
def test_transformers_backend_reads_the_gguf():
    gen = registry.create("generator", "transformers")
    pieces = list(gen.stream(MESSAGES, max_tokens=6, temperature=0.0, top_p=1.0))
    assert "".join(pieces).strip()


def test_transformers_backend_missing_model_is_clear(tmp_path):
    with pytest.raises(GenerationError, match="no such local path|cannot load"):
        registry.create("generator", "transformers", model=str(tmp_path / "missing-model"))


def test_each_generator_declares_its_options_and_refuses_others():
    """No **kwargs catch-all: an option meant for another backend is a BadSetting, before any model loads."""
    expected = {
        "llamacpp": {
            "model",
            "context_tokens",
            "threads",
            "parallel",
            "adapter",
            "prompt_cache_mib",
            "merge_adapter",
            "cache_dir",
        },
        "transformers": {"model", "gguf_file", "threads"},
        "openai": {"base_url", "model", "api_key_env", "timeout_s"},
        "echo": {"reply"},
    }
    assert {name: set(registry.accepted_options("generator", name)) for name in registry.names("generator")} == expected
    with pytest.raises(BadSetting, match="generator backend 'llamacpp' has no option 'base_url'"):
        registry.create("generator", "llamacpp", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(BadSetting, match="'openai' has no option 'threads'"):
        registry.create("generator", "openai", base_url="http://127.0.0.1:9/v1", threads=2)


def test_the_model_locators_reached_through_the_registry(tmp_path):
    gguf, adapter = registry.function("llm_gguf"), registry.function("llm_adapter")
    assert gguf(None) == smollm2_gguf()
    with pytest.raises(MissingModel, match="COMPANION_LLM__MODEL"):
        gguf(str(tmp_path / "nope.gguf"))
    assert adapter(None) == reply_adapter()  # the shipped adapter with the embedded model
    assert adapter(None, str(smollm2_gguf())) is None  # not with a model the user names
    assert adapter("none") is None and adapter(" Off ") is None
    assert adapter(str(reply_adapter()), "other.gguf") == reply_adapter()
