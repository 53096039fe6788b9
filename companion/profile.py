"""`Companion`'s methods beyond the turn: what a user may see and change of their own data (facts,
conversation, mood history), the web sign-in, and the parts an app drives directly (speech, preload).

Apps (the web app, the CLI, an embedder's code) use these and never reach into `Companion.store`
or `Companion.parts`: the store's layout and the components may change, these methods stay.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from companion import accounts, registry
from companion.errors import CompanionError, InvalidInput
from companion.safety import clean_message, validate_user
from companion.types import MoodState

if TYPE_CHECKING:
    from companion.components import Components
    from companion.memory.store import Store

MAX_FACT_CHARS = 200  # an edited fact: one sentence, as the extractor writes them


class ProfileMethods:
    """Mixed into `Companion` (core.py), which sets `store` and `parts`."""

    store: "Store"
    parts: "Components"

    # -- the user's own data ----------------------------------------------------------------------
    def facts(self, user: str) -> list[dict[str, Any]]:
        """The facts remembered about `user`, oldest first: dicts with id, kind, key, value, text, at."""
        return self.store.facts(validate_user(user))

    def edit_fact(self, user: str, fact_id: int, text: str) -> bool:
        """Replace the wording of one of `user`'s facts (and the vector it is recalled by). Raises
        InvalidInput for empty or over-long text; False when `user` has no fact `fact_id`."""
        user, fact_id = validate_user(user), _fact_id(fact_id)
        text = clean_message(text, MAX_FACT_CHARS)
        vector = self.parts.embed([text])[0]
        return self.store.update_fact(user, fact_id, text, vector)

    def delete_fact(self, user: str, fact_id: int) -> bool:
        """Forget one of `user`'s facts; False when `user` has no fact `fact_id`."""
        return self.store.delete_fact(validate_user(user), _fact_id(fact_id))

    def history(self, user: str, n: int) -> list[dict[str, Any]]:
        """The last `n` messages of `user`'s conversation, oldest first: dicts with role ("user" or
        "assistant"), text, at (epoch seconds) and id."""
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise InvalidInput(f"the number of messages must be a whole number of at least 0, got {n!r}")
        return self.store.recent_turns(validate_user(user), int(n))

    def mood_history(self, user: str, since: float | None = None) -> list[MoodState]:
        """`user`'s stored moods (kept only with the store_mood consent), oldest first; only those
        at or after `since` (epoch seconds) when given."""
        return self.store.moods(validate_user(user), since=since)

    # -- web sign-in --------------------------------------------------------------------------------
    def sign_in(self, user: object, passphrase: object, throttle: accounts.Throttle | None = None) -> accounts.Account:
        """Sign in with a name and a passphrase: the first sign-in creates the account, later ones
        must give the same passphrase. `throttle` limits wrong guesses per name (the web app keeps
        one). Raises accounts.SignInError (an InvalidInput) with a message to show the user."""
        return accounts.sign_in(self.store, user, passphrase, throttle)

    def session_valid(self, user: str, token: str) -> bool:
        """Whether a session signed in as `user` with `token` (Account.token) still holds: the
        account exists and its passphrase is unchanged (not forgotten, not re-created)."""
        return accounts.session_valid(self.store, user, token)

    # -- parts an app drives directly ---------------------------------------------------------------
    def read_voice(self, path: str, max_seconds: float) -> tuple[int, Any, float]:
        """(sample rate, samples, seconds) of a voice message file at the analyzers' rate, at most
        `max_seconds` long. Raises InvalidInput when the file is not a sound recording."""
        try:
            samples = registry.function("load_audio")(path, max_seconds=max_seconds)
        except CompanionError:  # AudioError: undecodable, empty, odd format
            raise InvalidInput(
                f"Ember could not read \u201c{Path(path).name}\u201d as a sound recording. "
                "Please send a WAV, FLAC, OGG or MP3 file, or record with the microphone."
            ) from None
        rate = registry.function("audio_rate")()
        return rate, samples, len(samples) / rate

    def speak(self, text: str, mood: MoodState | None = None) -> tuple[int, Any] | None:
        """`text` as speech in a voice that suits `mood`: (sample rate, samples), or None when the
        synthesizer gives nothing. Loads the speech model on first use."""
        return self.parts.speak(text, mood)

    def preload(self) -> dict[str, str]:
        """Load the models a first reply needs (embedder, analyzers, reply generator, speech
        recogniser) so turn 1 is not slow. Best effort, each on its own: returns {part: problem}
        for those that failed; each is left to fail with its own message when used."""
        parts = self.parts
        steps: dict[str, Callable[[], Any]] = {
            "embedder": lambda: parts.embed(["hello"]),
            "text analyzer": lambda: parts.analyzer("text"),
            "reply generator": parts.replies,
            "face analyzer": lambda: parts.analyzer("face"),
            "voice analyzer": lambda: parts.analyzer("voice"),
            "speech recogniser": lambda: parts.transcribe((16000, [0.0] * 1600)),
        }
        problems = {}
        for name, step in steps.items():
            try:
                step()
            except Exception as exc:  # preloading is best effort; the turn that needs it reports the problem
                problems[name] = str(exc)
        return problems


def _fact_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInput(f"a fact id is a whole number (the `id` of an item of facts(user)), got {value!r}")
    return int(value)
