"""The Gradio web app, in pieces: layout (the page and its events), talk (chat, voice, webcam),
account (sign-in, consent, memory, export, forget), views (HTML and the timeline), session."""

from __future__ import annotations

import logging
import threading
from typing import Any

from webapp.layout import build, launch_options, queue_options

__all__ = ["build", "launch_options", "queue_options", "warm", "warm_in_background"]
log = logging.getLogger("webapp")


def warm(companion: Any) -> None:
    """Load the models a first reply needs (LLM, embedder, analyzers, ASR) so turn 1 is not slow.
    Each part loads on its own: one that is missing is logged and left to fail with its own
    message when used."""
    for name, problem in companion.preload().items():  # best effort: the turn that needs it reports it
        log.warning("could not preload the %s: %s", name, problem)


def warm_in_background(companion: Any) -> threading.Thread:
    thread = threading.Thread(target=warm, args=(companion,), name="companion-warmup", daemon=True)
    thread.start()
    return thread
