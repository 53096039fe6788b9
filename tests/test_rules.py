"""Rules as data: every rule table in prompts/rules/*.json carries its own examples, and they hold.

Each rule says why it is there, and gives texts it must match and texts it must not; a pattern
rule is found anywhere in a text, a part (a piece of other patterns) must match the whole text, a
word list matches when one of its words stands in the text as a whole word. No two rules of a
file are the same, no word list repeats a word, and the family words are listed once
(prompts/rules/family.json), not again in the code.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from companion import rules
from companion.errors import CompanionError

ROOT = Path(__file__).resolve().parents[1]
FILES = rules.names()
ALL = [(file, name) for file in FILES for name in rules.load(file).rules]


def test_every_table_is_there():
    assert {
        "checks",
        "crisis",
        "fallback",
        "family",
        "planner",
        "prompt",
        "safety",
        "text_dialogue",
        "text_negation",
    } <= set(FILES)
    assert len(ALL) >= 100


@pytest.mark.parametrize("file,name", ALL, ids=[f"{f}.{n}" for f, n in ALL])
def test_rule_examples_hold(file, name):
    rule = rules.load(file)[name]
    assert rule.why and rule.match and rule.no_match, f"{file}.{name} needs a why and examples of both kinds"
    assert [t for t in rule.match if not rule.matches(t)] == [], f"{file}.{name} misses these"
    assert [t for t in rule.no_match if rule.matches(t)] == [], f"{file}.{name} wrongly matches these"


@pytest.mark.parametrize("file", FILES)
def test_no_duplicate_rules_or_words(file):
    raw = json.loads((rules.RULES_DIR / f"{file}.json").read_text(encoding="utf-8"))["rules"]
    names = [r["name"] for r in raw]
    assert len(names) == len(set(names))
    loaded = rules.load(file).rules.values()
    patterns = [r.source for r in loaded if not r.words]
    assert len(patterns) == len(set(patterns)), "two rules with the same pattern"
    lists = [tuple(sorted(w.lower() for w in r.words)) for r in loaded if r.words]
    assert len(lists) == len(set(lists)), "two rules with the same words"
    for rule in loaded:
        lowered = [w.lower() for w in rule.words]
        repeated = sorted({w for w in lowered if lowered.count(w) > 1})
        assert repeated == [], f"{file}.{rule.name} repeats {repeated}"


def test_tables_that_name_relatives_read_the_family_list():
    family = rules.words("family", "members")
    crisis, planner = rules.load("crisis"), rules.load("planner")
    for word in family:
        assert crisis["people"].regex.fullmatch(word) and planner["kin"].regex.fullmatch(word), word
        assert crisis["family_will_kill_me"].regex.search(f"my {word} is going to kill me if i'm late"), word
        assert rules.regex("checks", "human_claim").search(f"I love my {word}."), word
        assert rules.regex("fallback", "relation").match(f"The user's {word} is Ana."), word
    readers = {
        file
        for file in FILES
        if file != "family" and "{family.members}" in (rules.RULES_DIR / f"{file}.json").read_text(encoding="utf-8")
    }
    assert readers == {"checks", "crisis", "fallback", "planner"}


# Family words listed in code, outside the shared list: reply_memory.PEOPLE samples relations for the
# written training examples (a rule table of nothing; changing it changes the shipped adapter's data).
KNOWN_LISTS = {"pipelines/training/reply_memory.py"}


def family_lists(path: Path) -> list[int]:
    """Lines of string constants or tuples/lists/sets of them naming four or more family members."""
    family = {w.lower() for w in rules.words("family", "members")}
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            text = " ".join(e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if len(family & set(re.findall(r"[a-zé]+", text.lower()))) >= 4:
            found.append(node.lineno)
    return found


def test_family_words_are_listed_once():
    offenders = {}
    for package in ("companion", "pipelines", "webapp"):
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in KNOWN_LISTS and (lines := family_lists(path)):
                offenders[rel] = lines
    assert offenders == {}, "read the family list (rules.words('family', 'members') or {family.members}) instead"
    assert all(family_lists(ROOT / rel) for rel in KNOWN_LISTS), "a known list moved: drop it from KNOWN_LISTS"


# -- the loader ----------------------------------------------------------------------------------
@pytest.fixture
def rules_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(rules, "RULES_DIR", tmp_path)
    rules.load.cache_clear()
    yield tmp_path
    rules.load.cache_clear()


def write(folder: Path, file: str, *entries: dict) -> None:
    (folder / f"{file}.json").write_text(json.dumps({"about": "test", "rules": list(entries)}), encoding="utf-8")


def rule(name: str, **kw) -> dict:
    return {"name": name, "why": "a test", "match": [], "no_match": [], **kw}


def test_a_missing_file_or_rule_is_a_clear_error(rules_dir):
    write(rules_dir, "here", rule("a", pattern="a"))
    with pytest.raises(rules.RuleError, match=r"no rule file .*nothere\.json.*\['here'\]"):
        rules.load("nothere")
    with pytest.raises(rules.RuleError, match=r"here\.json: no rule 'b'"):
        rules.regex("here", "b")
    assert issubclass(rules.RuleError, CompanionError)


def test_a_bad_pattern_names_the_file_and_the_rule(rules_dir):
    write(rules_dir, "broken", rule("fine", pattern="ok"), rule("unclosed", pattern="(?:a|b"))
    with pytest.raises(rules.RuleError, match=r"broken\.json: rule 'unclosed': the pattern does not compile"):
        rules.load("broken")


@pytest.mark.parametrize(
    "entry,message",
    [
        (rule("x"), "needs a 'pattern' or 'words'"),
        (rule("x", pattern="a", words=["a"]), "needs a 'pattern' or 'words'"),
        ({"name": "x", "pattern": "a"}, "has no 'why'"),
        (rule("x", pattern="{nowhere}"), r"refers to \{nowhere\}"),
        (rule("x", pattern="{family.nobody}"), r"refers to \{family.nobody\}"),
        (rule("x", pattern="{x}"), "refers to itself"),
        (rule("x", pattern="a", flags="Q"), "unknown flag"),
        (rule("x", pattern="a", colour="red"), "unknown keys"),
        (rule("x", words=[]), "'words' must be"),
    ],
)
def test_malformed_rules_are_named(rules_dir, entry, message):
    write(rules_dir, "bad", entry)
    (rules_dir / "family.json").write_text(
        (rules.PROMPTS_DIR / "rules" / "family.json").read_text(encoding="utf-8"), encoding="utf-8"
    )
    with pytest.raises(rules.RuleError, match=message):
        rules.load("bad")


def test_references_parts_and_word_lists(rules_dir):
    write(rules_dir, "pets", rule("animals", words=["cat", "dog", "guinea pig"]))
    write(
        rules_dir,
        "t",
        rule("who", pattern="(?:my|our)", part=True),
        rule("loves", pattern=r"\b{who} {pets.animals}\b", flags="I"),
    )
    loaded = rules.load("t")
    assert loaded["loves"].source == r"\b(?:my|our) (?:guinea\ pig|cat|dog)\b"
    assert loaded.regex("loves").search("Our Guinea pig") and not loaded.regex("loves").search("my catalogue")
    assert loaded["who"].matches("our") and not loaded["who"].matches("our cat")  # a part matches whole
    assert rules.load("t") is loaded  # read once
    with pytest.raises(AttributeError):
        loaded["who"].name = "other"  # frozen
