"""Conversation handlers: typed chat, voice messages, the webcam stream.

Each handler takes the session (gr.State) and acts only as the user signed in there.
Bad input ends in a message in the page, never a server error, and a turn that fails or is
abandoned half-way (stop button, closed tab) stores nothing: Companion.stream saves a turn
only after its last piece.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import numpy as np

from companion.errors import CompanionError, InvalidInput
from webapp import views
from webapp.session import Session, require_user, signed_in

log = logging.getLogger("webapp")

MAX_VOICE_S = 60.0  # a voice message longer than this is refused, not silently cut
PLOT_EVERY_S = 5.0  # the webcam stream redraws the timeline at most this often
MAX_SHOWN = 200  # messages kept on screen per session (all of them stay in memory)
# The reply comes in checked sentences whose words arrive together: the page is redrawn with the
# first word, then at the end of each sentence, and between them at most this often. Every redraw
# re-sends the chat, and word by word that was most of Gradio's CPU per turn.
REDRAW_EVERY_S = 0.1
SENTENCE_END = (".", "!", "?", "…")


def discard_upload(path: str | os.PathLike | None) -> None:
    """Delete an uploaded or recorded file from Gradio's cache: no raw audio is kept."""
    if not path:
        return
    p = Path(path)
    try:
        p.unlink(missing_ok=True)
        if p.parent.is_dir() and not any(p.parent.iterdir()):
            p.parent.rmdir()
    except OSError:  # already gone or not ours to delete: nothing is kept either way
        pass


def _friendly(exc: BaseException) -> str:
    if isinstance(exc, CompanionError):
        return str(exc)
    return f"Sorry, something went wrong on Ember's side ({type(exc).__name__}); nothing from this turn was stored."


class Talk:
    """Outputs of chat/voice, in order: chatbot, message box, strategy note, mood panel, notice, spoken reply."""

    def __init__(self, companion: Any):
        self.c = companion

    # -- typed chat --------------------------------------------------------------------------------
    def chat(self, message: str, session: Session, speak: bool) -> Iterator[tuple]:
        user = require_user(self.c, session)
        text = message if isinstance(message, str) else ""
        if not text.strip():
            yield (
                session.history,
                "",
                gr.skip(),
                gr.skip(),
                views.notice("Type a message first, or use the microphone."),
                None,
            )
            return
        yield from self._turn(user, session, speak, text=text, shown=text)

    def clear(self, session: Session) -> str:
        """The chat's bin icon clears the conversation on screen; what Ember remembers stays."""
        session.history = []
        return ""

    # -- voice message -----------------------------------------------------------------------------
    def voice(self, recording: str | None, session: Session, speak: bool) -> Iterator[tuple]:
        user = require_user(self.c, session)
        if not recording:
            return
        try:
            signal = self._read_voice(recording)
        except Exception as exc:  # any undecodable or odd file: say so in the page
            yield (session.history, gr.skip(), gr.skip(), gr.skip(), views.notice(_friendly(exc)), None, None)
            return
        finally:
            discard_upload(recording)
        for out in self._turn(user, session, speak, audio=signal, shown="🎤 …"):
            yield (*out, None)

    def _read_voice(self, path: str) -> tuple[int, Any]:
        rate, samples, seconds = self.c.read_voice(path, max_seconds=MAX_VOICE_S + 1)
        if seconds > MAX_VOICE_S:
            raise InvalidInput(
                f"That recording is longer than {MAX_VOICE_S:.0f} seconds; please send a shorter voice message."
            )
        if seconds < 0.3:
            raise InvalidInput("That recording is too short to hear anything; hold the record button while you speak.")
        return rate, samples

    # -- one turn, streamed ------------------------------------------------------------------------
    def _turn(
        self, user: str, session: Session, speak: bool, *, text: str | None = None, audio: Any = None, shown: str
    ) -> Iterator[tuple]:
        before = list(session.history)
        history = before + [{"role": "user", "content": shown}, {"role": "assistant", "content": "…"}]
        yield history, "", "", gr.skip(), views.notice(None), None
        pieces = self.c.stream(user, text, audio=audio)
        got, reply, drawn_at = "", None, 0.0
        try:
            while True:
                try:
                    piece = next(pieces)
                except StopIteration as done:  # this turn's own Reply (a tab beside it may finish first)
                    reply = done.value
                    break
                got += piece
                now = time.monotonic()
                if now - drawn_at >= REDRAW_EVERY_S or piece.rstrip().endswith(SENTENCE_END):
                    drawn_at = now
                    history[-1] = {"role": "assistant", "content": got}
                    yield history, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        except Exception as exc:  # the turn was not stored: show the page as it was, and why
            if not isinstance(exc, CompanionError):
                log.exception("turn failed for a signed-in user")
            yield before, (text or ""), gr.skip(), gr.skip(), views.notice(_friendly(exc)), None
            return
        finally:
            pieces.close()  # a stop or a dropped connection closes us: release the companion's turn
        if reply is None:
            return
        if reply.transcript is not None:
            history[-2] = {"role": "user", "content": f"🎤 {reply.transcript}"}
        history[-1] = {"role": "assistant", "content": reply.text}
        session.history = history[-MAX_SHOWN:]
        for est in reply.estimates:
            session.readings[est.modality] = views.reading(est)
        if reply.mood.known:
            session.add_point(reply.mood.at, reply.mood.valence, reply.mood.arousal, force=True)
        spoken, problem = self._speech(reply, speak)
        yield (
            history,
            gr.skip(),
            views.strategy_note(reply.strategy),
            views.mood_panel(reply.mood, session.readings),
            views.notice(problem, "info"),
            spoken,
        )

    def _speech(self, reply: Any, speak: bool) -> tuple[Any, str | None]:
        if not speak:
            return None, None
        try:
            spoken = reply.audio if reply.audio is not None else self.c.speak(reply.text, reply.mood)
        except Exception as exc:
            log.warning("speech output failed: %s", exc)
            return None, f"Speech output is unavailable ({exc}); the reply is shown as text."
        if spoken is None:
            return None, None
        rate, samples = spoken
        return (int(rate), (np.clip(np.asarray(samples, dtype=np.float32), -1, 1) * 32767).astype(np.int16)), None

    # -- webcam ------------------------------------------------------------------------------------
    def observe(self, frame: Any, session: Session) -> tuple:
        """One webcam frame -> (face indicator, mood panel, timeline). Only with face consent."""
        user = signed_in(self.c, session)
        if user is None:
            return views.face_indicator("signed_out"), gr.skip(), gr.skip()
        if self.c.settings.privacy.no_biometric_inference or not self.c.consent(user).get("face"):
            session.readings.pop("face", None)
            return views.face_indicator("off"), gr.skip(), gr.skip()
        if frame is None:
            return views.face_indicator("idle"), gr.skip(), gr.skip()
        start = time.time()
        try:
            mood = self.c.observe(user, image=frame)
        except Exception as exc:
            log.warning("face reading failed: %s", exc)
            return views.face_indicator("unavailable", detail=_friendly(exc)), gr.skip(), gr.skip()
        session.frames += 1
        face = latest_estimate(self.c, user, "face", since=start)
        if face is None:
            session.readings.pop("face", None)
            indicator = views.face_indicator("noface")
        else:
            session.readings["face"] = views.reading(face)
            indicator = views.face_indicator("estimate", session.readings["face"])
        if mood.known:
            session.add_point(mood.at, mood.valence, mood.arousal)
        plot = gr.skip()
        if start - session.last_plot_at >= PLOT_EVERY_S:
            session.last_plot_at = start
            plot = timeline(self.c, session)
        return indicator, views.mood_panel(mood, session.readings), plot


def latest_estimate(companion: Any, user: str, modality: str, since: float) -> Any:
    """The estimate of `modality` made at or after `since` (observe() returns only the fused mood)."""
    fresh = [e for e in companion.last_estimates(user) if e.modality == modality and e.at >= since]
    return fresh[-1] if fresh else None


def timeline(companion: Any, session: Session):
    now = time.time()
    past = companion.mood_history(session.user, since=now - 14 * 86400) if session.user else []
    rows = views.timeline(session.points, past)
    # None, not an empty frame: Gradio 6.31's plot keeps the encoding of the first frame it is sent,
    # and after an empty one it never draws dots again
    return None if rows.empty else rows
