"""One training example of the reply model (its own module: reply_data and reply_memory both make them)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Example:
    corpus: str
    conv_id: str
    split: str
    messages: list[dict[str, str]]
    reply: str
    strategy: str | None  # the strategy prompt used (ESConv's label, else the planner's choice)
    mood: str
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)
