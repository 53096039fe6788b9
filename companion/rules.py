"""Rule tables as data: prompts/rules/<file>.json, read once, compiled, frozen.

A rule file is {"about": "...", "rules": [rule, ...]}. A rule is

    {"name": "...", "why": "...",
     "pattern": "<a regex>" (or a list of pieces, joined: long patterns read better that way)
       or "words": ["...", ...],
     "flags": "I" | "M" | "IM"   (optional, pattern rules only),
     "group": "..."              (optional: the table a module reads, in file order),
     "part": true                (optional: a piece of other patterns, matched whole in its examples),
     "match": [texts it must match], "no_match": [texts it must not]}

A pattern may use another rule as {name} (same file) or {file.name} (another file): a pattern is put
in as written, a word list as (?:w1|w2|...), escaped, longest first. The family word list is one
such rule, {family.members}, read by every table that names relatives.

Examples: a pattern rule matches a text when it is found anywhere in it (re.search), a part when it
matches the whole text; a word list when one of its words stands in the text as a whole word
(case-insensitive). tests/test_rules.py checks every example of every file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from companion.errors import CompanionError
from companion.prompting import PROMPTS_DIR

RULES_DIR = PROMPTS_DIR / "rules"
_FLAGS = {"I": re.IGNORECASE, "M": re.MULTILINE, "S": re.DOTALL}
_REF = re.compile(r"\{([a-z_][a-z0-9_]*)(?:\.([a-z_][a-z0-9_]*))?\}")  # never a quantifier: {2}, {0,3}
_KEYS = {"name", "why", "pattern", "words", "flags", "group", "part", "match", "no_match"}


class RuleError(CompanionError, ValueError):
    """A rule file under prompts/rules/ is missing or malformed, or one of its patterns does not
    compile; the message names the file and the rule."""


@dataclass(frozen=True)
class Rule:
    file: str
    name: str
    why: str
    regex: re.Pattern  # the compiled pattern; for a word list, its words as whole words
    source: str  # the pattern with its {references} filled in, as put into other patterns
    words: tuple[str, ...] = ()  # a word list's words, in file order
    group: str = ""
    part: bool = False
    match: tuple[str, ...] = ()
    no_match: tuple[str, ...] = ()

    @property
    def wordset(self) -> frozenset[str]:
        return frozenset(self.words)

    def matches(self, text: str) -> bool:
        """How the examples are read: whole text for a part, anywhere otherwise."""
        return bool(self.regex.fullmatch(text) if self.part else self.regex.search(text))


@dataclass(frozen=True)
class RuleSet:
    file: str
    about: str
    rules: Mapping[str, Rule] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Rule:
        try:
            return self.rules[name]
        except KeyError:
            raise RuleError(f"{_path(self.file)}: no rule {name!r}; it has {sorted(self.rules)}") from None

    def regex(self, name: str) -> re.Pattern:
        return self[name].regex

    def words(self, name: str) -> tuple[str, ...]:
        rule = self[name]
        if not rule.words:
            raise RuleError(f"{_path(self.file)}: rule {name!r} is a pattern, not a word list")
        return rule.words

    def group(self, group: str) -> tuple[Rule, ...]:
        found = tuple(r for r in self.rules.values() if r.group == group)
        if not found:
            raise RuleError(f"{_path(self.file)}: no rule in group {group!r}")
        return found


def _path(file: str) -> Path:
    return RULES_DIR / f"{file}.json"


def names() -> list[str]:
    """Every rule file there is, by name."""
    return sorted(p.stem for p in RULES_DIR.glob("*.json"))


def _read(file: str) -> dict[str, Any]:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", file):
        raise RuleError(f"invalid rule file name {file!r}")
    path = _path(file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuleError(f"no rule file {path}; there are {names()}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RuleError(f"cannot read rule file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError(f"{path}: expected an object with a list 'rules'")
    return data


def _word_source(words: tuple[str, ...]) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ")"


@lru_cache(maxsize=None)
def load(file: str) -> RuleSet:
    """prompts/rules/<file>.json, read once per process."""
    data = _read(file)
    path = _path(file)
    raw: dict[str, dict] = {}
    for i, entry in enumerate(data["rules"]):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise RuleError(f"{path}: rule #{i} has no name")
        if name in raw:
            raise RuleError(f"{path}: rule {name!r} is defined twice")
        unknown = set(entry) - _KEYS
        if unknown:
            raise RuleError(f"{path}: rule {name!r} has unknown keys {sorted(unknown)}")
        if ("pattern" in entry) == ("words" in entry):
            raise RuleError(f"{path}: rule {name!r} needs a 'pattern' or 'words', not both or neither")
        if not isinstance(entry.get("why"), str) or not entry["why"].strip():
            raise RuleError(f"{path}: rule {name!r} has no 'why'")
        if "words" in entry and not (
            isinstance(entry["words"], list)
            and entry["words"]
            and all(isinstance(w, str) and w for w in entry["words"])
        ):
            raise RuleError(f"{path}: rule {name!r}: 'words' must be a list of non-empty strings")
        if "pattern" in entry:
            pattern = entry["pattern"]
            if isinstance(pattern, list) and pattern and all(isinstance(p, str) for p in pattern):
                entry = {**entry, "pattern": "".join(pattern)}
            elif not isinstance(pattern, str) or not pattern:
                raise RuleError(f"{path}: rule {name!r}: 'pattern' must be a string or a list of strings")
        for key in ("match", "no_match"):
            if not isinstance(entry.get(key, []), list) or not all(isinstance(t, str) for t in entry.get(key, [])):
                raise RuleError(f"{path}: rule {name!r}: {key!r} must be a list of example texts")
        raw[name] = entry

    sources: dict[str, str] = {}

    def source(name: str, seen: tuple[str, ...] = ()) -> str:
        if name in sources:
            return sources[name]
        if name in seen:
            raise RuleError(f"{path}: rule {name!r} refers to itself through {' -> '.join(seen)}")
        entry = raw[name]
        if "words" in entry:
            sources[name] = _word_source(tuple(entry["words"]))
            return sources[name]

        def fill(ref: re.Match) -> str:
            first, second = ref.group(1), ref.group(2)
            if second is not None:  # {file.rule}
                if first == file:
                    return source(second, (*seen, name)) if second in raw else _missing(second)
                try:
                    return load(first)[second].source
                except RuleError as exc:
                    raise RuleError(f"{path}: rule {name!r} refers to {{{first}.{second}}}: {exc}") from None
            if first not in raw:
                return _missing(first)
            return source(first, (*seen, name))

        def _missing(ref: str) -> str:
            raise RuleError(f"{path}: rule {name!r} refers to {{{ref}}}, which is not a rule of this file")

        sources[name] = _REF.sub(fill, entry["pattern"])
        return sources[name]

    built: dict[str, Rule] = {}
    for name, entry in raw.items():
        text = source(name)
        flags = 0
        for letter in entry.get("flags", ""):
            if letter not in _FLAGS:
                raise RuleError(f"{path}: rule {name!r}: unknown flag {letter!r} (use {sorted(_FLAGS)})")
            flags |= _FLAGS[letter]
        words = tuple(entry.get("words", ()))
        try:
            regex = re.compile(rf"(?<!\w){text}(?!\w)", re.I) if words else re.compile(text, flags)
        except re.error as exc:
            raise RuleError(f"{path}: rule {name!r}: the pattern does not compile: {exc}") from exc
        built[name] = Rule(
            file=file,
            name=name,
            why=entry["why"].strip(),
            regex=regex,
            source=text,
            words=words,
            group=entry.get("group", ""),
            part=bool(entry.get("part", False)),
            match=tuple(entry.get("match", ())),
            no_match=tuple(entry.get("no_match", ())),
        )
    return RuleSet(file, data.get("about", ""), MappingProxyType(built))


def regex(file: str, name: str) -> re.Pattern:
    """The compiled pattern of one rule: rules.regex("checks", "url")."""
    return load(file).regex(name)


def words(file: str, name: str) -> tuple[str, ...]:
    """The words of one word list: rules.words("family", "members")."""
    return load(file).words(name)
