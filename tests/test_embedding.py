"""MiniLMEmbedder: shape, normalisation, order, meaning, and one shared encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from companion import registry
from pipelines import loading
from pipelines.embedding import MiniLMEmbedder


@pytest.fixture(scope="module")
def embedder():
    return MiniLMEmbedder()


def test_shape_dtype_and_unit_length(embedder):
    vectors = embedder.embed(["I failed my exam", "The weather is nice", ""])
    assert embedder.dim == 384
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_list_gives_zero_rows(embedder):
    out = embedder.embed([])
    assert out.shape == (0, 384) and out.dtype == np.float32


def test_rows_keep_input_order_whatever_the_batching(embedder):
    texts = ["short", "a much longer sentence about my dog and the long walk we took", "mid length text"]
    together = MiniLMEmbedder(batch_size=2).embed(texts)
    for i, text in enumerate(texts):
        assert np.allclose(together[i], embedder.embed([text])[0], atol=1e-5)


def test_similar_meaning_is_closer(embedder):
    a, b, c = embedder.embed(["I love my dog", "I adore my puppy", "The stock market fell sharply today"])
    assert a @ b > a @ c + 0.2


def test_pooling_matches_the_packaged_sentence_transformers_config():
    config = json.loads((loading.minilm_dir() / "1_Pooling" / "config.json").read_text())
    assert config["pooling_mode_mean_tokens"] and not config["pooling_mode_cls_token"]
    assert "models.Normalize" in (loading.minilm_dir() / "modules.json").read_text()


def test_bad_input(embedder):
    with pytest.raises(TypeError, match="list"):
        embedder.embed("one string")
    with pytest.raises(TypeError, match="strings"):
        embedder.embed(["fine", 3])


def test_registered_and_sharing_the_encoder_with_the_text_analyzer(embedder):
    created = registry.create("embedder", "minilm")
    assert created.embed(["hi"]).shape == (1, created.dim)
    # one copy of the encoder per process: both hold the object load_minilm() cached
    assert created._model is embedder._model is loading.load_minilm()[1]
