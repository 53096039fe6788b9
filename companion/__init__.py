"""Emotion-aware companion: public names.

Importing this package loads no model and opens no socket; `Companion` and `Settings`
are imported on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from companion.types import EMOTIONS, EmotionEstimate, MoodState, Reply, Strategy

if TYPE_CHECKING:
    from companion.config import Settings
    from companion.core import Companion

__all__ = ["Companion", "Settings", "EMOTIONS", "EmotionEstimate", "MoodState", "Reply", "Strategy"]


def __getattr__(name: str) -> Any:
    if name == "Companion":
        from companion.core import Companion

        return Companion
    if name == "Settings":
        from companion.config import Settings

        return Settings
    raise AttributeError(f"module 'companion' has no attribute {name!r}")
