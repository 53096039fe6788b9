"""Embedded default generator: llama.cpp (xllamacpp) running a GGUF file in-process.

xllamacpp's chat call is blocking and reports chunks through a callback; a worker
thread turns that into a Python iterator so replies stream token by token.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Iterator, Sequence

from companion import registry
from companion.errors import GenerationError
from companion.generation.chat_format import chat_request, delta_pieces

_DONE = object()
log = logging.getLogger(__name__)


class LlamaCppGenerator:
    name = "llamacpp"

    def __init__(
        self,
        model: str | None = None,
        context_tokens: int = 2048,
        threads: int | None = None,
        parallel: int = 1,
        adapter: str | None = None,
        prompt_cache_mib: int = 64,
        merge_adapter: bool = False,
        cache_dir: str | None = None,
    ):
        import os

        import xllamacpp

        # model files are found by the model locators in the registry (registry.FUNCTIONS)
        path = registry.function("llm_gguf")(model)  # MissingModel naming COMPANION_LLM__MODEL
        # The shipped adapter was trained on the embedded SmolLM2 only: another model gets none unless named.
        adapter_path = registry.function("llm_adapter")(adapter, model)  # checked: BadAdapter before llama.cpp
        self.adapter_path = adapter_path
        self.merged = adapter_path is not None and merge_adapter
        if self.merged:
            # The adapter merged into Q8_0 weights: half the prompt time of a run-time LoRA, but replies that
            # readers found fit less often (pipelines/llm_merge.py, docs/replies.md): an opt-in, not the default.
            try:
                path = registry.function("llm_merged")(path, adapter_path, cache_dir)
            except (NotImplementedError, ValueError, KeyError) as exc:  # tensor types gguf-py cannot requantize
                log.warning("serving the adapter unmerged (slower): cannot merge it into %s: %s", path, exc)
                self.merged = False
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        if adapter_path is not None and not self.merged:
            params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(adapter_path), 1.0)]
        params.n_ctx = context_tokens * parallel  # llama.cpp splits n_ctx between the slots
        params.n_parallel = parallel
        # llama.cpp keeps the KV state of past prompts in RAM to reuse them, up to 8 GiB by default:
        # the server grew ~1 MB a turn (400 turns: +470 MB). Our prompts change near their start (the
        # mood line), so little of an old prompt is reusable; a small budget keeps memory flat.
        params.cache_ram_mib = prompt_cache_mib
        n = threads or min(4, os.cpu_count() or 1)
        params.cpuparams.n_threads = n
        params.cpuparams_batch.n_threads = n
        params.verbosity = -1  # llama.cpp logs every slot event to stderr; errors still reach us as results
        self.model_path = path
        self._server = xllamacpp.Server(params)
        self.listening_address = self._server.listening_address

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
        request = chat_request(
            messages, max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed, stop=stop
        )
        chunks: queue.Queue = queue.Queue()
        cancelled = threading.Event()
        self.last_stream = {"chunks": 0}  # what llama.cpp delivered (diagnostics, tests)
        stats = self.last_stream

        def on_chunk(chunk):
            chunks.put(chunk)
            stats["chunks"] += 1
            return cancelled.is_set()  # True tells llama.cpp to stop decoding (the consumer went away)

        def work():
            try:
                result = self._server.handle_chat_completions(request, on_chunk)
                if isinstance(result, dict) and "error" in result:
                    chunks.put(GenerationError(f"llama.cpp refused the request: {result['error']}"))
            except Exception as exc:  # surfaced in the consumer's thread
                chunks.put(GenerationError(f"llama.cpp failed: {exc}"))
            finally:
                chunks.put(_DONE)

        worker = threading.Thread(target=work, daemon=True, name="llamacpp-stream")
        worker.start()
        try:
            while True:
                item = chunks.get()
                if item is _DONE:
                    return
                if isinstance(item, Exception):
                    raise item
                if isinstance(item, dict) and "error" in item:
                    raise GenerationError(f"llama.cpp error: {item['error']}")
                yield from delta_pieces(item)
        finally:
            # A consumer that stops early (close() or break) frees the slot at once, so the next
            # request does not queue behind tokens nobody will read.
            cancelled.set()
            worker.join(timeout=5)
