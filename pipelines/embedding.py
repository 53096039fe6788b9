"""Sentence embeddings from the packaged all-MiniLM-L6-v2, and the encoder plumbing the
text emotion analyzer shares with them.

The embedder follows the sentence-transformers recipe for this model (mean pooling over
real tokens, then L2 normalisation) but runs on plain transformers, through
`loading.load_minilm()`, so the embedder and the text analyzer hold one copy of the encoder.
"""

from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from companion.errors import WrongType
from pipelines import loading

DIM = 384
MAX_TOKENS = 128  # the length all-MiniLM-L6-v2 was trained with (sentence_bert_config.json)
# The shared fast tokenizer keeps its truncation and padding settings as state on the object, set
# at each call: two threads calling it with different settings (the analyzer's overlapping windows,
# the embedder's padded batches) encoded with each other's settings (wrong windows, and "Unable to
# create tensor" errors). Every call on the shared tokenizer holds this lock; the model runs outside it.
TOKENIZER_LOCK = threading.Lock()


def shared_encoder():
    """(tokenizer, model) of the packaged MiniLM, loaded once per process."""
    return loading.load_minilm()


def embed_tokens(model, input_ids, position_ids=None):
    """Token embeddings (word + position + segment 0): the input of encoder layer 0. Packed rows
    (several texts in one row) pass `position_ids` that restart at each text."""
    return model.embeddings(
        input_ids=input_ids, token_type_ids=input_ids.new_zeros(input_ids.shape), position_ids=position_ids
    )


def run_layers(config, layers, hidden, attention_mask):
    """Run encoder `layers` (the shared model's, or fine-tuned copies of its top ones) on
    `hidden`, attending only to real tokens. Lets a caller stop after the shared bottom
    layers, or resume from hidden states cached during training. `attention_mask` is (batch, tokens)
    of 0/1, or a ready (batch, 1, tokens, tokens) bool mask: packed rows, where each text sees only itself."""
    from transformers.masking_utils import create_bidirectional_mask

    if attention_mask.dim() == 4:
        mask = attention_mask
    else:
        mask = create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=attention_mask)
    for layer in layers:
        hidden = layer(hidden, mask)
    return hidden


def mean_pool(hidden, attention_mask):
    """Average of the token states that are not padding."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class MiniLMEmbedder:
    """Embed sentences for memory retrieval and reply reranking: float32 (n, 384), unit length.

    Texts longer than 128 tokens are truncated (the model's training length); the memory
    store embeds short turns and facts, where the head of the text carries the topic.
    """

    dim = DIM

    def __init__(self, *, batch_size: int = 64) -> None:
        self.batch_size = int(batch_size)
        self._tokenizer, self._model = shared_encoder()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if isinstance(texts, str):
            raise WrongType("embed() takes a list of strings; wrap a single text as [text]")
        texts = list(texts)
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise WrongType(f"embed() takes strings only, got {sorted(set(bad))}")
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        with torch.inference_mode():
            for begin in range(0, len(order), self.batch_size):
                chunk = order[begin : begin + self.batch_size]
                with TOKENIZER_LOCK:
                    enc = self._tokenizer(
                        [texts[i] for i in chunk],
                        padding=True,
                        truncation=True,
                        max_length=MAX_TOKENS,
                        return_tensors="pt",
                    )
                hidden = self._model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
                pooled = torch.nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1)
                out[chunk] = pooled.float().numpy()
        return out
