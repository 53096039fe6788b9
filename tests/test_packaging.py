"""The project installs as a package: code, prompts, shipped weights and the `companion` console script.

Built with pip from this checkout into a folder outside it (no dependencies: the test's own
environment provides them), then used from another directory, as an outside user would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("src") / "checkout"
    # Build from a copy: setuptools leaves build/ and *.egg-info behind in the source folder.
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "artifacts", "__pycache__", ".pytest_cache", ".hypothesis", "data"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    return target


def run_outside(installed, tmp_path, *args):
    env = {
        **os.environ,
        "PYTHONPATH": str(installed),
        "HF_HUB_OFFLINE": "1",
        "COMPANION_LLM__BACKEND": "echo",
        "COMPANION_DATA_DIR": str(tmp_path / "data"),
        "COMPANION_ANALYZERS__TEXT": "none",
    }
    return subprocess.run(list(args), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_prompts_and_weights_are_package_data(installed):
    for folder in ("prompts", "pipelines/weights"):
        shipped = {
            p.relative_to(ROOT / folder)
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        packaged = {p.relative_to(installed / folder) for p in (installed / folder).rglob("*") if p.is_file()}
        assert shipped and shipped <= packaged, shipped - packaged


def test_the_api_and_the_console_script_work_from_any_directory(installed, tmp_path):
    code = (
        "import companion, pathlib; from companion import Companion; "
        "from companion.prompting import PROMPTS_DIR; from pipelines.loading import reply_adapter; "
        "print(pathlib.Path(companion.__file__).parent.parent, PROMPTS_DIR.exists(), reply_adapter().exists())"
    )
    api = run_outside(installed, tmp_path, sys.executable, "-c", code)
    assert api.returncode == 0, api.stderr
    where, prompts_found, adapter_found = api.stdout.split()
    assert Path(where) == installed and prompts_found == adapter_found == "True"
    say = run_outside(
        installed, tmp_path, str(installed / "bin" / "companion"), "say", "--user", "pat", "I had a long day at work."
    )
    assert say.returncode == 0, say.stderr
    assert "You said: I had a long day at work." in say.stdout and "AI companion" in say.stdout
