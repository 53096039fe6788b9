"""Any Hugging Face text-classification model as the text emotion analyzer.

    COMPANION_ANALYZERS__TEXT=hf
    COMPANION_ANALYZERS__TEXT_OPTIONS='{"model": "/models/my-emotion-model", "label_map": {"happy": "joy"}}'

The model's labels are mapped onto EMOTIONS with `label_map` ({model label: emotion}; a
label mapped to None, or left out, is ignored). Without a map, common names are recognised
("happy", "sadness", "angry", "fearful", ...). Probabilities of labels mapped to the same
emotion add up; the mapped ones are renormalised. Valence and arousal come from the
circumplex table (these models have no dimensional output); confidence is the max mapped
probability, uncalibrated. Text longer than the model's limit (at most 512 tokens) is cut.
Models load offline (HF_HUB_OFFLINE=1): give a local folder, or an id already in the cache.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from companion.errors import BadSetting, CompanionError
from companion.types import EMOTIONS, EmotionEstimate, circumplex_position
from pipelines import loading
from pipelines.text import check_text, check_texts

_KNOWN = {
    "neutral": "neutral",
    "calm": "neutral",
    "none": "neutral",
    "others": "neutral",
    "other": None,
    "joy": "joy",
    "happy": "joy",
    "happiness": "joy",
    "love": "joy",
    "amusement": "joy",
    "excitement": "joy",
    "sadness": "sadness",
    "sad": "sadness",
    "grief": "sadness",
    "anger": "anger",
    "angry": "anger",
    "annoyance": "anger",
    "fear": "fear",
    "fearful": "fear",
    "scared": "fear",
    "nervousness": "fear",
    "surprise": "surprise",
    "surprised": "surprise",
    "disgust": "disgust",
    "disgusted": "disgust",
}


class LabelMapError(CompanionError, ValueError):
    """The model's labels cannot be placed on EMOTIONS."""


def build_label_index(id2label: Mapping[int, str], label_map: Mapping[str, str | None] | None) -> np.ndarray:
    """(n_model_labels,) index into EMOTIONS per model output, -1 where the output is ignored."""
    index = np.full(len(id2label), -1, dtype=np.int64)
    for i in range(len(id2label)):
        name = str(id2label[i])
        if label_map is not None:
            target = label_map.get(name, label_map.get(str(i)))
        else:
            target = _KNOWN.get(name.strip().lower())
        if target is None:
            continue
        if target not in EMOTIONS:
            raise LabelMapError(f"label_map sends {name!r} to {target!r}, which is not one of {EMOTIONS}")
        index[i] = EMOTIONS.index(target)
    if (index < 0).all():
        raise LabelMapError(
            f"none of the model's labels {list(id2label.values())} maps onto {EMOTIONS}; "
            "pass label_map={model_label: emotion}"
        )
    return index


def map_probs(model_probs: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(n, n_model_labels) -> (n, 7): sum per emotion over mapped labels, renormalised."""
    out = np.zeros((model_probs.shape[0], len(EMOTIONS)))
    for j, e in enumerate(index):
        if e >= 0:
            out[:, e] += model_probs[:, j]
    total = out.sum(1, keepdims=True)
    uniform = np.full_like(out, 1.0 / len(EMOTIONS))
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), uniform)


def read_labels(config: Any, label_map: Mapping[str, str | None] | None) -> tuple[Any, bool]:
    """(index onto EMOTIONS, multi-label?) from an HF classification model's config."""
    index = build_label_index(config.id2label, label_map)
    return index, getattr(config, "problem_type", None) == "multi_label_classification"


class HFTextEmotionAnalyzer:
    modality = "text"

    def __init__(
        self,
        *,
        model: str | None = None,
        label_map: Mapping[str, str | None] | None = None,
        max_tokens: int = 512,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        if not model:
            raise BadSetting(
                "HFTextEmotionAnalyzer needs model=<local folder or cached HF id>; set "
                "COMPANION_ANALYZERS__TEXT_OPTIONS='{\"model\": \"...\"}' or use the default text "
                "analyzer 'minilm'"
            )
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        loading.torch_threads(threads)
        self._tokenizer, self._model = loading.from_pretrained_offline(
            model, "text", AutoTokenizer, AutoModelForSequenceClassification
        )
        self._model.eval()
        config = self._model.config
        self._index, self._multi_label = read_labels(config, label_map)
        limit = min(int(max_tokens), int(getattr(self._tokenizer, "model_max_length", 512) or 512), 512)
        self.max_tokens = limit
        self.batch_size = max(1, int(batch_size))
        self.source = f"hf:{getattr(config, 'name_or_path', None) or model}"

    def analyze(self, text: str) -> EmotionEstimate | None:
        text = check_text(text)
        return None if text is None else self.analyze_batch([text])[0]

    def analyze_batch(self, texts: Sequence[str]) -> list[EmotionEstimate | None]:
        checked = check_texts(texts)
        keep = [i for i, t in enumerate(checked) if t is not None]
        out: list[EmotionEstimate | None] = [None] * len(checked)
        if keep:
            probs = self._infer(self._prepare([checked[i] for i in keep]))
            for i, p in zip(keep, probs):
                out[i] = _to_estimate(p, self.source)
        return out

    def _prepare(self, texts: list[str]) -> list[dict]:
        return [
            self._tokenizer(
                texts[b : b + self.batch_size],
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="pt",
            )
            for b in range(0, len(texts), self.batch_size)
        ]

    def _infer(self, batches: list[dict]) -> np.ndarray:
        import torch

        rows = []
        with torch.inference_mode():
            for enc in batches:
                logits = self._model(**enc).logits.float()
                p = torch.sigmoid(logits) if self._multi_label else torch.softmax(logits, -1)
                rows.append(p.numpy())
        return map_probs(np.concatenate(rows), self._index)


def _to_estimate(probs: np.ndarray, source: str) -> EmotionEstimate:
    mapping = dict(zip(EMOTIONS, probs.tolist()))
    valence, arousal = circumplex_position(mapping)
    return EmotionEstimate(
        modality="text", probs=mapping, valence=valence, arousal=arousal, confidence=float(probs.max()), source=source
    )
