"""Any Hugging Face image-classification model as the face emotion analyzer.

    COMPANION_ANALYZERS__FACE=hf
    COMPANION_ANALYZERS__FACE_OPTIONS='{"model": "/models/vit-face-expression", "label_map": {"happy": "joy"}}'

Faces are found as in pipelines/face.py (Haar cascade, largest face, None when there is none);
the RGB face crop goes through the model's own image processor. Labels map onto EMOTIONS as
for the text backend (pipelines/text_hf.py): `label_map` {model label: emotion or None}, or
common names when no map is given. Models load offline: a local folder or an id in the cache.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from companion.types import EmotionEstimate
from pipelines import loading
from pipelines.face import _to_estimate
from pipelines.text_hf import LabelMapError, build_label_index, map_probs  # noqa: F401  (re-exported)


class HFFaceEmotionAnalyzer:
    modality = "face"

    def __init__(self, *, model: str | None = None, label_map: Mapping[str, str | None] | None = None,
                 detect_size: int = 400, min_face: int = 24, margin: float = 0.1, batch_size: int = 16,
                 threads: int | None = None) -> None:
        if not model:
            raise ValueError("HFFaceEmotionAnalyzer needs model=<local folder or cached HF id>; set "
                             "COMPANION_ANALYZERS__FACE_OPTIONS='{\"model\": \"...\"}' or use the default face "
                             "analyzer 'cnn'")
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        from pipelines.face_detect import HaarDetector

        loading.torch_threads(threads)
        try:
            self._processor = AutoImageProcessor.from_pretrained(model)
            self._model = AutoModelForImageClassification.from_pretrained(model).eval()
        except OSError as err:
            raise loading.MissingModel(f"cannot load image model {model!r} offline ({err}); download it once "
                                       "into a folder and pass that folder") from err
        config = self._model.config
        self._index = build_label_index(config.id2label, label_map)
        self._multi_label = getattr(config, "problem_type", None) == "multi_label_classification"
        self.detector = HaarDetector(detect_size=detect_size, min_face=min_face)
        self.margin, self.batch_size = float(margin), max(1, int(batch_size))
        self.source = f"hf:{getattr(config, 'name_or_path', None) or model}"

    def analyze(self, image: Any, detect: bool = True) -> EmotionEstimate | None:
        """RGB image (array, PIL image or file path) -> estimate of the largest face, or None."""
        return self.analyze_batch([image], detect=detect)[0]

    def analyze_batch(self, images: Sequence[Any], detect: bool = True) -> list[EmotionEstimate | None]:
        if isinstance(images, np.ndarray) and images.ndim == 4:
            images = list(images)
        prepared = [self._prepare(image, detect) for image in images]
        crops = [p[0] for p in prepared if p is not None]
        probs = iter(self._infer(crops)) if crops else iter(())
        return [None if p is None else _to_estimate(next(probs), p[1], self.source) for p in prepared]

    def _prepare(self, image: Any, detect: bool) -> tuple[np.ndarray, dict] | None:
        from companion.errors import InvalidInput
        from pipelines.face_detect import MIN_CROP_SIDE, crop, downscale, to_rgb

        rgb = to_rgb(image)
        if not detect:
            h, w = rgb.shape[:2]
            if min(h, w) < MIN_CROP_SIDE:
                raise InvalidInput(f"face crop is {w} x {h} pixels; an already-cropped face needs at least "
                                   f"{MIN_CROP_SIDE} px a side")
            return downscale(rgb, 512)[0], {"faces": 1, "box": [0, 0, int(w), int(h)], "detected": False}
        boxes = self.detector.detect(rgb)
        if not boxes:
            return None
        return crop(rgb, boxes[0], self.margin), {"faces": len(boxes), "box": [int(v) for v in boxes[0]],
                                                  "detected": True}

    def _infer(self, crops: list[np.ndarray]) -> np.ndarray:
        """RGB crops -> (N, 7) probabilities in EMOTIONS order."""
        import torch

        rows = []
        with torch.inference_mode():
            for b in range(0, len(crops), self.batch_size):
                inputs = self._processor(images=crops[b:b + self.batch_size], return_tensors="pt")
                logits = self._model(**inputs).logits.float()
                rows.append((torch.sigmoid(logits) if self._multi_label else torch.softmax(logits, -1)).numpy())
        return map_probs(np.concatenate(rows), self._index)
