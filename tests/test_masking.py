"""Everyday phrases and the direction of their valence, read by the shipped text heads (issue 14).

Dismissals ("I'm fine, it's whatever") must read as unsure and slightly negative, never as joy:
a reply that celebrates "whatever" misreads the person. The table is benchmarks/data/valence_table.jsonl
(`python -m companion eval text` prints it); none of its dismissals is in the written training
dismissals (benchmarks/data/masking_train.jsonl), which the first test checks. Plain statements
("I work as a nurse.") must not read as a negative feeling (benchmarks/data/statements_eval.jsonl).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.text import TextEmotionAnalyzer

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data"
TABLE = [json.loads(line) for line in (DATA / "valence_table.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def analyzer():
    return TextEmotionAnalyzer()


def _key(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def test_the_table_is_not_in_the_training_dismissals():
    trained = {
        _key(json.loads(line)["text"])
        for line in (DATA / "masking_train.jsonl").read_text().splitlines()
        if line.strip()
    }
    assert sum(r["kind"] == "masking" for r in TABLE) >= 10
    assert not [r["text"] for r in TABLE if _key(r["text"]) in trained]


@pytest.mark.parametrize("text", [r["text"] for r in TABLE if r["kind"] == "masking"], ids=lambda t: t[:24])
def test_dismissals_read_unsure_slightly_negative_never_joy(analyzer, text):
    est = analyzer.analyze(text)
    top = max(est.probs, key=est.probs.get)
    assert est.valence < 0, (text, est.valence)
    assert top != "joy" and est.probs["joy"] < 0.3, (text, est.probs)
    assert est.confidence < 0.6, (text, est.confidence)


@pytest.mark.parametrize("row", [r for r in TABLE if r["kind"] != "masking"], ids=lambda r: r["text"][:24])
def test_clear_phrases_keep_their_direction(analyzer, row):
    est = analyzer.analyze(row["text"])
    assert est.valence * row["direction"] > 0.05, (row["text"], est.valence)


STATEMENTS = [json.loads(line)["text"] for line in (DATA / "statements_eval.jsonl").read_text().splitlines() if line]


@pytest.mark.parametrize("text", STATEMENTS, ids=[t[:24] for t in STATEMENTS])
def test_plain_statements_read_level_not_as_a_negative_feeling(analyzer, text):
    """'I teach maths at a secondary school.' read as fear got 'I'm sorry to hear that.' These statements
    were written apart from the training ones (statements_train.jsonl) and are never trained on."""
    est = analyzer.analyze(text)
    assert est.label not in ("sadness", "anger", "fear", "disgust") and est.valence > -0.1, (est.label, est.valence)
