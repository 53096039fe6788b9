"""Run the frozen MiniLM once per sentence and keep what training needs.

For each sentence we keep (1) the hidden states entering the top `k` layers, so that
fine-tuning those layers never re-runs the frozen bottom ones, and (2) the [mean; CLS]
features of the whole frozen encoder, for the frozen-encoder variant.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pipelines.embedding import embed_tokens, mean_pool, run_layers
from pipelines.text import WINDOW_TOKENS, normalise_text


@dataclass
class States:
    flat: torch.Tensor  # (all tokens, 384) float16, sentences one after another
    offsets: np.ndarray  # (n + 1,) where each sentence starts in `flat`
    pooled: torch.Tensor  # (n, 768) float32: frozen encoder [mean; CLS]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def batch(self, rows) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded (hidden float32 (b, L, 384), attention mask (b, L)) for sentence indices `rows`."""
        lengths = [int(self.offsets[r + 1] - self.offsets[r]) for r in rows]
        hidden = torch.zeros((len(rows), max(lengths), self.flat.shape[1]))
        mask = torch.zeros((len(rows), max(lengths)), dtype=torch.long)
        for k, (r, n) in enumerate(zip(rows, lengths)):
            hidden[k, :n] = self.flat[self.offsets[r] : self.offsets[r] + n].float()
            mask[k, :n] = 1
        return hidden, mask


def extract(
    texts: list[str],
    tokenizer,
    model,
    top_layers: int,
    batch_size: int = 64,
    desc: str = "encode",
    cache: Path | None = None,
) -> States:
    """States for `texts` (normalised as the analyzer does, cut at 128 tokens)."""
    digest = hashlib.sha1("\n".join(texts).encode("utf-8")).hexdigest()  # a cache of other texts is never reused
    if cache is not None and cache.exists():
        saved = torch.load(cache)
        if saved.get("digest") == digest and saved["top_layers"] == top_layers:
            return States(saved["flat"], saved["offsets"].numpy(), saved["pooled"])
    ids = tokenizer([normalise_text(t) for t in texts], truncation=True, max_length=WINDOW_TOKENS)["input_ids"]
    lengths = np.array([len(x) for x in ids])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat = torch.zeros((int(offsets[-1]), model.config.hidden_size), dtype=torch.float16)
    pooled = torch.zeros((len(ids), 2 * model.config.hidden_size))
    layers = list(model.encoder.layer)
    cut = len(layers) - top_layers
    order = np.argsort(lengths, kind="stable")
    with torch.inference_mode(), tqdm(total=len(ids), desc=desc, unit="sent") as bar:
        for begin in range(0, len(ids), batch_size):
            rows = order[begin : begin + batch_size]
            width = int(lengths[rows].max())
            input_ids = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for k, r in enumerate(rows):
                input_ids[k, : lengths[r]] = torch.tensor(ids[r])
                mask[k, : lengths[r]] = 1
            hidden = run_layers(model.config, layers[:cut], embed_tokens(model, input_ids), mask)
            for k, r in enumerate(rows):
                flat[offsets[r] : offsets[r + 1]] = hidden[k, : lengths[r]].half()
            final = run_layers(model.config, layers[cut:], hidden, mask)
            pooled[rows] = torch.cat([mean_pool(final, mask), final[:, 0]], dim=-1)
            bar.update(len(rows))
    states = States(flat, offsets, pooled)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "n": len(texts),
                "digest": digest,
                "top_layers": top_layers,
                "flat": flat,
                "offsets": torch.from_numpy(offsets),
                "pooled": pooled,
            },
            cache,
        )
    return states


def length_batches(rows: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator):
    """Shuffled batches of similar-length sentences (less padding, still random order)."""
    rows = rng.permutation(rows)
    batches = []
    pool = batch_size * 50
    for begin in range(0, len(rows), pool):
        chunk = rows[begin : begin + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
