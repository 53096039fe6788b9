"""companion/protocols.py is the contract: every backend in the registry satisfies its kind's Protocol.

Backends whose construction is cheap (echo, the OpenAI client, the MiniLM embedder, the tests' fakes)
are built and checked with isinstance; the others (a model load each) are checked by class: the
Protocol's attributes, and each Protocol method present with a compatible signature.
"""

from __future__ import annotations

import inspect
import typing

import pytest

from companion import protocols, registry
from companion.components import Components
from companion.protocols import PROTOCOLS, Embedder, EmotionAnalyzer, Generator, Synthesizer, Transcriber

P = inspect.Parameter
POSITIONAL = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)


def members(protocol: type) -> tuple[list[str], list[str]]:
    """(data attributes, methods) the Protocol declares."""
    data = list(protocol.__dict__.get("__annotations__", {}))
    methods = [k for k, v in protocol.__dict__.items() if inspect.isfunction(v) and not k.startswith("_")]
    return data, methods


def signature_problems(wanted, given) -> list[str]:
    """How `given` (a backend's method) fails to accept every call the Protocol's `wanted` allows.

    Positional parameters match by position (the name is the backend's own), keyword-only ones by
    name; a parameter the Protocol gives a default needs one too; the backend's extra parameters
    need defaults."""
    want = list(inspect.signature(wanted).parameters.values())[1:]  # without self
    have = list(inspect.signature(given).parameters.values())[1:]
    var_pos = any(p.kind is P.VAR_POSITIONAL for p in have)
    var_kw = any(p.kind is P.VAR_KEYWORD for p in have)
    problems, used = [], set()
    have_pos = [p for p in have if p.kind in POSITIONAL]
    for i, w in enumerate(p for p in want if p.kind in POSITIONAL):
        if i < len(have_pos):
            used.add(have_pos[i].name)
            if w.default is not P.empty and have_pos[i].default is P.empty:
                problems.append(f"positional parameter {have_pos[i].name!r} needs a default")
        elif not var_pos:
            problems.append(f"takes no positional parameter {i + 1} ({w.name})")
    for w in (p for p in want if p.kind is P.KEYWORD_ONLY):
        match = next(
            (p for p in have if p.name == w.name and p.kind in (P.KEYWORD_ONLY, P.POSITIONAL_OR_KEYWORD)), None
        )
        if match is None:
            if not var_kw:
                problems.append(f"takes no keyword {w.name!r}")
            continue
        used.add(match.name)
        if w.default is not P.empty and match.default is P.empty:
            problems.append(f"keyword {w.name!r} needs a default")
    for p in have:
        if p.name not in used and p.kind not in (P.VAR_POSITIONAL, P.VAR_KEYWORD) and p.default is P.empty:
            problems.append(f"extra parameter {p.name!r} has no default")
    return problems


def class_problems(cls: type, protocol: type) -> list[str]:
    data, methods = members(protocol)
    problems = [f"no class attribute {name!r}" for name in data if not hasattr(cls, name)]
    for name in methods:
        impl = getattr(cls, name, None)
        if not callable(impl):
            problems.append(f"no method {name!r}")
            continue
        problems += [f"{name}: {p}" for p in signature_problems(getattr(protocol, name), impl)]
    return problems


REGISTERED = [(kind, name) for kind, table in registry.BACKENDS.items() for name in table]


def test_every_backend_kind_has_a_protocol():
    assert set(PROTOCOLS) == set(registry.BACKENDS)
    assert all(getattr(p, "_is_runtime_protocol", False) for p in PROTOCOLS.values())


@pytest.mark.parametrize("kind,name", REGISTERED, ids=[f"{k}-{n}" for k, n in REGISTERED])
def test_every_registered_backend_class_satisfies_its_protocol(kind, name):
    cls = registry.resolve(kind, name)
    assert class_problems(cls, PROTOCOLS[kind]) == [], f"{kind}/{name} ({cls.__qualname__})"
    if PROTOCOLS[kind] is EmotionAnalyzer:
        assert cls.modality == kind
    if kind == "generator":
        assert cls.name == name
    registry.accepted_options(kind, name)  # declared options only, no **kwargs catch-all


def test_the_structural_check_can_fail():
    class Wrong:
        modality = "text"

        def analyze(self, signal, strict):  # an extra required parameter
            ...

    class Stiff:
        name = "stiff"

        def stream(self, messages, max_tokens, temperature, top_p):  # no seed/stop, keywords by position only
            ...

    assert class_problems(Wrong, EmotionAnalyzer) == [
        "analyze: extra parameter 'strict' has no default",
        "no method 'analyze_batch'",
    ]
    stiff = class_problems(Stiff, Generator)
    assert "stream: takes no keyword 'seed'" in stiff and "stream: takes no keyword 'stop'" in stiff
    assert class_problems(type("Mute", (), {}), Synthesizer) == ["no method 'synthesize'"]


def test_cheap_backends_built_through_the_registry_are_instances():
    echo = registry.create("generator", "echo", reply="hello")
    client = registry.create("generator", "openai", base_url="http://127.0.0.1:9/v1", timeout_s=1)
    assert isinstance(echo, Generator) and isinstance(client, Generator)
    assert (
        "".join(echo.stream([{"role": "user", "content": "hi"}], max_tokens=5, temperature=0, top_p=1)).strip()
        == "hello"
    )


def test_the_minilm_embedder_is_an_embedder():
    embedder = registry.create("embedder", "minilm")  # the model is loaded once per process (pipelines.loading)
    assert isinstance(embedder, Embedder)
    assert embedder.embed(["hello there"]).shape == (1, embedder.dim)


def test_the_tests_fakes_keep_the_contracts():
    from tests import fakes

    assert isinstance(fakes.FixedAnalyzer("text", "joy"), EmotionAnalyzer)
    assert isinstance(fakes.WordEmbedder(), Embedder)
    assert isinstance(fakes.FailingGenerator(), Generator)


def test_components_are_typed_with_the_protocols():
    hints = {
        name: typing.get_type_hints(getattr(Components, name))["return"]
        for name in ("generator", "embedder", "transcriber", "synthesizer")
    }
    assert hints == {
        "generator": Generator,
        "embedder": Embedder,
        "transcriber": Transcriber,
        "synthesizer": Synthesizer,
    }
    assert typing.get_type_hints(Components.analyzer)["return"] == EmotionAnalyzer | None
    assert protocols.Transcript in typing.get_type_hints(Transcriber.transcribe).values()
