"""Any Hugging Face image-classification model as the face emotion analyzer.

    COMPANION_ANALYZERS__FACE=hf
    COMPANION_ANALYZERS__FACE_OPTIONS='{"model": "/models/vit-face-expression", "label_map": {"happy": "joy"}}'

Faces are found as in pipelines/face.py (Haar cascade, largest face, None when there is none);
the RGB face crop goes through the model's own image processor. Labels map onto EMOTIONS as
for the text backend (pipelines/text_hf.py): `label_map` {model label: emotion or None}, or
common names when no map is given. Models load offline: a local folder or an id in the cache.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from companion.errors import BadSetting
from pipelines import loading
from pipelines.face import FaceReader
from pipelines.text_hf import LabelMapError, map_probs, read_labels  # noqa: F401  (LabelMapError re-exported)


class HFFaceEmotionAnalyzer(FaceReader):
    def __init__(
        self,
        *,
        model: str | None = None,
        label_map: Mapping[str, str | None] | None = None,
        detect_size: int = 400,
        min_face: int = 24,
        margin: float = 0.1,
        batch_size: int = 16,
        threads: int | None = None,
    ) -> None:
        if not model:
            raise BadSetting(
                "HFFaceEmotionAnalyzer needs model=<local folder or cached HF id>; set "
                "COMPANION_ANALYZERS__FACE_OPTIONS='{\"model\": \"...\"}' or use the default face "
                "analyzer 'cnn'"
            )
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        from pipelines.face_detect import HaarDetector

        loading.torch_threads(threads)
        self._processor, self._model = loading.from_pretrained_offline(
            model, "image", AutoImageProcessor, AutoModelForImageClassification
        )
        self._model.eval()
        config = self._model.config
        self._index, self._multi_label = read_labels(config, label_map)
        self.detector = HaarDetector(detect_size=detect_size, min_face=min_face)
        self.margin, self.batch_size = float(margin), max(1, int(batch_size))
        self.source = f"hf:{getattr(config, 'name_or_path', None) or model}"

    def _whole(self, rgb: np.ndarray) -> np.ndarray:
        from pipelines.face_detect import downscale

        return downscale(rgb, 512)[0]

    def _crop(self, rgb: np.ndarray, box: Sequence[int]) -> np.ndarray:
        from pipelines.face_detect import crop

        return crop(rgb, box, self.margin)

    def _infer(self, crops: list[np.ndarray]) -> np.ndarray:
        """RGB crops -> (N, 7) probabilities in EMOTIONS order."""
        import torch

        rows = []
        with torch.inference_mode():
            for b in range(0, len(crops), self.batch_size):
                inputs = self._processor(images=crops[b : b + self.batch_size], return_tensors="pt")
                logits = self._model(**inputs).logits.float()
                rows.append((torch.sigmoid(logits) if self._multi_label else torch.softmax(logits, -1)).numpy())
        return map_probs(np.concatenate(rows), self._index)
