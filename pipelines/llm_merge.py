"""An opt-in way to serve the reply model (COMPANION_LLM__MERGE_ADAPTER=true): the embedded SmolLM2
GGUF with the LoRA adapter merged into its weights.

llama.cpp applies a run-time LoRA as two extra small matmuls beside every target projection, and
runs the base's Q4_1 kernels. Merging W + (alpha/r)·B·A into Q8_0 tensors removes both costs
(2 cores, one 115-token prompt, 2026-11-30): prompt 2.9 → 1.45 ms a token, decoding 10.0 → 7.0 ms
a token. Q8_0 and not Q4_1: the adapter's changes are ~1/30 of a Q4_1 step, so requantizing to
Q4_1 keeps only 7-11% of them (measured on blk.5), while Q8_0 keeps them whole.

The merged file (~139 MB) is derived here from two shipped files, never downloaded, and cached
under a key of both files, so a new adapter or base builds a new one (about 4 s, once).

It is not the default: its held-out perplexity and first-token log-probabilities equal the run-time
adapter's, yet in two blind readings of fresh draws its sampled replies fit less often (draw 2033:
69% against 78%; on the 75 replies that differed, 8 fit only merged and 21 only at run time).
Faster decoding is not worth a worse reply; docs/replies.md has the numbers.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from pipelines.loading import MissingModel

QTYPE = "Q8_0"


def cache_dir() -> Path:
    """Where derived model files live unless COMPANION_LLM__CACHE_DIR says: $XDG_CACHE_HOME/ember or ~/.cache/ember."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ember"


def _key(base: Path, adapter: Path) -> str:
    digest = hashlib.sha256(adapter.read_bytes())
    stat = base.stat()  # the base is 98 MB and only changes with its wheel: its name, size and mtime suffice
    digest.update(f"{base.name}:{stat.st_size}:{stat.st_mtime_ns}:{QTYPE}".encode())
    return digest.hexdigest()[:16]


def merged_model(base: Path, adapter: Path, directory: str | Path | None = None) -> Path:
    """The GGUF of `base` with `adapter` merged in, built into the cache on first use (atomically:
    two processes starting at once each write a temporary file and the last rename wins)."""
    directory = Path(directory).expanduser() if directory else cache_dir()
    out = directory / f"{base.stem}+{adapter.stem}-{_key(base, adapter)}.{QTYPE.lower()}.gguf"
    if out.is_file():
        return out
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".part")
        os.close(fd)
    except OSError as exc:
        raise MissingModel(
            f"cannot write the merged reply model into {directory} ({exc}); set COMPANION_LLM__CACHE_DIR to a "
            "writable folder, or COMPANION_LLM__MERGE_ADAPTER=false to apply the adapter at run time (slower)"
        ) from exc
    try:
        merge(base, adapter, Path(tmp))
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def merge(base: Path, adapter: Path, out: Path) -> Path:
    """Write `base` with every adapter target tensor replaced by Q8_0(W + alpha/r · B·A); the other
    tensors and all metadata are copied byte for byte. Tensors are written one at a time (small peak memory)."""
    import gguf
    import numpy as np

    from pipelines.training.lora import read_gguf

    alpha, lora = read_gguf(adapter)  # BadAdapter for a file that is not one
    reader = gguf.GGUFReader(str(base))
    writer = gguf.GGUFWriter(str(out), reader.fields["general.architecture"].contents())
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # written by GGUFWriter itself
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
    qtype = gguf.GGMLQuantizationType[QTYPE]
    targets = {t.name for t in reader.tensors if f"{t.name}.lora_a" in lora}
    if not targets:
        raise MissingModel(f"adapter {adapter} has no tensor for model {base}: was it trained on another model?")
    for t in reader.tensors:
        if t.name in targets:
            shape = gguf.quants.quant_shape_to_byte_shape(tuple(int(d) for d in reversed(t.shape)), qtype)
            writer.add_tensor_info(t.name, shape, np.dtype(np.uint8), int(np.prod(shape)), qtype)
        else:
            writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in reader.tensors:
        if t.name in targets:
            a, b = lora[f"{t.name}.lora_a"], lora[f"{t.name}.lora_b"]
            weight = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
            writer.write_tensor_data(gguf.quants.quantize(weight + (alpha / a.shape[0]) * (b @ a), qtype))
        else:
            writer.write_tensor_data(t.data)
    writer.close()
    return out
