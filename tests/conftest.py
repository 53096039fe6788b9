import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("COMPANION_TORCH_THREADS", "1")

import pytest
from hypothesis import settings as hypothesis_settings

# The throwaway PostgreSQL server and the `store_url` fixture (SQLite and PostgreSQL variants).
from pgserver import pg_server, store_url  # noqa: F401 - fixtures: pytest finds them by name here

# CI runs the property tests on a fixed seed, so a landing never hinges on a lucky draw; every
# other run explores new examples (a random run found the subnormal-evidence bug in fusion.pool).
# `python -m companion fuzz` is the place for long random runs.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

# Open work, tracked in the closing notes of issues 3, 5 and 7: these checks fail on the current
# shipped models and reranker rules. They stay visible as xfail (not skipped) and turn into
# passes as soon as the model or rule is fixed.
_DISMISS = "tests/test_masking.py::test_dismissals_read_unsure_slightly_negative_never_joy"
KNOWN_OPEN: dict[str, str] = {
    # "tests/test_x.py::test_name" or one case "...::test_name[id]": "issue N: why it still fails"
    # (marked xfail, not strict). Each is a goal the shipped models do not meet yet, measured in the docs.
    f"{_DISMISS}[whatever]": "issue 14: neutral, valence -0.17, but confidence 0.62: not unsure",
    "tests/test_masking.py::test_clear_phrases_keep_their_direction[Everyone forgot my birth]": (
        "issue 14: valence -0.048, the right direction but inside the 0.05 margin (the heads before: -0.10)"
    ),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        reason = KNOWN_OPEN.get(item.nodeid) or KNOWN_OPEN.get(item.nodeid.split("[")[0])
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))


@pytest.fixture
def store(tmp_path):
    """A fresh SQLite store in the test's own folder, closed afterwards."""
    from companion.memory.store import Store

    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.close()
