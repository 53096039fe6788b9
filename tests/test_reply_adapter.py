"""The shipped LoRA adapter: GGUF round trip, llama.cpp against torch, and clear errors for bad files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.loading import BadAdapter, check_lora_gguf, reply_adapter, smollm2_gguf

PROMPTS = [
    "I failed my exam today and I feel stupid.",
    "My sister had a baby girl last night!",
    "Work has been really stressful and I barely slept.",
    "What's my dog's name?",
]
# llama.cpp runs the Q4_1 weights with 8-bit activations; torch runs them dequantized in float32.
# Their first-token log-probabilities agree to within this many nats: measured max 0.12 with the adapter
# at run time, 0.25-0.32 merged into Q8_0 weights, 0.22 for the base alone (the quantisation floor); the
# adapter itself moves them by 2.0-5.4 nats.
TOLERANCE = 0.35


def messages(text):
    from companion.generation.prompt import TurnContext, build_messages
    from companion.types import MoodState

    return build_messages(TurnContext(user="t", text=text, mood=MoodState.unknown()), prompt=None)[0]


@pytest.fixture(scope="module")
def torch_tuned():
    import torch

    from pipelines.training import lora
    from pipelines.training.reply import load_base

    tokenizer, model = load_base(threads=2)
    lora.attach_file(model, reply_adapter())
    torch.set_num_threads(1)
    return tokenizer, model.eval()


def torch_logprobs(tokenizer, model, msgs, tuned=True):
    import torch

    from pipelines.training.reply import encode, set_lora_scale

    ids, _ = encode(tokenizer, msgs)
    set_lora_scale(model, tuned)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    set_lora_scale(model, True)
    return torch.log_softmax(logits.float(), -1).numpy()


def llama_top(generator, msgs, k=5):
    out = []
    request = {
        "messages": msgs,
        "max_tokens": 1,
        "temperature": 0.0,
        "stream": False,
        "logprobs": True,
        "top_logprobs": k,
    }
    generator._server.handle_chat_completions(request, lambda chunk: out.append(chunk) and False)
    first = out[0]["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    return {t["id"]: t["logprob"] for t in first}


def test_adapter_is_small_and_well_formed():
    path = check_lora_gguf(reply_adapter())
    assert path.stat().st_size < 8 * 2**20


@pytest.mark.slow
def test_gguf_round_trip_keeps_every_tensor(torch_tuned, tmp_path):
    from pipelines.training import lora

    _, model = torch_tuned
    out = lora.write_gguf(model, tmp_path / "copy.gguf")
    alpha, again = lora.read_gguf(out)
    _, shipped = lora.read_gguf(reply_adapter())
    assert alpha == next(m for _, _, m in lora.lora_layers(model)).alpha
    assert again.keys() == shipped.keys() and len(again) == 2 * 5 * 30
    for name, value in shipped.items():
        np.testing.assert_array_equal(again[name], value)


@pytest.mark.slow
@pytest.mark.parametrize("merged", [False, True], ids=["runtime-lora", "merged"])
def test_llamacpp_with_the_adapter_matches_torch(torch_tuned, merged):
    """llama.cpp + adapter reproduces the torch model's next-token distribution within TOLERANCE,
    while the adapter itself moves that distribution by more than TOLERANCE (the check can fail).
    Both ways of serving it: applied at run time (the default) and merged into Q8_0 weights."""
    from companion.generation.llamacpp import LlamaCppGenerator

    tokenizer, model = torch_tuned
    served = LlamaCppGenerator(threads=2, merge_adapter=merged)
    assert served.adapter_path == reply_adapter() and served.merged == merged
    assert (served.model_path != smollm2_gguf()) == merged
    worst, moved = 0.0, 0.0
    for text in PROMPTS:
        msgs = messages(text)
        top = llama_top(served, msgs)
        tuned, base = torch_logprobs(tokenizer, model, msgs), torch_logprobs(tokenizer, model, msgs, tuned=False)
        worst = max(worst, max(abs(lp - tuned[i]) for i, lp in top.items()))
        moved = max(moved, max(abs(tuned[i] - base[i]) for i in top))
        # the same greedy token; where torch's two best are a near tie (closer than the quantisation
        # error, as for one prompt with the 2026-11-30 adapter merged), either of them
        ranked = np.argsort(tuned)[::-1]
        allowed = {int(ranked[0])} | ({int(ranked[1])} if tuned[ranked[0]] - tuned[ranked[1]] < TOLERANCE else set())
        assert max(top, key=top.get) in allowed, text
    print(f"worst {worst:.3f} nats, adapter moves {moved:.2f}")
    assert worst <= TOLERANCE, worst
    assert moved > 2 * TOLERANCE, moved


def test_merged_model_is_built_once_per_adapter(tmp_path):
    """The merged GGUF is cached under a key of base and adapter: reused as is, rebuilt for another adapter."""
    import gguf

    from pipelines.llm_merge import merged_model

    first = merged_model(smollm2_gguf(), reply_adapter(), tmp_path)
    built_at = first.stat().st_mtime_ns
    assert merged_model(smollm2_gguf(), reply_adapter(), tmp_path) == first
    assert first.stat().st_mtime_ns == built_at  # not rebuilt
    other = tmp_path / "other" / "adapter.gguf"
    other.parent.mkdir()
    other.write_bytes(reply_adapter().read_bytes())
    with open(other, "r+b") as f:  # same tensors, another alpha: another key
        data = f.read()
        f.seek(0)
        f.write(data.replace(np.float32(16.0).tobytes(), np.float32(8.0).tobytes(), 1))
    second = merged_model(smollm2_gguf(), check_lora_gguf(other), tmp_path)
    assert second != first and second.is_file()
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(str(first)).tensors}
    assert types["blk.0.ffn_down.weight"] == "Q8_0" and types["blk.0.attn_q.weight"] == "Q4_1"
    assert not list(tmp_path.glob("*.part"))  # no temporary file left behind


def test_missing_corrupt_or_wrong_adapter_files_say_what_to_do(tmp_path):
    with pytest.raises(BadAdapter, match="COMPANION_LLM__ADAPTER=none"):
        check_lora_gguf(tmp_path / "nowhere.gguf")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(reply_adapter().read_bytes()[:4096])
    with pytest.raises(BadAdapter, match="unreadable or incomplete"):
        check_lora_gguf(truncated)
    with pytest.raises(BadAdapter, match="unreadable|not a LoRA adapter"):
        check_lora_gguf(smollm2_gguf())  # a model, not an adapter


def test_the_generator_refuses_a_bad_adapter_before_llama_cpp_sees_it(tmp_path):
    from companion.generation.llamacpp import LlamaCppGenerator

    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(BadAdapter, match="retrain it"):
        LlamaCppGenerator(adapter=str(garbage), threads=1)


def test_adapter_setting_none_serves_the_untuned_base(monkeypatch):
    from companion.config import Settings
    from companion.generation.llamacpp import LlamaCppGenerator

    monkeypatch.setenv("COMPANION_LLM__ADAPTER", "none")
    assert Settings().llm.adapter == "none"
    base = LlamaCppGenerator(adapter=Settings().llm.adapter, threads=1)
    assert base.adapter_path is None
    assert math.isfinite(max(llama_top(base, messages("Hello there.")).values()))
