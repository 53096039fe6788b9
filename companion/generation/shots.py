"""Strategy prompts with few-shot exemplars (prompts/strategies/<name>.txt).

Small models follow examples far better than rules, so each strategy is an instruction
line plus exemplar exchanges written for this project, fed to the model as earlier chat
turns. The exemplars closest to the user's feeling and message are chosen, the closest last.

File format: "instruction: ..." then blocks separated by blank lines, each block
"mood: <label>", "user: ...", "assistant: ...".
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from companion.prompting import PROMPTS_DIR, MissingPrompt


@dataclass(frozen=True)
class Exemplar:
    mood: str
    user: str
    assistant: str


@dataclass(frozen=True)
class StrategyPrompt:
    name: str
    instruction: str
    exemplars: tuple[Exemplar, ...]


@lru_cache(maxsize=32)
def load_strategy(name: str) -> StrategyPrompt:
    path = PROMPTS_DIR / "strategies" / f"{name}.txt"
    if not path.exists():
        available = sorted(p.stem for p in (PROMPTS_DIR / "strategies").glob("*.txt"))
        raise MissingPrompt(f"no strategy prompt {path}; available: {available}")
    instruction, exemplars = "", []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields = {}
        for line in block.strip().splitlines():
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "instruction" in fields:
            instruction = fields["instruction"]
        if {"mood", "user", "assistant"} <= set(fields):
            exemplars.append(Exemplar(fields["mood"], fields["user"], fields["assistant"]))
    if not instruction or not exemplars:
        raise MissingPrompt(f"{path} needs an 'instruction:' line and at least one mood/user/assistant block")
    return StrategyPrompt(name, instruction, tuple(exemplars))


def all_exemplars() -> list[Exemplar]:
    """Every exemplar of every strategy (the evaluation checks it reuses none of them)."""
    return [ex for path in sorted((PROMPTS_DIR / "strategies").glob("*.txt"))
            for ex in load_strategy(path.stem).exemplars]


class ShotPicker:
    """Chooses k exemplars for a turn; caches exemplar embeddings per strategy."""

    def __init__(self, embedder: Any = None, k: int = 3):
        self.embedder = embedder
        self.k = k
        self._vectors: dict[str, np.ndarray] = {}

    def pick(self, prompt: StrategyPrompt, feeling: str, message: str) -> list[Exemplar]:
        pool = list(prompt.exemplars)
        same = [i for i, ex in enumerate(pool) if ex.mood == feeling]
        indices = same if len(same) >= min(2, self.k) else list(range(len(pool)))
        if self.embedder is not None and len(indices) > self.k:
            vectors = self._embedded(prompt)
            query = np.asarray(self.embedder.embed([message]), dtype=np.float32)[0]
            sims = vectors[indices] @ query
            indices = [indices[i] for i in np.argsort(-sims)[:self.k]]
            indices.reverse()  # the closest exemplar sits right before the real message
        else:
            indices = indices[:self.k]
        return [pool[i] for i in indices]

    def _embedded(self, prompt: StrategyPrompt) -> np.ndarray:
        if prompt.name not in self._vectors:
            self._vectors[prompt.name] = np.asarray(
                self.embedder.embed([ex.user for ex in prompt.exemplars]), dtype=np.float32)
        return self._vectors[prompt.name]
