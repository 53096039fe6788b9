import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("COMPANION_TORCH_THREADS", "1")

import pytest
from hypothesis import settings as hypothesis_settings

# The throwaway PostgreSQL server and the `store_url` fixture (SQLite and PostgreSQL variants).
from pgserver import pg_server, store_url  # noqa: E402,F401

# CI runs the property tests on a fixed seed, so a landing never hinges on a lucky draw; every
# other run explores new examples (a random run found the subnormal-evidence bug in fusion.pool).
# `python -m companion fuzz` is the place for long random runs.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

# Open work, tracked in the closing notes of issues 3, 5 and 7: these checks fail on the current
# shipped models and reranker rules. They stay visible as xfail (not skipped) and turn into
# passes as soon as the model or rule is fixed.
KNOWN_OPEN: dict[str, str] = {
    # "tests/test_x.py::test_name": "issue N: why it still fails" (marked xfail, not strict)
    "tests/test_replies.py::test_memory_questions_are_answered_from_the_facts":
        "issue 13: goal 9/10, the shipped adapter answers 4-5/10 (the base 0/10): with no facts it does not say "
        "it was not told, and with only other relations' facts it names one of those people",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        base = item.nodeid.split("[")[0]
        if base in KNOWN_OPEN:
            item.add_marker(pytest.mark.xfail(reason=KNOWN_OPEN[base], strict=False))


@pytest.fixture
def store(tmp_path):
    """A fresh SQLite store in the test's own folder, closed afterwards."""
    from companion.memory.store import Store

    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.close()
