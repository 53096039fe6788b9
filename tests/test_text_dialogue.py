"""The conversational rows of the text heads: label mapping, splits, and the crisis negatives' check."""

from __future__ import annotations

import json

import pytest

from companion.types import EMOTIONS
from pipelines.training import text_dialogue as td
from pipelines.training.text_data import DEFAULT_DATA

needs_data = pytest.mark.skipif(not (DEFAULT_DATA / "esconv").exists(), reason="shared datasets not present")


def test_every_label_is_mapped_or_dropped_on_purpose():
    assert set(td.ED_TO_EKMAN.values()) - {None} <= set(EMOTIONS)
    assert set(td.ESCONV_TO_EKMAN.values()) - {None} <= set(EMOTIONS)
    assert len(td.ED_TO_EKMAN) == 32


@needs_data
def test_the_corpora_use_no_label_the_tables_lack():
    from pipelines.training.reply_data import read_ed, read_esconv

    assert {c.feeling for c in read_ed()} <= set(td.ED_TO_EKMAN)
    assert {c.feeling for c in read_esconv()} <= set(td.ESCONV_TO_EKMAN)


@needs_data
def test_dialogue_splits_are_by_conversation():
    """Split by conversation: the same words recur only where two crowd workers typed them ("Hi")."""
    rows = {s: set(td.dialogue_emotion(DEFAULT_DATA, s).texts) for s in ("train", "dev", "test")}
    assert len(rows["train"]) > 3000 and len(rows["dev"]) > 200 and len(rows["test"]) > 500
    assert len(rows["train"] & rows["test"]) <= 0.01 * len(rows["test"])
    assert len(rows["dev"] & rows["test"]) <= 0.01 * len(rows["test"])


@needs_data
def test_crisis_negatives_leave_out_turns_that_may_be_a_real_crisis():
    rows, counts = td.crisis_rows(DEFAULT_DATA, "train", goemotions=200, dialogue_cap=4000)
    negatives = [
        t for t, y, k in zip(rows.texts, rows.labels, rows.kinds) if y == 0 and k in ("dialogue", "goemotions")
    ]
    assert counts["dialogue_turns_left_out_risky"] > 0
    assert not [t for t in negatives if td.RISKY.search(t)]
    eval_texts = {json.loads(line)["text"].lower().strip(" .!?") for line in td.CRISIS_EVAL.read_text().splitlines()}
    assert not [t for t in rows.texts if t.lower().strip(" .!?") in eval_texts]
    dev, _ = td.crisis_rows(DEFAULT_DATA, "dev", goemotions=200, dialogue_cap=4000)
    written = {t.lower() for t, k in zip(rows.texts, rows.kinds) if k.startswith("written")}
    assert not [t for t, k in zip(dev.texts, dev.kinds) if k.startswith("written") and t.lower() in written]


def test_masking_rows_are_distributions_with_negative_valence():
    texts, target, affect = td.masking_rows()
    assert len(texts) == len(target) == len(affect) >= 40
    assert abs(target.sum(1) - 1).max() < 1e-6 and (affect[:, 0] < 0).all()
    assert (target[:, EMOTIONS.index("joy")] == 0).all()


def test_sentences_split_a_turn_and_skip_one_word_pieces():
    assert td.sentences("Hi. I lost my job today. What now?") == ["I lost my job today.", "What now?"]
