"""The Gradio web app of the companion: `python app.py` serves it on http://127.0.0.1:7860.

build_app(companion) -> gr.Blocks builds the page around a ready Companion (tests pass one with
test components); main() builds the embedded offline Companion from Settings and serves it.
No model is loaded at import: models load in the background after launch, or on first use.
Port: COMPANION_PORT (default 7860). Data: COMPANION_DATA_DIR (default ~/.companion).
"""

from __future__ import annotations

import logging
import os
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr

from webapp import build, launch_options, queue_options, warm_in_background


def build_app(companion: Any) -> gr.Blocks:
    return build(companion)


def port_from_env() -> int:
    """Settings.port (COMPANION_PORT), or a clear exit when it is not a port number."""
    from pydantic import ValidationError

    from companion import Settings

    try:
        return Settings().port
    except ValidationError:
        raise SystemExit(
            f"COMPANION_PORT must be a port number between 1 and 65535, got {os.environ.get('COMPANION_PORT')!r}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_OFFLINE"] = "1"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from companion import Companion, Settings

    companion = Companion.from_settings(Settings())
    demo = build_app(companion)
    demo.queue(**queue_options(companion))  # replies: Settings.llm.parallel at once (COMPANION_LLM__PARALLEL)
    demo.launch(server_name="127.0.0.1", server_port=port_from_env(), prevent_thread_lock=True, **launch_options())
    warm_in_background(companion)
    try:
        demo.block_thread()
    finally:
        companion.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
