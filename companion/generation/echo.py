"""A generator at the model's edge for tests: it streams back a fixed or echoed reply."""

from __future__ import annotations

from typing import Iterator, Sequence


class EchoGenerator:
    name = "echo"

    def __init__(self, reply: str | None = None):
        self.reply = reply
        self.calls: list[list[dict[str, str]]] = []

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
        self.calls.append([dict(m) for m in messages])
        text = self.reply if self.reply is not None else f"You said: {messages[-1]['content']}"
        for word in text.split(" "):
            yield word + " "
