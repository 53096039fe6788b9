"""Any Hugging Face causal LM (hub id already in the local cache, a local directory, or a
GGUF file read by transformers through `gguf_file`). Streams with TextIteratorStreamer."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator, Sequence

from companion import registry
from companion.errors import GenerationError


class TransformersGenerator:
    name = "transformers"

    def __init__(self, model: str | None = None, gguf_file: str | None = None, threads: int | None = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        registry.function("torch_threads")(threads)
        if model is None:  # the embedded GGUF, dequantised by transformers (slower than llama.cpp)
            gguf = registry.function("smollm2_gguf")()
            model, gguf_file = str(gguf.parent), gguf.name
        kwargs = {"local_files_only": True}
        if gguf_file:
            kwargs["gguf_file"] = gguf_file
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, **kwargs)
            self.model = AutoModelForCausalLM.from_pretrained(model, **kwargs).eval()
        except (OSError, ValueError) as exc:
            where = Path(model)
            raise GenerationError(
                f"cannot load the transformers model {model!r}{' / ' + gguf_file if gguf_file else ''} offline "
                f"({exc}); give a local directory or a model already in the Hugging Face cache"
                + ("" if where.exists() else " (no such local path)")
            ) from exc
        self._lock = threading.Lock()  # one generate at a time per model object

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int = 60,
        temperature: float = 0.7,
        top_p: float = 0.9,
        seed: int | None = None,
        stop: Sequence[str] = (),
    ) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        prompt = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        inputs = self.tokenizer(prompt, return_tensors="pt")
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = dict(
            **inputs,
            max_new_tokens=max_tokens,
            streamer=streamer,
            do_sample=temperature > 0,
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        )
        if temperature > 0:
            kwargs.update(temperature=temperature, top_p=top_p)
        errors: list[Exception] = []

        def work():
            try:
                with self._lock, torch.inference_mode():
                    if seed is not None:
                        torch.manual_seed(seed)
                    self.model.generate(**kwargs)
            except Exception as exc:
                errors.append(exc)
                streamer.end()

        threading.Thread(target=work, daemon=True, name="hf-generate").start()
        for piece in streamer:
            if piece:
                yield piece
        if errors:
            raise GenerationError(f"transformers generation failed: {errors[0]}") from errors[0]
