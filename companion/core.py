"""`Companion`: the one object the app, the CLI and the Python API talk to."""

from __future__ import annotations

import dataclasses
import logging
import time
from time import monotonic  # stage timings; tests replace `time` (the wall clock) with a fake one
from typing import Any, Generator

from companion import crisis, fusion, retention
from companion.components import Components
from companion.config import Settings
from companion.errors import InvalidInput
from companion.generation.prompt import TurnContext
from companion.generation.reply import ReplyOutcome
from companion.memory import retrieval
from companion.memory.facts import Fact, extract_facts
from companion.memory.store import Store
from companion.profile import ProfileMethods
from companion.safety import clean_message, validate_user
from companion.types import EMOTIONS, EmotionEstimate, MoodState, Reply, circumplex_position
from companion.userstate import UserState

CONSENT_KEYS = ("face", "voice", "store_mood")
log = logging.getLogger("companion.turns")


class Companion(ProfileMethods):  # facts, history, sign-in, speech: profile.py
    def __init__(self, settings: Settings | None = None, *, store: Store | None = None, **components: Any):
        self.settings = settings or Settings()
        self.store = store or Store(self.settings.resolved_store_url())
        self.parts = Components(self.settings, **components)
        self._local = UserState(self.store)  # turn locks and caches; the store holds what matters
        self._retention = retention.start(self.store, self.settings.privacy)  # purge now, then daily

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **components: Any) -> "Companion":
        return cls(settings or Settings(), **components)

    # -- conversation ---------------------------------------------------------------------------
    def respond(self, user: str, text: str | None = None, *, audio: Any = None, image: Any = None) -> Reply:
        turn = self._turn(user, text, audio=audio, image=image)
        while True:  # the turn's own Reply, even when another call for this user finished since
            try:
                next(turn)
            except StopIteration as done:
                return done.value

    def stream(
        self, user: str, text: str | None = None, *, audio: Any = None, image: Any = None
    ) -> Generator[str, None, Reply]:
        """Yield the reply in pieces; afterwards `last_reply(user)` holds the full Reply. The generator
        also returns it (StopIteration.value): that one is this call's own, whatever runs beside it."""
        return (yield from self._turn(user, text, audio=audio, image=image))

    def _turn(self, user: str, text: str | None, *, audio: Any, image: Any) -> Generator[str, None, Reply]:
        asked = monotonic()
        user = validate_user(user)
        with self._local.serialised(user) as waited:
            marks = {"wait_s": waited}
            now = time.time()
            self._local.sync(user, self.store.ensure_user(user, now))
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
            marks["sensed_s"] = monotonic() - asked
            new_facts = extract_facts(message)
            vectors = retrieval.embed_turn(self.parts.embed, message, [f.text for f in new_facts])  # once a turn
            ctx = self._context(user, message, mood, estimates, new_facts, vectors)
            check = crisis.detect(  # the text analyzer's pass already read it
                message, classifier=self.settings.crisis_classifier, estimates=estimates
            )
            if check.is_crisis:  # a fixed, caring answer whatever the LLM would have said
                outcome = ReplyOutcome(
                    text=crisis.crisis_reply(self.settings.privacy.crisis_locale, check.category),
                    strategy=None,
                    flags=crisis.protocol_flags(check.category),
                )
                marks["first_piece_s"] = monotonic() - asked
                yield outcome.text
            else:
                outcome = yield from _stamp_first(self.parts.replies().stream(ctx), marks, asked)
                line = crisis.check_in_to_add(check, ctx.last_replies(1))  # unsure: ask, no alarm (docs/safety.md)
                if line:
                    yield " " + line
                    flagged = (*outcome.flags, "crisis_check_in")
                    outcome = dataclasses.replace(outcome, text=f"{outcome.text} {line}", flags=flagged)
            marks["reply_s"] = monotonic() - asked
            disclosure = self._disclosure(user, now)
            if disclosure:
                yield "\n\n" + disclosure
                outcome = ReplyOutcome(
                    text=f"{outcome.text}\n\n{disclosure}",
                    strategy=outcome.strategy,
                    flags=(*outcome.flags, "ai_disclosure"),
                    blocks=outcome.blocks,
                )
            flags.extend(outcome.flags)
            self._save(user, message, mood, outcome, now, consent, new_facts, vectors)
            audio_out = self.parts.speak(outcome.text, mood) if self.settings.speech.speak_replies else None
            marks["total_s"] = monotonic() - asked
            timings = {k: round(v, 4) for k, v in marks.items()}
            # One line per turn, no user id or text: enough to tell a queue from a slow model.
            log.info("turn %s", " ".join(f"{k}={v:.3f}" for k, v in timings.items()))
            reply = Reply(
                text=outcome.text,
                mood=mood,
                estimates=estimates,
                strategy=outcome.strategy,
                audio=audio_out,
                flags=tuple(dict.fromkeys(flags)),
                transcript=transcript,
                context={**outcome.blocks, "timings": timings},
            )
            self._local.last[user] = reply
            return reply

    def last_reply(self, user: str) -> Reply | None:
        """The Reply of this process's latest finished turn for `user` (for `stream` callers)."""
        return self._local.last.get(validate_user(user))

    def last_estimates(self, user: str) -> tuple[EmotionEstimate, ...]:
        """The per-modality estimates behind the user's current mood (e.g. the latest face reading)."""
        return self._local.last_estimates.get(validate_user(user), ())

    def observe(self, user: str, *, image: Any = None, audio: Any = None) -> MoodState:
        """Update the mood from a signal without replying (e.g. webcam frames)."""
        user = validate_user(user)
        # Webcam frames come to the instance that serves the user's page: the in-process lock orders
        # them, and skipping the database lock keeps one connection per frame out of the pool.
        with self._local.serialised(user, across_instances=False):
            now = time.time()
            # Webcam rate: read the row's epoch (one indexed select), write the row only when it is missing.
            epoch = self.store.get_user_field(user, "created_at")
            self._local.sync(user, epoch if epoch is not None else self.store.ensure_user(user, now))
            consent = self.consent(user)
            estimates = self._sense(user, consent, [], image=image, audio=audio, now=now)
            mood = self._fuse(user, estimates, time.time(), consent)  # after sensing: estimates are stamped when made
            return mood

    def mood(self, user: str) -> MoodState:
        user = validate_user(user)
        self._local.sync(user, self.store.get_user_field(user, "created_at"))
        return self._local.latest_mood(user) or MoodState.unknown()

    def feedback(self, user: str, label: str) -> MoodState:
        """The user's own word on how they feel: calibrates their modality weights and baselines."""
        user = validate_user(user)
        if label not in EMOTIONS:
            raise InvalidInput(f"unknown feeling {label!r}; choose one of {', '.join(EMOTIONS)}")
        with self._local.serialised(user):
            self._local.sync(user, self.store.ensure_user(user))
            consent = self.consent(user)
            calibration = fusion.Calibration.from_dict(self._personal(user, "calibration"))
            estimates = self._local.last_estimates.get(user, ())
            calibration = fusion.learn(calibration, estimates, label, self.settings.fusion)
            self._keep_personal(user, "calibration", calibration.to_dict(), consent)
            probs = {k: (0.94 if k == label else 0.01) for k in EMOTIONS}
            valence, arousal = circumplex_position(probs)
            mood = MoodState(
                probs=probs, valence=valence, arousal=arousal, confidence=0.94, contributions={}, at=time.time()
            )
            self._local.moods[user] = mood
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
        with self._local.serialised(user):
            counts = self.store.forget(user)
            self._local.forget(user)
            self.store.compact()
            return counts

    def close(self) -> None:
        if self._retention is not None:
            self._retention.stop()
        self.store.close()

    # -- internals ----------------------------------------------------------------------------------
    def _sense(
        self,
        user: str,
        consent: dict[str, bool],
        flags: list[str],
        *,
        text: str | None = None,
        audio: Any = None,
        image: Any = None,
        now: float,
    ) -> tuple[EmotionEstimate, ...]:
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
        return self._local.unsaved.get((user, key)) or self.store.get_user_json(user, key)

    def _keep_personal(self, user: str, key: str, value: dict, consent: dict[str, bool]) -> None:
        if consent.get("store_mood"):
            self.store.set_user_json(user, key, value)
            self._local.unsaved.pop((user, key), None)
        else:  # not allowed to store mood data: keep it in memory only, for this session
            self._local.unsaved[(user, key)] = value

    def _voice(self, user: str, audio: Any, consent: dict[str, bool]) -> list[EmotionEstimate]:
        baseline = self._personal(user, "voice_baseline") or None
        found = self.parts.analyze("voice", audio, baseline=baseline)
        for est in found:
            features = est.details.get("features")
            if features:
                self._keep_personal(
                    user, "voice_baseline", self.parts.update_voice_baseline(baseline, features), consent
                )
        return found

    def _fuse(
        self, user: str, estimates: tuple[EmotionEstimate, ...], now: float, consent: dict[str, bool]
    ) -> MoodState:
        calibration = fusion.Calibration.from_dict(self._personal(user, "calibration"))
        previous = self._local.latest_mood(user)
        mood = (
            fusion.fuse(estimates, previous=previous, now=now, calibration=calibration, settings=self.settings.fusion)
            if estimates or previous
            else MoodState.unknown(now)
        )
        if estimates:
            updated = fusion.observe(calibration, estimates, settings=self.settings.fusion)
            if updated != calibration:  # baselines move at most every few seconds; skip no-op writes
                self._keep_personal(user, "calibration", updated.to_dict(), consent)
            self._local.last_estimates[user] = estimates
        self._local.moods[user] = mood
        return mood

    def _context(
        self,
        user: str,
        message: str,
        mood: MoodState,
        estimates: tuple[EmotionEstimate, ...],
        new_facts: list[Fact],
        vectors: retrieval.TurnVectors,
    ) -> TurnContext:
        stated = {(f.kind, f.key) for f in new_facts if f.kind not in ("likes", "dislikes")}
        facts = [f for f in self.store.facts(user) if (f["kind"], f["key"]) not in stated]
        facts += [{"kind": f.kind, "key": f.key, "value": f.value, "text": f.text} for f in new_facts]
        found = self.store.recall(
            user,
            vectors.query,
            self.settings.retrieved_memories,
            text=message,
            exclude_recent=self.settings.history_turns // 2,
            min_score=self.settings.memory_min_score,
        )
        memories = retrieval.dated(found, time.time())  # with dates, and today's: "when did I…?" needs both
        history = tuple(
            {"role": t["role"], "content": t["text"]}
            for t in self.store.recent_turns(user, self.settings.history_turns)
        )
        name = next((f["value"] for f in facts if f["kind"] == "name"), None)
        return TurnContext(
            user=user,
            text=message,
            mood=mood,
            estimates=estimates,
            facts=tuple(f["text"] for f in facts),
            memories=tuple(memories),
            history=history,
            trend=self._trend(user),
            name=name,
        )

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
            return (
                "(I'm an AI companion, not a person. I read feelings from your words, and from your voice or face "
                "only if you allow it.)"
            )
        return "(A reminder: I'm an AI, not a person. Taking a break is a good idea too.)"

    def _save(
        self,
        user: str,
        message: str,
        mood: MoodState,
        outcome: ReplyOutcome,
        now: float,
        consent: dict[str, bool],
        facts: list[Fact],
        vectors: retrieval.TurnVectors,
    ) -> None:
        meta = {"strategy": outcome.strategy.to_dict() if outcome.strategy else None, "flags": list(outcome.flags)}
        self.store.save_exchange(
            user,
            user_text=message,
            reply_text=outcome.text,
            at=now,
            mood=mood,
            meta=meta,
            embedding=vectors.query,
            facts=list(zip(facts, vectors.facts)),
            memories=vectors.memories,
            store_mood=bool(consent.get("store_mood")),
        )


def _stamp_first(pieces: Generator[str, None, Any], marks: dict[str, float], since: float) -> Generator[str, None, Any]:
    """Pass the reply's pieces through, noting when the first one came; returns what `pieces` returns."""
    try:
        piece = next(pieces)
    except StopIteration as done:
        return done.value
    marks["first_piece_s"] = monotonic() - since
    try:
        yield piece
    except GeneratorExit:  # the reader left after the first piece: free the model's slot now
        pieces.close()
        raise
    return (yield from pieces)
