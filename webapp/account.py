"""Account handlers: sign-in, consent, the memory panel, export and forget-me.

Handlers return dicts keyed by UI names (see layout.py); a missing key leaves that part as is.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import gradio as gr

from companion.accounts import Throttle
from companion.errors import CompanionError, InvalidInput
from webapp import views
from webapp.session import Session, require_user
from webapp.talk import timeline

log = logging.getLogger("webapp")
EXPORT_TTL_S = 3600  # an export file is deleted after this long (or at forget-me), whoever made it
HISTORY_SHOWN = 20  # past messages shown after sign-in


class Account:
    def __init__(self, companion: Any, export_dir: str | None = None):
        self.c = companion
        self.throttle = Throttle()
        # layout.py points this into Gradio's cache, which then serves the file without copying it
        self.export_dir = Path(export_dir or tempfile.mkdtemp(prefix="companion-exports-"))

    # -- sign in / out ------------------------------------------------------------------------------
    def sign_in(self, user: str, passphrase: str, session: Session) -> dict[str, Any]:
        try:
            account = self.c.sign_in(user, passphrase, self.throttle)
        except CompanionError as exc:  # SignInError, or a store that cannot be opened: say which
            return {"signin_msg": views.notice(str(exc)), "passphrase": ""}
        session = Session(user=account.user, token=account.token)
        session.history = [
            {"role": t["role"], "content": t["text"]} for t in self.c.history(account.user, HISTORY_SHOWN)
        ]
        consent = self.c.consent(account.user)
        hello = (
            f"Welcome, {account.user}. Your private space is ready. First, choose what Ember may "
            "read (on the right); everything starts off."
            if account.created
            else f"Welcome back, {account.user}."
        )
        return {
            "session": session,
            "signin_box": gr.update(visible=False),
            "main_box": gr.update(visible=True),
            "signin_msg": "",
            "passphrase": "",
            "whoami": f"Signed in as **{account.user}**. {hello}",
            "tabs": gr.update(selected="privacy-tab" if account.created else "mood-tab"),
            **self._consent_boxes(consent),
            "chatbot": session.history,
            "strategy": "",
            "mood": views.mood_panel(self.c.mood(account.user)),
            "face": self._face_state(consent),
            **self.memory(session),
            "notice": "",
        }

    def sign_out(self, session: Session) -> dict[str, Any]:
        return {
            "session": Session(),
            "signin_box": gr.update(visible=True),
            "main_box": gr.update(visible=False),
            "signin_msg": views.notice("You are signed out.", "info"),
            "chatbot": [],
            "whoami": "",
            "export_file": gr.update(value=None, visible=False),
            "confirm_box": gr.update(visible=False),
        }

    # -- consent ------------------------------------------------------------------------------------
    def _consent_boxes(self, consent: dict[str, bool]) -> dict[str, Any]:
        blocked = self.c.settings.privacy.no_biometric_inference
        return {
            "consent_face": gr.update(value=consent["face"] and not blocked, interactive=not blocked),
            "consent_voice": gr.update(value=consent["voice"] and not blocked, interactive=not blocked),
            "consent_store": gr.update(value=consent["store_mood"]),
        }

    def _face_state(self, consent: dict[str, bool]) -> str:
        on = consent.get("face") and not self.c.settings.privacy.no_biometric_inference
        return views.face_indicator("idle" if on else "off")

    def set_consent(self, face: bool, voice: bool, store_mood: bool, session: Session) -> dict[str, Any]:
        user = require_user(self.c, session)
        consent = self.c.consent(user, face=bool(face), voice=bool(voice), store_mood=bool(store_mood))
        if not consent["face"]:
            session.readings.pop("face", None)
        if not consent["voice"]:
            session.readings.pop("voice", None)
        words = {True: "on", False: "off"}
        saved = (
            f"Saved. Face reading {words[consent['face']]}, voice reading {words[consent['voice']]}, "
            f"mood history {words[consent['store_mood']]}."
        )
        return {"consent_msg": views.notice(saved, "info"), "face": self._face_state(consent)}

    # -- memory -------------------------------------------------------------------------------------
    def memory(self, session: Session) -> dict[str, Any]:
        user = require_user(self.c, session)
        facts = self.c.facts(user)
        return {
            "facts": views.facts_list(facts),
            "fact_pick": gr.update(choices=views.fact_choices(facts), value=None),
            "fact_text": "",
            "plot": timeline(self.c, session),
        }

    def _fact(self, user: str, fact_id: Any) -> dict[str, Any] | None:
        try:
            wanted = int(fact_id)
        except (TypeError, ValueError):
            return None
        return next((f for f in self.c.facts(user) if f["id"] == wanted), None)

    def pick_fact(self, fact_id: Any, session: Session) -> dict[str, Any]:
        user = require_user(self.c, session)
        fact = self._fact(user, fact_id)
        return {"fact_text": fact["text"] if fact else ""}

    def save_fact(self, fact_id: Any, text: str, session: Session) -> dict[str, Any]:
        user = require_user(self.c, session)
        fact = self._fact(user, fact_id)
        if fact is None:
            return {"memory_msg": views.notice("Choose an item from the list first.")}
        try:
            self.c.edit_fact(user, fact["id"], text)
        except InvalidInput as exc:  # empty or too long
            return {"memory_msg": views.notice(f"Not saved: {exc}")}
        return {**self.memory(session), "memory_msg": views.notice("Saved your change.", "info")}

    def delete_fact(self, fact_id: Any, session: Session) -> dict[str, Any]:
        user = require_user(self.c, session)
        fact = self._fact(user, fact_id)
        if fact is None:
            return {"memory_msg": views.notice("Choose an item from the list first.")}
        self.c.delete_fact(user, fact["id"])
        return {**self.memory(session), "memory_msg": views.notice(f"Forgot: {fact['text']}", "info")}

    # -- export and forget ---------------------------------------------------------------------------
    def _user_dir(self, user: str) -> Path:
        return self.export_dir / re.sub(r"[^A-Za-z0-9_.@-]", "_", user)

    def export(self, session: Session) -> dict[str, Any]:
        user = require_user(self.c, session)
        data = self.c.export(user)
        self._expire_exports()
        folder = self._user_dir(user)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"companion-{user}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        return {
            "export_file": gr.update(value=str(path), visible=True),
            "memory_msg": views.notice("Your data is ready to download below.", "info"),
        }

    def _delete_exports(self, user: str) -> None:
        for old in self._user_dir(user).glob("*.json"):
            old.unlink(missing_ok=True)

    def _expire_exports(self) -> None:
        cutoff = time.time() - EXPORT_TTL_S
        for old in self.export_dir.glob("*/*.json"):
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except OSError:  # another export removed it first
                pass

    def ask_forget(self) -> dict[str, Any]:
        return {"confirm_box": gr.update(visible=True)}

    def cancel_forget(self) -> dict[str, Any]:
        return {"confirm_box": gr.update(visible=False), "memory_msg": views.notice("Nothing was deleted.", "info")}

    def forget(self, session: Session) -> dict[str, Any]:
        user = require_user(self.c, session)
        counts = self.c.forget(user)
        self._delete_exports(user)
        log.info("forgot a user: %s rows", sum(counts.values()))
        out = self.sign_out(session)
        out["signin_msg"] = views.notice(
            "Everything Ember stored about you was deleted: conversations, facts, "
            "mood history, settings and your passphrase.",
            "info",
        )
        out.update({"facts": views.facts_list([]), "fact_pick": gr.update(choices=[], value=None)})
        return out
