"""Prompt templates live as text files in prompts/ and are loaded by name."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from string import Formatter
from typing import Any

from companion.errors import CompanionError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


class MissingSlots(CompanionError, KeyError):
    """A prompt template was rendered without values for all of its slots."""


class MissingPrompt(CompanionError, FileNotFoundError):
    """No prompt file by that name; the message lists the ones there are."""


@lru_cache(maxsize=64)
def load_prompt(name: str) -> str:
    if not name.replace("_", "").replace("-", "").replace("/", "").isalnum():
        raise MissingPrompt(f"invalid prompt name {name!r}")
    path = PROMPTS_DIR / f"{name}.txt"
    if not path.exists():
        available = sorted(p.stem for p in PROMPTS_DIR.glob("*.txt"))
        raise MissingPrompt(f"no prompt template {path}; available: {available}")
    return path.read_text(encoding="utf-8").strip()


def render(name: str, **slots: Any) -> str:
    """Fill a template; every slot named in the template must be given."""
    template = load_prompt(name)
    needed = {field for _, field, _, _ in Formatter().parse(template) if field}
    missing = needed - set(slots)
    if missing:
        raise MissingSlots(f"prompt {name!r} needs slots {sorted(missing)}")
    return template.format(**{k: slots[k] for k in needed})
