"""The reply model's examples: split by conversation, prompts from the run-time builder, unsafe replies dropped."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np
import pytest

from companion.config import FusionSettings
from companion.generation.prompt import build_messages
from pipelines.training import reply_data as rd
from pipelines.training.reply_memory import TEST_NAMES, TRAIN_NAMES, cases, memory_examples
from tests.fakes import FixedAnalyzer


@pytest.fixture(scope="module")
def conversations():
    return [*rd.read_esconv(), *rd.read_ed()]


def test_splits_are_by_conversation_and_hold_out_enough_of_each_corpus(conversations):
    by_corpus = defaultdict(Counter)
    for conv in conversations:
        by_corpus[conv.corpus][conv.split] += 1
    for corpus, splits in by_corpus.items():
        assert splits["test"] / sum(splits.values()) >= 0.15, (corpus, splits)
        assert splits["train"] and splits["dev"]
    assert len({c.conv_id for c in conversations}) == len(conversations)  # one split per conversation
    assert rd.bucket("ed:hit:1_conv:2") == rd.bucket("ed:hit:1_conv:2")  # stable across runs


def test_history_alternates_and_holds_at_most_three_turns(conversations):
    for target in list(rd.targets(conversations))[:3000]:
        roles = [t["role"] for t in target.history] + ["user"]
        assert len(target.history) <= 3 and all(a != b for a, b in zip(roles, roles[1:]))


@pytest.mark.parametrize(
    "reply,reason",
    [
        ("Me too, my wife had the same thing last year.", "claims a human life"),
        ("When I was a kid I broke my arm.", "claims a human life"),
        ("Call 555-123-4567, they helped me.", "numbers not in the conversation"),
        ("Try www.calm.example for that.", "link or e-mail"),
        ("Have you talked to Jessica about it?", "names the user never gave"),
        ("Ok", "too short"),
    ],
)
def test_replies_an_ai_must_not_say_are_dropped(reply, reason):
    conv = rd.Conversation(
        "ed", "ed:x", "train", (rd.Turn("user", "I failed my driving test today."), rd.Turn("assistant", reply))
    )
    assert rd.drop_reason(rd.Target(conv, 1)) == reason


def test_a_good_reply_is_kept_and_names_from_the_conversation_are_allowed():
    conv = rd.Conversation(
        "ed",
        "ed:y",
        "train",
        (
            rd.Turn("user", "My friend Jessica moved to Spain."),
            rd.Turn("assistant", "Oh no, you must miss Jessica. Will you visit?"),
        ),
    )
    assert rd.drop_reason(rd.Target(conv, 1)) is None


def test_self_disclosure_turns_are_never_learnt():
    conv = rd.Conversation(
        "esconv",
        "esconv:z",
        "train",
        (rd.Turn("user", "I feel so alone lately."), rd.Turn("assistant", "I know how that is.", "Self-disclosure")),
    )
    assert rd.drop_reason(rd.Target(conv, 1)) == "self-disclosure (an AI has no experiences to share)"


def test_crowd_text_is_cleaned_into_written_english():
    assert rd._clean("i was shocked , im sure it was fine !") == "I was shocked, I'm sure it was fine!"
    assert rd._clean("that_comma_ i'm  sure") == "That, I'm sure"


def test_an_example_prompt_is_exactly_the_run_time_prompt():
    conv = rd.Conversation(
        "esconv",
        "esconv:q",
        "train",
        (
            rd.Turn("user", "Hi there."),
            rd.Turn("assistant", "Hello, how are you?", "Question"),
            rd.Turn("user", "I lost my job and I am scared."),
            rd.Turn("assistant", "That sounds frightening. What happened?", "Reflection of feelings"),
        ),
    )
    target = rd.Target(conv, 3)
    analyzer = FixedAnalyzer("text", "fear")
    ((mood, est),) = rd.moods_for([target.user_text], analyzer, FusionSettings())
    example = rd.make_example(target, mood, est)
    from companion.generation.prompt import TurnContext

    ctx = TurnContext(user="train", text=target.user_text, mood=mood, estimates=(est,), history=target.history)
    assert example.messages == build_messages(ctx, prompt="reflection", feeling="fear")[0]
    assert example.strategy == "reflection" and example.mood == "fear" and "feel fear" in example.messages[0]["content"]
    assert [m["role"] for m in example.messages] == ["system", "user", "assistant", "user"]


def test_memory_cases_answer_from_the_facts_and_test_names_are_never_trained_on():
    assert not set(TRAIN_NAMES) & set(TEST_NAMES)
    train, test = cases("train", 300, 1), cases("test", 10, 3)
    assert sum(c["known"] for c in train) > 100 and sum(not c["known"] for c in train) > 60
    for case in train + test:
        if case["known"] and case["kind"] == "relation":
            assert case["name"] in case["answer"] and any(case["name"] in f for f in case["facts"])
        if not case["known"]:
            assert "told me" not in case["answer"] or "yet" in case["answer"]
    assert all(n not in " ".join(c["answer"] + " ".join(c["facts"]) for c in train) for n in TEST_NAMES)
    examples = memory_examples(FixedAnalyzer("text", "neutral"), FusionSettings(), train=5, dev=2, test=2)
    assert {k: len(v) for k, v in examples.items()} == {"train": 5, "dev": 2, "test": 2}
    assert "You know:" in examples["train"][0].messages[0]["content"] or not examples["train"][0].meta["facts"]


def test_memory_questions_in_a_conversation_carry_history_and_dated_memories():
    from pipelines.training.reply_memory import cases_in_context, memory_context_examples

    rows = cases_in_context("train", 40, 1)
    assert all(len(r["history"]) <= 3 for r in rows) and any(r["history"] for r in rows)
    stated = [r for r in rows if r.get("name") and any(r["name"] in m["text"] for m in r["memories"])]
    assert stated and all(r["known"] for r in stated)  # a memory names someone only when the fact is known
    examples = memory_context_examples(FixedAnalyzer("text", "neutral"), FusionSettings(), "train", 12, 1)
    with_memories = [e for e in examples if e.meta["memories"]]
    assert with_memories and all("Earlier conversations" in e.messages[0]["content"] for e in with_memories)
    for e in examples:  # earlier turns sit between the system prompt and the question, as at run time
        assert [m["content"] for m in e.messages[1:-1]] == [t["content"] for t in e.meta["history"]]


@pytest.mark.slow
def test_a_new_reading_draw_shares_no_situation_with_a_read_one():
    """Blind readings need situations nobody has read: each read draw left out the draws read before
    it, whatever size it asked for, and a read seed still reproduces its own draw (2032 and 2033 came
    from the same pool). The test split is spent after 2042, so readings go on in the dev split."""
    from benchmarks.eval_replies import DRAW_SIZE, READ_DRAWS, READ_SIZE, heldout_situations

    def texts(seed, split="test"):
        return {s["text"] for s in heldout_situations(READ_SIZE.get(seed, DRAW_SIZE), seed, split)}

    last = texts(2042)  # until session 12 a smaller draw redrew the read ones smaller: 106 of 130 were read
    assert len(last) == 130
    read = set()
    for group in READ_DRAWS[:-1]:
        for seed in group:
            read |= texts(seed)
    assert not last & read
    assert len(texts(2032) & texts(2033)) == 23  # drawn from one pool, as read
    with pytest.raises(SystemExit, match="--split dev"):
        heldout_situations(2, 2043)
    fresh = texts(3002, "dev")
    assert len(fresh) == 160 and not fresh & (read | last | texts(3001, "dev"))
    # the reply judge learnt from read situations only: a new reading measures it on unseen ones
    from pipelines.training.reply_judge import load_rows

    assert not (fresh | last) & {row["user"] for row in load_rows()}


def test_readings_are_collected_as_addresses_and_replies_never_as_dataset_text(tmp_path):
    """`reply_judge collect` keeps what the project may keep: the situation's address, Ember's reply and
    the verdict; the dataset's text is read back from ../shared/datasets by load_rows."""
    from benchmarks.eval_replies import heldout_situations
    from pipelines.training import reply_judge

    situations = heldout_situations(4, 2026)
    lines, key, reading = ["# Replies to read", ""], {}, {}
    for k, s in enumerate(situations):
        ember = "A" if k % 2 == 0 else "B"
        replies = {ember: f"Ember reply {k}.", "B" if ember == "A" else "A": s["human"]}
        key[s["id"]] = ember
        reading[s["id"]] = {"A": k % 2, "B": 1, "prefer": "tie"}
        lines.append(f"## {s['id']}")
        lines += [f"- earlier, {'User' if t['role'] == 'user' else 'Responder'}: {t['content']}" for t in s["history"]]
        lines += [
            f"- **User** (feeling they named: x): {s['text']}",
            f"- **A**: {replies['A']}",
            f"- **B**: {replies['B']}",
            "",
        ]
    (tmp_path / "ab_tuned.md").write_text("\n".join(lines))
    (tmp_path / "key_tuned.json").write_text(json.dumps(key))
    (tmp_path / "reading_tuned.json").write_text(json.dumps(reading))
    (tmp_path / "key_base.json").write_text(json.dumps(key))  # the untuned model's readings are left out
    rows = reply_judge.collect([tmp_path])
    assert [r["reply"] for r in rows] == [f"Ember reply {k}." for k in range(4)]
    assert [r["fit"] for r in rows] == [0, 1, 0, 1]  # Ember is A (read k % 2 = 0) for even k, B (read 1) for odd
    assert all(set(r) == {"conv_id", "index", "reply", "fit", "reading"} for r in rows)
    data = tmp_path / "judgments.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [r["user"] for r in reply_judge.load_rows(data)] == [s["text"] for s in situations]


def test_crossover_readings_are_collected_per_variant(tmp_path):
    """A crossover folder (benchmarks/reply_crossover.py) gives each verdict to the variant its key names."""
    from benchmarks import reply_crossover
    from benchmarks.eval_replies import heldout_situations
    from pipelines.training import reply_judge

    situations = heldout_situations(4, 2026)
    for name in ("old", "new"):
        rows = [{**s, "reply": f"{name} reply {k}."} for k, s in enumerate(situations)]
        (tmp_path / f"{name}.json").write_text(json.dumps({"tuned": {"situations": rows}}))
    out = tmp_path / "cross"
    sources = {n: (tmp_path / f"{n}.json", "tuned") for n in ("old", "new")}
    reply_crossover.make(sources, out, tmp_path / "readers", readers=2)
    for reader in ("q1", "q2"):
        key = json.loads((out / f"key_{reader}.json").read_text())
        reading = {}
        for item, k in key.items():  # this reader finds every new reply fit and no old one
            human = "B" if k["ember"] == "A" else "A"
            reading[item] = {k["ember"]: int(k["variant"] == "new"), human: 1, "prefer": "tie"}
        (out / f"reading_{reader}.json").write_text(json.dumps(reading))
    rows = reply_judge.collect([out])
    assert len(rows) == 8 and {r["reading"] for r in rows} == {"cross/old", "cross/new"}
    assert all(r["fit"] == r["reply"].startswith("new") for r in rows)
    assert all(set(r) == {"conv_id", "index", "reply", "fit", "reading"} for r in rows)


@pytest.mark.slow
def test_the_reply_judge_retrains_to_the_shipped_weights(tmp_path):
    from pipelines import loading
    from pipelines.training import reply_judge

    assert reply_judge.main(["--out", str(tmp_path)]) == 0
    shipped = json.loads((loading.WEIGHTS_DIR / "reply_judge" / "judge.json").read_text())
    again = json.loads((tmp_path / "judge.json").read_text())
    assert again["floor"] == pytest.approx(shipped["floor"], abs=2e-3)
    assert np.allclose(again["weights"], shipped["weights"], atol=2e-3)
