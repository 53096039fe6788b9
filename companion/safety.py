"""Input limits and user-id rules (crisis detection lives in companion/crisis.py)."""

from __future__ import annotations

import unicodedata

from companion import rules
from companion.errors import InvalidInput

USER_ID = rules.regex("safety", "user_id")  # prompts/rules/safety.json


def validate_user(user: object) -> str:
    """User ids are 1-64 characters of letters, digits, '_', '.', '@', '-' (no path characters)."""
    if not isinstance(user, str):
        raise InvalidInput(f"user id must be a string, got {type(user).__name__}")
    if len(user) > 64 or not USER_ID.match(user) or ".." in user:
        shown = user[:40] + ("…" if len(user) > 40 else "")
        raise InvalidInput(
            f"invalid user id {shown!r}: use 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    return user


def clean_message(text: object, max_chars: int) -> str:
    """Strip control characters and surrounding space; reject empty or over-long messages."""
    if not isinstance(text, str):
        raise InvalidInput(f"message must be text, got {type(text).__name__}")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = text.strip()
    if not text:
        raise InvalidInput("the message is empty: type something, or send audio or an image")
    if len(text) > max_chars:
        raise InvalidInput(
            f"the message is {len(text):,} characters; the limit is {max_chars:,} "
            "(COMPANION_PRIVACY__MAX_MESSAGE_CHARS). Split it into shorter messages."
        )
    return text
