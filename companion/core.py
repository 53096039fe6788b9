"""`Companion`: the one object the app, the CLI and the Python API talk to."""
from __future__ import annotations

import dataclasses
import threading
import time
from collections import defaultdict
from typing import Any, Iterator

from companion import crisis, fusion, retention
from companion.config import Settings
from companion.errors import InvalidInput
from companion.memory.facts import Fact, extract_facts
from companion.memory.store import Store
from companion.components import Components
from companion.generation.reply import ReplyOutcome, TurnContext
from companion.safety import clean_message, validate_user
from companion.types import EMOTIONS, EmotionEstimate, MoodState, Reply, circumplex_position

CONSENT_KEYS = ("face", "voice", "store_mood")


class Companion:
    def __init__(self, settings: Settings | None = None, *, store: Store | None = None, **components: Any):
        self.settings = settings or Settings()
        self.store = store or Store(self.settings.resolved_store_url())
        self.parts = Components(self.settings, **components)
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._moods: dict[str, MoodState] = {}
        self._last: dict[str, Reply] = {}
        self._last_estimates: dict[str, tuple[EmotionEstimate, ...]] = {}
        # Calibration and voice baselines of users who did not allow storing mood data live here,
        # for this process only (they describe the person's face and voice, so they follow that consent).
        self._unsaved: dict[tuple[str, str], dict] = {}
        self._retention = retention.start(self.store, self.settings.privacy)  # purge now, then daily

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **components: Any) -> "Companion":
        return cls(settings or Settings(), **components)

    # -- conversation ---------------------------------------------------------------------------
    def respond(self, user: str, text: str | None = None, *, audio: Any = None, image: Any = None) -> Reply:
        for _ in self.stream(user, text, audio=audio, image=image):
            pass
        return self._last[user]

    def stream(self, user: str, text: str | None = None, *, audio: Any = None, image: Any = None) -> Iterator[str]:
        """Yield the reply in pieces; afterwards `last_reply(user)` holds the full Reply."""
        user = validate_user(user)
        with self._locks[user]:
            now = time.time()
            self.store.ensure_user(user, now)
            consent = self.consent(user)
            flags: list[str] = []
            transcript = None
            if text is not None and not isinstance(text, str):  # before ASR: `text.strip()` needs a str
                raise InvalidInput(f"message must be text, got {type(text).__name__}")
            if audio is not None:
                transcript = self.parts.transcribe(audio)
                if not (text and text.strip()):
                    if not transcript:
                        raise InvalidInput("no speech was heard in the audio; speak a little louder or type instead")
                    text = transcript
            message = clean_message(text, self.settings.privacy.max_message_chars)
            estimates = self._sense(user, consent, flags, text=message, audio=audio, image=image, now=now)
            mood = self._fuse(user, estimates, time.time(), consent)  # after sensing: estimates are stamped when made
            new_facts = extract_facts(message)
            ctx = self._context(user, message, mood, estimates, new_facts)
            if audio is not None:
                ctx = dataclasses.replace(ctx, latency_budget_s=self.settings.speech.reply_budget_s)
            check = crisis.detect(message)
            if check.is_crisis:  # a fixed, caring answer whatever the LLM would have said
                outcome = ReplyOutcome(text=crisis.crisis_reply(self.settings.privacy.crisis_locale, check.category),
                                       strategy=None, flags=("crisis", f"crisis_{check.category or 'unspecified'}"))
                yield outcome.text
            else:
                outcome = yield from self.parts.replies().stream(ctx)
            disclosure = self._disclosure(user, now)
            if disclosure:
                yield "\n\n" + disclosure
                outcome = ReplyOutcome(text=f"{outcome.text}\n\n{disclosure}", strategy=outcome.strategy,
                                       flags=(*outcome.flags, "ai_disclosure"), blocks=outcome.blocks)
            flags.extend(outcome.flags)
            self._save(user, message, mood, outcome, now, consent, new_facts)
            audio_out = self.parts.speak(outcome.text, mood) if self.settings.speech.speak_replies else None
            self._last[user] = Reply(text=outcome.text, mood=mood, estimates=estimates, strategy=outcome.strategy,
                                     audio=audio_out, flags=tuple(dict.fromkeys(flags)), transcript=transcript,
                                     context=outcome.blocks)

    def last_reply(self, user: str) -> Reply | None:
        return self._last.get(validate_user(user))

    def last_estimates(self, user: str) -> tuple[EmotionEstimate, ...]:
        """The per-modality estimates behind the user's current mood (e.g. the latest face reading)."""
        return self._last_estimates.get(validate_user(user), ())

    def observe(self, user: str, *, image: Any = None, audio: Any = None) -> MoodState:
        """Update the mood from a signal without replying (e.g. webcam frames)."""
        user = validate_user(user)
        with self._locks[user]:
            now = time.time()
            if user not in self._moods:  # webcam rate: touch the users row once, not per frame
                self.store.ensure_user(user, now)
            consent = self.consent(user)
            estimates = self._sense(user, consent, [], image=image, audio=audio, now=now)
            mood = self._fuse(user, estimates, time.time(), consent)  # after sensing: estimates are stamped when made
            return mood

    def mood(self, user: str) -> MoodState:
        user = validate_user(user)
        return self._moods.get(user) or self.store.last_mood(user) or MoodState.unknown()

    def feedback(self, user: str, label: str) -> MoodState:
        """The user's own word on how they feel: calibrates their modality weights and baselines."""
        user = validate_user(user)
        if label not in EMOTIONS:
            raise InvalidInput(f"unknown feeling {label!r}; choose one of {', '.join(EMOTIONS)}")
        with self._locks[user]:
            self.store.ensure_user(user)
            consent = self.consent(user)
            calibration = fusion.Calibration.from_dict(self._personal(user, "calibration"))
            estimates = self._last_estimates.get(user, ())
            calibration = fusion.learn(calibration, estimates, label, self.settings.fusion)
            self._keep_personal(user, "calibration", calibration.to_dict(), consent)
            probs = {k: (0.94 if k == label else 0.01) for k in EMOTIONS}
            valence, arousal = circumplex_position(probs)
            mood = MoodState(probs=probs, valence=valence, arousal=arousal, confidence=0.94,
                             contributions={}, at=time.time())
            self._moods[user] = mood
            if consent.get("store_mood"):
                self.store.add_mood(user, mood, "feedback")
            return mood

    # -- privacy ----------------------------------------------------------------------------------
    def consent(self, user: str, **changes: bool | None) -> dict[str, bool]:
        """Read, or change, what this user allows: face, voice (emotion inference) and store_mood."""
        user = validate_user(user)
        unknown = set(changes) - set(CONSENT_KEYS)
        if unknown:
            raise InvalidInput(f"unknown consent keys {sorted(unknown)}; valid keys are {CONSENT_KEYS}")
        current = {k: False for k in CONSENT_KEYS}
        if self.store.user_exists(user):
            current.update(self.store.get_user_json(user, "consent"))
        updates = {k: bool(v) for k, v in changes.items() if v is not None}
        if updates:
            self.store.ensure_user(user)
            current.update(updates)
            self.store.set_user_json(user, "consent", current)
        return current

    def export(self, user: str) -> dict[str, Any]:
        return self.store.export(validate_user(user))

    def forget(self, user: str) -> dict[str, int]:
        user = validate_user(user)
        with self._locks[user]:
            counts = self.store.forget(user)
            self.store.compact()
            for cache in (self._moods, self._last, self._last_estimates):
                cache.pop(user, None)
            for key in [k for k in self._unsaved if k[0] == user]:
                del self._unsaved[key]
            return counts

    def close(self) -> None:
        if self._retention is not None:
            self._retention.stop()
        self.store.close()

    # -- internals ----------------------------------------------------------------------------------
    def _sense(self, user: str, consent: dict[str, bool], flags: list[str], *, text: str | None = None,
               audio: Any = None, image: Any = None, now: float) -> tuple[EmotionEstimate, ...]:
        blocked = self.settings.privacy.no_biometric_inference
        estimates: list[EmotionEstimate] = []
        if text is not None:
            estimates += self.parts.analyze("text", text)
        for modality, signal in (("voice", audio), ("face", image)):
            if signal is None:
                continue
            if blocked:
                flags.append(f"{modality}_ignored_by_policy")
            elif not consent.get(modality):
                flags.append(f"{modality}_ignored_no_consent")
            elif modality == "voice":
                estimates += self._voice(user, signal, consent)
            else:
                estimates += self.parts.analyze("face", signal)
        return tuple(estimates)

    def _personal(self, user: str, key: str) -> dict:
        """A per-user model (calibration, voice baseline): stored if allowed, else this process's copy."""
        return self._unsaved.get((user, key)) or self.store.get_user_json(user, key)

    def _keep_personal(self, user: str, key: str, value: dict, consent: dict[str, bool]) -> None:
        if consent.get("store_mood"):
            self.store.set_user_json(user, key, value)
            self._unsaved.pop((user, key), None)
        else:  # not allowed to store mood data: keep it in memory only, for this session
            self._unsaved[(user, key)] = value

    def _voice(self, user: str, audio: Any, consent: dict[str, bool]) -> list[EmotionEstimate]:
        baseline = self._personal(user, "voice_baseline") or None
        found = self.parts.analyze("voice", audio, baseline=baseline)
        for est in found:
            features = est.details.get("features")
            if features:
                self._keep_personal(user, "voice_baseline", self.parts.update_voice_baseline(baseline, features),
                                    consent)
        return found

    def _fuse(self, user: str, estimates: tuple[EmotionEstimate, ...], now: float,
              consent: dict[str, bool]) -> MoodState:
        calibration = fusion.Calibration.from_dict(self._personal(user, "calibration"))
        previous = self._moods.get(user) or self.store.last_mood(user)
        mood = fusion.fuse(estimates, previous=previous, now=now, calibration=calibration,
                           settings=self.settings.fusion) if estimates or previous else MoodState.unknown(now)
        if estimates:
            updated = fusion.observe(calibration, estimates, settings=self.settings.fusion)
            if updated != calibration:  # baselines move at most every few seconds; skip no-op writes
                self._keep_personal(user, "calibration", updated.to_dict(), consent)
            self._last_estimates[user] = estimates
        self._moods[user] = mood
        return mood

    def _context(self, user: str, message: str, mood: MoodState, estimates: tuple[EmotionEstimate, ...],
                 new_facts: list[Fact]) -> TurnContext:
        stated = {(f.kind, f.key) for f in new_facts if f.kind not in ("likes", "dislikes")}
        facts = [f for f in self.store.facts(user) if (f["kind"], f["key"]) not in stated]
        facts += [{"kind": f.kind, "key": f.key, "value": f.value, "text": f.text} for f in new_facts]
        query = self.parts.embed([message])[0]
        memories = [m["text"] for m in self.store.search(user, query, self.settings.retrieved_memories,
                                                           exclude_recent=self.settings.history_turns // 2)
                    if m["kind"] == "turn" and m["score"] > 0.35]
        history = tuple({"role": t["role"], "content": t["text"]}
                        for t in self.store.recent_turns(user, self.settings.history_turns))
        name = next((f["value"] for f in facts if f["kind"] == "name"), None)
        return TurnContext(user=user, text=message, mood=mood, estimates=estimates,
                           facts=tuple(f["text"] for f in facts), memories=tuple(memories), history=history,
                           trend=self._trend(user), name=name)

    def _trend(self, user: str):
        now = time.time()
        days = self.settings.fusion.trend_days
        found = fusion.trend(self.store.moods(user, since=now - days * 86400), settings=self.settings.fusion)
        if found is not None and found.needs_checkin:  # ask about a low week once a day, not every turn
            asked = self.store.last_flagged_at(user, "checkin_trend")
            if asked is not None and now - asked < 86400:
                found = dataclasses.replace(found, needs_checkin=False)
        return found

    def _disclosure(self, user: str, now: float) -> str | None:
        """Say it is an AI at first contact and again after each interval of continuous use."""
        last = self.store.get_user_field(user, "disclosed_at")
        interval = self.settings.privacy.disclosure_interval_h * 3600
        if last is not None and now - last < interval:
            return None
        self.store.set_user_field(user, "disclosed_at", now)
        if last is None:
            return "(I'm an AI companion, not a person. I read feelings from your words, and from your voice or face only if you allow it.)"
        return "(A reminder: I'm an AI, not a person. Taking a break is a good idea too.)"

    def _save(self, user: str, message: str, mood: MoodState, outcome: ReplyOutcome, now: float,
              consent: dict[str, bool], facts: list[Fact]) -> None:
        vectors = self.parts.embed([message] + [f.text for f in facts])
        meta = {"strategy": outcome.strategy.to_dict() if outcome.strategy else None, "flags": list(outcome.flags)}
        self.store.save_exchange(user, user_text=message, reply_text=outcome.text, at=now, mood=mood, meta=meta,
                                 embedding=vectors[0], facts=list(zip(facts, vectors[1:])),
                                 store_mood=bool(consent.get("store_mood")))
