"""Per-browser-session state, kept server-side in gr.State (never in module globals).

The signed-in user lives only here: handlers take the user from the session, never from a
field the client sends, so a caller of the HTTP API cannot act as someone else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

MAX_POINTS = 2000  # session timeline points kept (webcam adds at most one per POINT_EVERY_S)
POINT_EVERY_S = 2.0


@dataclass
class Session:
    user: str | None = None
    token: str = ""  # the passphrase hash at sign-in
    history: list[dict[str, str]] = field(default_factory=list)  # the chat as shown (Gradio 6 messages)
    points: list[tuple[float, float, float]] = field(default_factory=list)  # (at, valence, arousal)
    readings: dict[str, dict[str, Any]] = field(default_factory=dict)  # modality -> last estimate
    last_point_at: float = 0.0
    last_plot_at: float = 0.0
    frames: int = 0  # webcam frames analysed this session

    def add_point(self, at: float, valence: float, arousal: float, *, force: bool = False) -> bool:
        if not force and at - self.last_point_at < POINT_EVERY_S:
            return False
        self.points.append((at, valence, arousal))
        del self.points[:-MAX_POINTS]
        self.last_point_at = at
        return True


class NotSignedIn(gr.Error):
    """Shown to the caller as an error message; an expected event, so no traceback in the log."""

    def __init__(self, message: str):
        super().__init__(message, print_exception=False)


def require_user(companion: Any, session: Session | None) -> str:
    """The session's user, or a clear error when nobody is signed in or the account is gone."""
    if session is None or not session.user:
        raise NotSignedIn("Please sign in first (user name and passphrase at the top of the page).")
    if not companion.session_valid(session.user, session.token):
        raise NotSignedIn("This account no longer exists or its passphrase changed; please sign in again.")
    return session.user


def signed_in(companion: Any, session: Session | None) -> str | None:
    """Like require_user, but None instead of an error (for the webcam stream and timers)."""
    if session is None or not session.user:
        return None
    return session.user if companion.session_valid(session.user, session.token) else None
