"""The CLI in fresh processes, with the embedded defaults (real models)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(tmp_path, *args, check=True):
    env = dict(os.environ, COMPANION_DATA_DIR=str(tmp_path), HF_HUB_OFFLINE="1", COMPANION_LLM__MAX_TOKENS="30")
    return subprocess.run(
        [sys.executable, "-m", "companion", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=check,
    )


def test_say_remembers_facts_across_processes(tmp_path):
    first = run(tmp_path, "say", "--user", "alice", "My name is Alice and I love hiking")
    assert first.stdout.strip(), first.stderr
    assert "mood:" in first.stderr
    second = run(tmp_path, "say", "--user", "alice", "--json", "What do you remember about me?")
    reply = json.loads(second.stdout)
    assert "Alice" in reply["context"]["facts"] and "hiking" in reply["context"]["facts"]
    assert "your name is Alice and you like hiking" in reply["text"] and "recalled" in reply["flags"]
    assert reply["mood"]["label"] in ("neutral", "joy", "sadness", "anger", "fear", "surprise", "disgust")
    assert reply["estimates"][0]["modality"] == "text"


def test_export_and_forget_commands(tmp_path):
    run(tmp_path, "say", "--user", "bob", "I live in Lisbon")
    exported = json.loads(run(tmp_path, "export", "--user", "bob").stdout)
    assert exported["facts"][0]["value"] == "Lisbon"
    assert "deleted for bob" in run(tmp_path, "forget", "--user", "bob").stdout
    assert json.loads(run(tmp_path, "export", "--user", "bob").stdout)["exists"] is False


def test_bad_input_exits_with_a_clear_message(tmp_path):
    bad = run(tmp_path, "say", "--user", "../root", "hi", check=False)
    assert bad.returncode == 2 and "invalid user id" in bad.stderr
    empty = run(tmp_path, "say", "--user", "carl", "   ", check=False)
    assert empty.returncode == 2 and "empty" in empty.stderr


def test_chat_repl_streams_and_takes_feedback(tmp_path):
    env = dict(os.environ, COMPANION_DATA_DIR=str(tmp_path), COMPANION_LLM__MAX_TOKENS="20")
    out = subprocess.run(
        [sys.executable, "-m", "companion", "chat", "--user", "dee"],
        cwd=ROOT,
        env=env,
        input="Hello, I am a bit tired today\n/feel sadness\n/quit\n",
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    assert "ember>" in out and "mood: sadness" in out
