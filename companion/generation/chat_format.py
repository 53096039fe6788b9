"""The OpenAI chat-completions wire format, spoken by both llama.cpp backends: the embedded server
(llamacpp.py) and any OpenAI-compatible HTTP server (openai_compat.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any


def chat_request(
    messages: Sequence[dict[str, str]],
    *,
    max_tokens: int,
    temperature: float,
    top_p: float,
    seed: int | None,
    stop: Sequence[str],
) -> dict[str, Any]:
    """A streamed chat-completions request body."""
    body: dict[str, Any] = {
        "messages": list(messages),
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "stream": True,
    }
    if stop:
        body["stop"] = list(stop)
    if seed is not None:
        body["seed"] = seed
    return body


def delta_pieces(chunk: Any) -> Iterator[str]:
    """The text pieces of one streamed chunk (a chunk without choices, or a role-only delta, has none)."""
    for choice in chunk.get("choices", []) if isinstance(chunk, dict) else []:
        piece = (choice.get("delta") or {}).get("content")
        if piece:
            yield piece
