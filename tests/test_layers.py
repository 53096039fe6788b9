"""Layers: no import cycle among the project's modules, counting imports inside functions too (a
cycle hidden by a local import is still a cycle); companion/ reaches pipelines/ only through the
registry's tables of dotted paths; of companion/ and pipelines/, only the CLI dispatcher reaches benchmarks/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules() -> dict[str, Path]:
    found = {}
    for package in ("companion", "pipelines"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules `name` imports, anywhere in the file; `from pkg import mod` counts mod, not pkg."""
    wanted = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            wanted.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            for _ in range(max(0, node.level - 1)):
                package = package.rpartition(".")[0]
            base = ".".join(p for p in ((package if node.level else ""), node.module or "") if p)
            subs = {f"{base}.{alias.name}" for alias in node.names} & set(known)
            wanted |= subs or {base}
    out = set()
    for target in wanted:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert len(graph) > 60
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_companion_reaches_the_text_model_through_the_registry():
    known = modules()
    assert "pipelines.text" not in imports("companion.crisis", known["companion.crisis"], known)


def top_level_imports(path: Path) -> set[str]:
    """First names of every module a file imports: import statements anywhere, and
    importlib.import_module calls whose name is a literal or an f-string with a literal start."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and node.args
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
        ):
            arg = node.args[0]
            if isinstance(arg, ast.JoinedStr) and arg.values:
                arg = arg.values[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value.split(".")[0])
    return found


def dotted_paths_to(package: str, path: Path) -> list[str]:
    """String literals that are whole dotted paths into `package` ("pipelines.text:TextEmotionAnalyzer")."""
    pattern = re.compile(rf"{package}(\.\w+)+(:\w+)?")
    return [
        node.value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and pattern.fullmatch(node.value)
    ]


def test_companion_reaches_pipelines_only_through_the_registry():
    """companion/ imports nothing from pipelines/; the registry's tables (strings) are the one way in."""
    known = modules()
    importers = {
        name for name, path in known.items() if name.startswith("companion") and "pipelines" in top_level_imports(path)
    }
    assert importers == set()
    named = {
        name for name, path in known.items() if name.startswith("companion") and dotted_paths_to("pipelines", path)
    }
    assert named == {"companion.registry"}
    from companion import registry

    in_tables = {t for table in registry.BACKENDS.values() for t in table.values()} | set(registry.FUNCTIONS.values())
    assert set(dotted_paths_to("pipelines", known["companion.registry"])) <= in_tables


def test_only_the_cli_dispatcher_imports_benchmarks():
    """benchmarks/ sits above companion/ and pipelines/: of those, only `python -m companion` reaches it.
    (tests/ may import benchmarks: test_fusion*, test_fuzz, test_planner and test_replies do.)"""
    known = modules()
    importers = {name for name, path in known.items() if "benchmarks" in top_level_imports(path)}
    assert importers == {"companion.__main__"}  # the check sees its importlib.import_module(f"benchmarks...")


def test_the_import_scan_sees_every_form(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os.path\ndef f():\n    from pipelines.loading import x\n"
        "    importlib.import_module(f'benchmarks.{x}')\n    __import__('numpy')\n"
        "    return 'pipelines.text:T', 'see pipelines/text.py'\n"
    )
    assert top_level_imports(sample) == {"os", "pipelines", "benchmarks", "numpy"}
    assert dotted_paths_to("pipelines", sample) == ["pipelines.text:T"]
