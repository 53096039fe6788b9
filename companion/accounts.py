"""Sign-in for the web app: a user name and a passphrase, stored only as a salted scrypt hash.

The first sign-in with a new name creates the account; later sign-ins must give the same
passphrase. A name that already holds memories made without a passphrase (by the CLI or the
Python API) cannot be claimed from the web: its owner sets a passphrase first with
`python -m companion.accounts set-passphrase NAME`.

Command line: python -m companion.accounts set-passphrase NAME
"""

from __future__ import annotations

import argparse
import getpass
import sys
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from companion.auth import MIN_LENGTH, hash_passphrase, verify_passphrase
from companion.errors import CompanionError, InvalidInput
from companion.memory.store import Store
from companion.safety import validate_user

MAX_LENGTH = 256
HASH_FIELD = "passphrase_hash"


class SignInError(InvalidInput):
    """Wrong passphrase, a passphrase too short, a name that cannot be used, too many tries."""


@dataclass(frozen=True)
class Account:
    user: str
    created: bool  # True when this sign-in made the account
    token: str  # the stored hash: a session stays valid only while it is unchanged


class Throttle:
    """At most `attempts` failed sign-ins per name in `window_s`; guesses then wait."""

    def __init__(self, attempts: int = 5, window_s: float = 300.0):
        self.attempts, self.window_s = attempts, window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, user: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            recent = self._failures[user]
            while recent and now - recent[0] > self.window_s:
                recent.popleft()
            if len(recent) >= self.attempts:
                wait = int(self.window_s - (now - recent[0])) + 1
                raise SignInError(f"too many wrong passphrases for {user!r}; wait {wait} s and try again")

    def failed(self, user: str, now: float | None = None) -> None:
        with self._lock:
            self._failures[user].append(time.time() if now is None else now)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(user, None)


def _check_passphrase(passphrase: object) -> str:
    if not isinstance(passphrase, str) or len(passphrase) < MIN_LENGTH:
        raise SignInError(f"the passphrase must be at least {MIN_LENGTH} characters; a short sentence works well")
    if len(passphrase) > MAX_LENGTH:
        raise SignInError(f"the passphrase is longer than {MAX_LENGTH} characters; choose a shorter one")
    return passphrase


def _has_memories(store: Store, user: str) -> bool:
    return bool(store.count_turns(user) or store.facts(user) or store.last_mood(user))


def sign_in(store: Store, user: object, passphrase: object, throttle: Throttle | None = None) -> Account:
    """Create the account on first use, verify the passphrase afterwards. Raises SignInError."""
    try:
        name = validate_user(user.strip() if isinstance(user, str) else user)
    except InvalidInput as exc:
        raise SignInError(str(exc)) from None
    secret = _check_passphrase(passphrase)
    if throttle is not None:
        throttle.check(name)
    stored = store.get_user_field(name, HASH_FIELD) if store.user_exists(name) else None
    if stored is None:
        if store.user_exists(name) and _has_memories(store, name):
            raise SignInError(
                f"the name {name!r} already holds memories made without a passphrase (command line "
                f"or Python API); its owner can run `python -m companion.accounts set-passphrase "
                f"{name}` first, or choose another name"
            )
        store.ensure_user(name)
        hashed = hash_passphrase(secret)
        if store.set_user_field_once(name, HASH_FIELD, hashed):  # two first sign-ins: one wins
            return Account(name, True, hashed)
        stored = store.get_user_field(name, HASH_FIELD)  # someone else claimed it a moment ago
    if not verify_passphrase(secret, stored or ""):
        if throttle is not None:
            throttle.failed(name)
        raise SignInError(
            f"wrong passphrase for {name!r}; try again (names are case-sensitive), "
            "or choose another name to start a new space"
        )
    if throttle is not None:
        throttle.succeeded(name)
    return Account(name, False, stored)


def session_valid(store: Store, user: str, token: str) -> bool:
    """The account still exists with the hash the session signed in with (not forgotten, not re-created)."""
    return bool(token) and store.user_exists(user) and store.get_user_field(user, HASH_FIELD) == token


def set_passphrase(store: Store, user: str, passphrase: str) -> Account:
    """Set or replace a passphrase (for its owner, outside the web app)."""
    name = validate_user(user)
    hashed = hash_passphrase(_check_passphrase(passphrase))
    store.ensure_user(name)
    store.set_user_field(name, HASH_FIELD, hashed)
    return Account(name, False, hashed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion.accounts")
    sub = parser.add_subparsers(dest="command", required=True)
    setp = sub.add_parser("set-passphrase", help="set the web sign-in passphrase of an existing or new user")
    setp.add_argument("user")
    args = parser.parse_args(argv)
    from companion.config import Settings

    try:
        store = Store(Settings().resolved_store_url())
    except CompanionError as exc:  # StoreUnavailable: locked, read-only, unreachable
        print(exc, file=sys.stderr)
        return 1
    try:
        first = getpass.getpass(f"new passphrase for {args.user} (at least {MIN_LENGTH} characters): ")
        if getpass.getpass("again: ") != first:
            print("the two passphrases differ; nothing was changed", file=sys.stderr)
            return 1
        set_passphrase(store, args.user, first)
    except CompanionError as exc:  # a bad name or passphrase, or the store failing mid-way
        print(exc, file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"passphrase set for {args.user}; sign in to the web app with it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
