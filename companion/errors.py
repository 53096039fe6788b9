"""Errors the companion raises on purpose. Each message says what to do next."""

from __future__ import annotations


class CompanionError(Exception):
    """Base class for the companion's own errors."""


class InvalidInput(CompanionError, ValueError):
    """A user id, message or signal that cannot be used as given."""


class StoreUnavailable(CompanionError, RuntimeError):
    """The memory store cannot be opened or written (locked, read-only, corrupt)."""


class GenerationError(CompanionError, RuntimeError):
    """The language-model backend failed or is unreachable."""


class WrongType(CompanionError, TypeError):
    """A value of the wrong type; the message says what to pass instead."""


class BadSetting(CompanionError, ValueError):
    """A setting or option that cannot be used; the message names it and the values it takes."""
