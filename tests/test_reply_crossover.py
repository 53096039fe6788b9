"""The crossover reading: every reader sees each situation once, the variants balanced, keys apart."""

import json
from collections import Counter

import pytest

from benchmarks import reply_crossover


def _results(path, replies):
    situations = [
        {"id": f"s{i:03d}", "text": f"message {i}", "history": [], "human": f"human {i}", "reply": reply}
        for i, reply in enumerate(replies)
    ]
    path.write_text(json.dumps({"tuned": {"situations": situations}}))
    return path


@pytest.fixture
def crossover(tmp_path):
    old = _results(tmp_path / "old.json", [f"old reply {i}" for i in range(10)])
    new = _results(tmp_path / "new.json", [f"new reply {i}" if i < 6 else f"old reply {i}" for i in range(10)])
    out, readers = tmp_path / "keys", tmp_path / "readers"
    reply_crossover.make({"old": (old, "tuned"), "new": (new, "tuned")}, out, readers, readers=4)
    return out, readers


def test_each_reader_reads_every_situation_once_and_each_variant_half(crossover):
    out, readers = crossover
    seen = Counter()
    for r in range(1, 5):
        key = json.loads((out / f"key_q{r}.json").read_text())
        assert sorted(k["sid"] for k in key.values()) == [f"s{i:03d}" for i in range(10)]
        assert Counter(k["variant"] for k in key.values()) == {"old": 5, "new": 5}
        seen.update((k["sid"], k["variant"]) for k in key.values())
        text = (readers / f"q{r}" / "replies.md").read_text()
        assert "variant" not in text and "old reply" in text and "human 3" in text
        assert not list((readers / f"q{r}").glob("key*"))  # the reader's folder holds no key
    assert set(seen.values()) == {2}  # every situation read twice with each variant


def test_score_counts_ember_side_and_the_sign_test(crossover):
    out, readers = crossover
    for r in range(1, 5):
        key = json.loads((out / f"key_q{r}.json").read_text())
        reading = {}
        for item, k in key.items():  # this reader likes every new reply and no old one; humans always fit
            ember, human = k["ember"], "B" if k["ember"] == "A" else "A"
            reply = {ember: int(k["variant"] == "new"), human: 1}
            reading[item] = {**reply, "prefer": ember if k["variant"] == "new" else human}
        (readers / f"q{r}" / "reading.json").write_text(json.dumps(reading))
    result = reply_crossover.score(out)
    assert result["old"]["fit"] == [0, 20] and result["new"]["fit"] == [20, 20]
    assert result["new"]["preferred_or_tied"] == [20, 20] and result["old"]["human"] == [20, 20]
    assert result["new"]["fit_where_replies_differ"] == [12, 12]  # 6 differing situations, 2 readings each
    assert result["sign_test"]["second_better"] == 6 and result["sign_test"]["p"] == pytest.approx(0.031, abs=1e-3)
    assert "new better 6" in reply_crossover.table(result)


def test_score_refuses_a_missing_or_partial_reading(crossover):
    out, readers = crossover
    with pytest.raises(SystemExit, match="no reading for q1"):
        reply_crossover.score(out)
    for r in range(1, 5):
        (readers / f"q{r}" / "reading.json").write_text(json.dumps({"x001": {"A": 1, "B": 1, "prefer": "tie"}}))
    with pytest.raises(SystemExit, match="9 items unread"):
        reply_crossover.score(out)


def test_make_refuses_folders_of_an_earlier_reading(crossover, tmp_path):
    out, readers = crossover
    sources = {n: (tmp_path / f"{n}.json", "tuned") for n in ("old", "new")}
    with pytest.raises(SystemExit, match="earlier reading"):
        reply_crossover.make(sources, out, tmp_path / "other_readers")
    (readers / "q2" / "reading.json").write_text("{}")
    with pytest.raises(SystemExit, match="earlier reading"):
        reply_crossover.make(sources, tmp_path / "other_keys", readers)
