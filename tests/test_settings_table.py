"""The README's settings table and companion.config agree: every field of every settings section has a
row with the same default, every row names a real field, and every field has a one-line description.

Table rules (README.md, "Settings"): the first cell names one or more variables, separated by " / ",
later ones as `__NAME` within the first one's section; the second cell gives each one's default in the
same order. A default is a literal in backticks (JSON for dictionaries; true/false or on/off for
switches), or words when the field's default is None (what "unset" means, e.g. "embedded").
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from companion.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
PREFIX = "COMPANION_"


def sections() -> dict[str, type[BaseModel]]:
    """Top-level fields that group others (llm, fusion, ...) -> their model."""
    return {
        name: info.annotation
        for name, info in Settings.model_fields.items()
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
    }


def fields() -> dict[str, tuple[Any, Any]]:
    """Variable name -> (default, FieldInfo) for every knob: top-level fields and each section's fields."""
    out = {}
    groups = sections()
    for name, info in Settings.model_fields.items():
        if name in groups:
            defaults = groups[name]()
            for sub, sub_info in groups[name].model_fields.items():
                out[f"{PREFIX}{name}__{sub}".upper()] = (getattr(defaults, sub), sub_info)
        else:
            out[f"{PREFIX}{name}".upper()] = (info.get_default(call_default_factory=True), info)
    return out


def table_rows() -> list[tuple[list[str], list[str]]]:
    """(variables, default cells) per row of the table under "## Settings"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        names = re.findall(r"`([A-Z_]+)`", cells[0])
        assert names and cells[0] == " / ".join(f"`{n}`" for n in names), f"variables cell {cells[0]!r}"
        head = names[0]
        assert head.startswith(PREFIX), head
        stem = head.rsplit("__", 1)[0] if "__" in head else PREFIX.rstrip("_")
        full = [head] + [stem + n if n.startswith("__") else n for n in names[1:]]
        defaults = cells[1].split(" / ")
        assert len(defaults) == len(full), f"{cells[0]}: {len(full)} variables but defaults {cells[1]!r}"
        rows.append((full, defaults))
    return rows


def matches(cell: str, default: Any) -> bool:
    literal = cell[1:-1] if len(cell) > 1 and cell[0] == cell[-1] == "`" and cell.count("`") == 2 else None
    if default is None:
        return True  # words saying what unset means
    if literal is None:
        return False
    if isinstance(default, bool):
        return {"true": True, "on": True, "false": False, "off": False}.get(literal.lower()) is default
    if isinstance(default, (int, float)):
        try:
            return float(literal) == float(default)
        except ValueError:
            return False
    if isinstance(default, dict):
        try:
            return json.loads(literal) == default
        except ValueError:
            return False
    if isinstance(default, Path):
        return Path(literal).expanduser() == default
    return literal == str(default)


def test_every_row_is_a_field_and_every_field_has_a_row_with_its_default():
    known = fields()
    seen: dict[str, str] = {}
    for names, defaults in table_rows():
        for name, cell in zip(names, defaults):
            assert name in known, f"README row {name} is not a field of companion.config.Settings"
            assert name not in seen, f"{name} has two rows in the README table"
            seen[name] = cell
            default = known[name][0]
            assert matches(cell, default), f"README says {name} defaults to {cell}; the field's default is {default!r}"
    missing = sorted(set(known) - set(seen))
    assert not missing, f"fields without a row in the README settings table: {missing}"


def test_every_field_has_a_one_line_description():
    bad = [
        name
        for name, (_, info) in fields().items()
        if not (info.description and info.description.strip() and "\n" not in info.description)
    ]
    assert not bad, f"fields without a one-line description: {bad}"
    assert all(Settings.model_fields[name].description for name in sections())


@pytest.mark.parametrize(
    "cell, default, ok",
    [
        ("`0.40`", 0.4, True),
        ("`7`", 7, True),
        ("`7`", 8, False),
        ("measured", {"a": 1.0}, False),
        ('`{"a": 1.0}`', {"a": 1.0}, True),
        ("`off`", False, True),
        ("`on`", False, False),
        ("embedded", None, True),
        ("`~/.companion`", Path.home() / ".companion", True),
        ("`linear`", "linear", True),
    ],
)
def test_the_default_comparison(cell, default, ok):
    assert matches(cell, default) is ok


def test_the_switches_outside_a_section_keep_their_variables(monkeypatch):
    monkeypatch.setenv("COMPANION_CRISIS_CLASSIFIER", "off")
    monkeypatch.setenv("COMPANION_TORCH_THREADS", "3")
    monkeypatch.setenv("COMPANION_PORT", "7999")
    settings = Settings()
    assert (settings.crisis_classifier, settings.torch_threads, settings.port) == (False, 3, 7999)
    for off in ("0", "false", "None", " OFF "):
        monkeypatch.setenv("COMPANION_CRISIS_CLASSIFIER", off)
        assert Settings().crisis_classifier is False, off
    monkeypatch.setenv("COMPANION_CRISIS_CLASSIFIER", "on")
    assert Settings().crisis_classifier is True


def test_a_misspelt_setting_inside_a_section_is_an_error_not_ignored(monkeypatch):
    from pydantic import ValidationError

    from companion.config import Settings

    monkeypatch.setenv("COMPANION_LLM__MODLE", "my.gguf")
    with pytest.raises(ValidationError, match="llm.modle"):
        Settings()
