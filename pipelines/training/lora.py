"""LoRA for the reply model: the torch layers that train, and the llama.cpp GGUF adapter they become.

Targets: the value and output projections of attention and the three MLP projections of every
layer. Query and key are left alone: llama.cpp stores them with rows permuted for its rotary
layout, so an adapter on them would need the same permutation, and what a support-tuned reply
changes (wording, tone, what to say) lives in the value/MLP paths. Rank 8 over those five
matrices x 30 layers is 2.0 M parameters (4 MB as float16), a small fraction of the 135 M base.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipelines.loading import BadAdapter

# HF module name (inside model.layers.N) -> llama.cpp tensor name (inside blk.N)
TARGETS = {
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


class LoRALinear(nn.Module):
    """y = W x + (alpha / r) * B A x, with W frozen; B starts at zero so training starts from the base."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        self.base = base
        self.rank, self.alpha = rank, alpha
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        for p in self.base.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (self.dropout(x) @ self.lora_a.t() @ self.lora_b.t()) * self.scale


def attach(model: nn.Module, rank: int = 8, alpha: float = 16.0, dropout: float = 0.05) -> list[str]:
    """Freeze the model and wrap every target projection in a LoRALinear; returns their names."""
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = []
    for i, layer in enumerate(model.model.layers):
        for path in TARGETS:
            parent_name, _, child = path.partition(".")
            parent = getattr(layer, parent_name)
            setattr(parent, child, LoRALinear(getattr(parent, child), rank, alpha, dropout))
            wrapped.append(f"{i}.{path}")
    return wrapped


def lora_layers(model: nn.Module):
    for i, layer in enumerate(model.model.layers):
        for path, gguf_name in TARGETS.items():
            parent_name, _, child = path.partition(".")
            yield i, gguf_name, getattr(getattr(layer, parent_name), child)


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the trained tensors (for checkpoints): name -> tensor."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def write_gguf(model: nn.Module, path: Path, *, architecture: str = "llama", name: str = "ember-reply") -> Path:
    """The trained LoRA as a llama.cpp adapter (general.type=adapter, adapter.type=lora), float16 tensors."""
    import gguf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    layers = list(lora_layers(model))
    first = layers[0][2]
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_name(name)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(first.alpha))
    for i, gguf_name, module in layers:
        # torch keeps (out, in) like GGUF's numpy view: lora_a (r, in), lora_b (out, r)
        writer.add_tensor(f"blk.{i}.{gguf_name}.weight.lora_a", module.lora_a.detach().numpy().astype(np.float16))
        writer.add_tensor(f"blk.{i}.{gguf_name}.weight.lora_b", module.lora_b.detach().numpy().astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def read_gguf(path: Path) -> tuple[float, dict[str, np.ndarray]]:
    """(alpha, {tensor name: float32 array}) of an adapter file; BadAdapter when it is not one."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:  # truncated or not GGUF at all
        raise BadAdapter(f"{path} is not a readable GGUF file ({exc})") from exc
    fields = reader.fields
    kind = fields.get("general.type")
    if kind is None or bytes(kind.parts[-1]).decode() != "adapter" or "adapter.lora.alpha" not in fields:
        raise BadAdapter(f"{path} is a GGUF file but not a LoRA adapter")
    alpha = float(fields["adapter.lora.alpha"].parts[-1][0])
    tensors = {
        t.name: np.array(t.data, dtype=np.float32).reshape([int(d) for d in reversed(t.shape)]) for t in reader.tensors
    }
    return alpha, tensors


def load_into(model: nn.Module, path: Path) -> None:
    """Put an adapter file's tensors into a model that `attach` already wrapped (a second phase)."""
    copy_tensors(model, read_gguf(path)[1])


def attach_file(model: nn.Module, path: Path) -> None:
    """Wrap `model` with the rank and alpha an adapter file was made with, and load its tensors."""
    alpha, tensors = read_gguf(path)
    rank = next(v.shape[0] for k, v in tensors.items() if k.endswith("lora_a"))
    attach(model, rank=rank, alpha=alpha, dropout=0.0)
    copy_tensors(model, tensors)


def copy_tensors(model: nn.Module, tensors: dict[str, np.ndarray]) -> None:
    with torch.no_grad():
        for i, gguf_name, module in lora_layers(model):
            module.lora_a.copy_(torch.from_numpy(tensors[f"blk.{i}.{gguf_name}.weight.lora_a"]))
            module.lora_b.copy_(torch.from_numpy(tensors[f"blk.{i}.{gguf_name}.weight.lora_b"]))
