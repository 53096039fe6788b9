"""The text heads' training loss and the correction that undoes its class weights."""

from __future__ import annotations

import types

import numpy as np
import torch

from companion.types import EMOTIONS
from pipelines.text import EmotionHeads
from pipelines.training.text import class_weights, one_hot, soft_ce, undo_class_weights


def test_undoing_the_class_weights_gives_back_the_data_frequencies():
    """A head trained with the weighted loss on one input whose labels come 60/20/10/4/3/2/1 in 100
    learns frequencies tilted toward the rare classes; after undo_class_weights its probabilities are
    the data's own again, and the argmax is the common class."""
    torch.manual_seed(0)
    counts = [60, 20, 10, 4, 3, 2, 1]
    labels = np.repeat(np.arange(len(EMOTIONS)), counts)
    target = torch.tensor(one_hot(labels, len(EMOTIONS)))
    weights = class_weights(target.numpy(), 0.5)
    heads = EmotionHeads(types.SimpleNamespace(hidden_size=4), hidden=8)
    features = torch.ones(len(labels), 8)  # every row reads the same: only the label mix can be learnt
    optimizer = torch.optim.Adam(heads.emotion.parameters(), lr=0.05)
    heads.eval()  # no dropout: a deterministic fit
    for _ in range(600):
        optimizer.zero_grad()
        soft_ce(heads.emotion(features), target, weights).backward()
        optimizer.step()

    def probs():
        with torch.no_grad():
            return torch.softmax(heads.emotion(features[:1]), -1)[0].numpy()

    frequency = np.asarray(counts) / sum(counts)
    tilted = probs()
    assert tilted[0] < frequency[0] - 0.1  # the weighted loss under-reads the common class
    undo_class_weights(heads, weights)
    assert np.allclose(probs(), frequency, atol=0.01)
    assert probs().argmax() == 0
