"""HFFaceEmotionAnalyzer with a tiny random ViT built and saved here (no download)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data as photos

from companion.errors import InvalidInput
from companion.types import EMOTIONS
from pipelines.face_hf import HFFaceEmotionAnalyzer, LabelMapError

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt"]


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-vit")
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        num_channels=3,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={k: i for i, k in enumerate(LABELS)},
    )
    ViTForImageClassification(config).save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def analyzer(tiny_vit):
    return HFFaceEmotionAnalyzer(model=str(tiny_vit))


def test_detects_the_face_and_maps_the_model_output(analyzer, tiny_vit):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from pipelines.face_detect import crop

    image = photos.astronaut()
    est = analyzer.analyze(image)
    assert est.modality == "face" and est.source.startswith("hf:")
    assert est.details["faces"] == 1 and set(est.probs) == set(EMOTIONS)
    # the same crop through the model by hand: 8 labels, "contempt" ignored, the rest renormalised
    face = crop(image, tuple(est.details["box"]), 0.1)
    processor = AutoImageProcessor.from_pretrained(tiny_vit)
    model = AutoModelForImageClassification.from_pretrained(tiny_vit).eval()
    with torch.no_grad():
        p = model(**processor(images=[face], return_tensors="pt")).logits.softmax(-1)[0].numpy()
    ours = {
        "anger": p[0],
        "disgust": p[1],
        "fear": p[2],
        "joy": p[3],
        "sadness": p[4],
        "surprise": p[5],
        "neutral": p[6],
    }
    total = sum(ours.values())
    for emotion, value in ours.items():
        assert est.probs[emotion] == pytest.approx(value / total, abs=1e-5)


def test_no_face_gives_none_and_crops_skip_detection(analyzer):
    assert analyzer.analyze(photos.coffee()) is None
    out = analyzer.analyze_batch([photos.rocket(), photos.astronaut()[40:260, 150:300]], detect=False)
    assert all(e is not None and e.details["detected"] is False for e in out)
    with pytest.raises(InvalidInput):
        analyzer.analyze(np.full((10, 10, 3), np.nan))


def test_label_map(tiny_vit):
    only_two = HFFaceEmotionAnalyzer(model=str(tiny_vit), label_map={"happy": "joy", "sad": "sadness"})
    est = only_two.analyze(photos.astronaut())
    assert est.probs["joy"] + est.probs["sadness"] == pytest.approx(1.0)
    with pytest.raises(LabelMapError, match="not one of"):
        HFFaceEmotionAnalyzer(model=str(tiny_vit), label_map={"happy": "glee"})


def test_needs_a_model(tmp_path):
    with pytest.raises(ValueError, match="needs model"):
        HFFaceEmotionAnalyzer()
    from pipelines.loading import MissingModel

    with pytest.raises(MissingModel):
        HFFaceEmotionAnalyzer(model=str(tmp_path / "absent"))
