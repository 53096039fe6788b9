"""Any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp server, a hosted API).

Plain HTTP with server-sent events: no client library, so nothing extra to install.
The key is read from the environment variable named in settings, never stored.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Iterator, Sequence

from companion.errors import GenerationError
from companion.generation.chat_format import chat_request, delta_pieces


class OpenAIGenerator:
    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
    ):
        if not base_url:
            raise GenerationError(
                "the openai backend needs a server: set COMPANION_LLM__BASE_URL, e.g. http://127.0.0.1:8080/v1"
            )
        self.base_url = base_url.rstrip("/")
        self.model = model or "default"
        self.api_key = os.environ.get(api_key_env, "")
        self.timeout_s = timeout_s

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
        body = {
            "model": self.model,
            **chat_request(messages, max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed, stop=stop),
        }
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            raise GenerationError(f"{self.base_url} answered HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise GenerationError(
                f"cannot reach the LLM server at {self.base_url} ({exc}); start it or fix COMPANION_LLM__BASE_URL"
            ) from exc
        with response:
            for raw in response:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    chunk = json.loads(data)
                except json.JSONDecodeError as exc:
                    raise GenerationError(f"malformed stream chunk from {self.base_url}: {data[:120]}") from exc
                if "error" in chunk:
                    raise GenerationError(f"{self.base_url} reported: {chunk['error']}")
                yield from delta_pieces(chunk)
