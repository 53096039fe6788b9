"""Images in, face boxes and grey face crops out: input checks and OpenCV Haar detection.

Convention: arrays are RGB (what Gradio and PIL give), H x W x 3 uint8. Grey (H x W or
H x W x 1) and RGBA (alpha dropped) are accepted too, as are float arrays in [0, 1] or [0, 255],
16-bit arrays, PIL images, encoded bytes and file paths (decoded with OpenCV, then turned to RGB).
BGR passed by mistake is not detectable and does little harm: the models read grey, and BGR only
swaps the red and blue weights of the grey conversion (0.299 <-> 0.114).
Images up to MAX_SIDE pixels a side are accepted; detection always runs on a copy whose longer
side is at most `detect_size`, and only the face region of the full image is cropped and resized.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from companion.errors import InvalidInput
from pipelines.loading import MissingModel

MAX_SIDE = 16_384  # larger images are refused (a 10,000 x 10,000 photo is fine: it is downscaled)
MIN_CROP_SIDE = 8  # an already-cropped face smaller than this carries no expression
CASCADE = "haarcascade_frontalface_default.xml"
Box = tuple[int, int, int, int]  # x, y, w, h in the input image's pixels


class ImageError(InvalidInput):
    """An image that cannot be read as a picture (wrong type, shape, values or file)."""


def to_rgb(image: Any) -> np.ndarray:
    """Any accepted image form -> RGB uint8 H x W x 3 (no copy when it already is one)."""
    if isinstance(image, (str, os.PathLike)):
        return _read_file(Path(image))
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _decode(np.frombuffer(image, np.uint8), "the bytes given")
    if hasattr(image, "convert") and hasattr(image, "size") and not isinstance(image, np.ndarray):
        image = np.asarray(image.convert("RGB"))  # PIL image
    if not isinstance(image, np.ndarray):
        try:
            image = np.asarray(image)
        except Exception as exc:  # any failure here means "not an image"
            raise ImageError(
                f"expected an RGB image array, a PIL image or a file path, got {type(image).__name__} ({exc})"
            ) from None
    return _array_to_rgb(image)


def _read_file(path: Path) -> np.ndarray:
    if not path.is_file():
        raise ImageError(
            f"image file {str(path)!r} does not exist (or is a folder): pass an existing image file or an RGB array"
        )
    return _decode(np.fromfile(path, np.uint8), repr(str(path)))


def _decode(raw: np.ndarray, what: str) -> np.ndarray:
    bgr = cv2.imdecode(raw, cv2.IMREAD_COLOR) if raw.size else None
    if bgr is None:
        raise ImageError(
            f"{what} is not a readable image (corrupt, empty, or not JPEG/PNG/BMP/WebP...); "
            "pass an image file or an RGB array"
        )
    return _check_size(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def _array_to_rgb(a: np.ndarray) -> np.ndarray:
    if a.dtype == object or a.dtype.kind not in "uifb":
        raise ImageError(f"image array has dtype {a.dtype}; expected uint8 RGB (or numbers of another dtype)")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ImageError(f"image array has shape {a.shape}; expected H x W x 3 RGB, H x W x 4 RGBA or H x W grey")
    _check_size(a)
    a = _to_uint8(a)
    if a.ndim == 2:
        return cv2.cvtColor(a, cv2.COLOR_GRAY2RGB)
    if a.shape[2] == 4:
        return np.ascontiguousarray(a[:, :, :3])  # alpha dropped: webcams and PNGs send opaque pixels anyway
    return a


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ImageError(
                "image array contains NaN or infinite values; pass finite pixel values (uint8 0-255 or float 0-1)"
            )
        top = float(a.max()) if a.size else 0.0
        return np.clip(a * 255.0 if top <= 1.0 else a, 0, 255).astype(np.uint8)
    if a.dtype == np.uint16:
        return (a >> 8).astype(np.uint8)
    return np.clip(a, 0, 255).astype(np.uint8)


def _check_size(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[:2]
    if h == 0 or w == 0:
        raise ImageError(f"image is empty ({h} x {w} pixels)")
    if max(h, w) > MAX_SIDE:
        raise ImageError(f"image is {w} x {h} pixels; the limit is {MAX_SIDE} a side: downscale it first")
    return a


def grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def downscale(rgb: np.ndarray, longest: int) -> tuple[np.ndarray, float]:
    """Copy whose longer side is at most `longest`, and the factor back to input pixels (>= 1)."""
    h, w = rgb.shape[:2]
    scale = max(h, w) / longest
    if scale <= 1.0:
        return rgb, 1.0
    size = (max(1, round(w / scale)), max(1, round(h / scale)))
    if scale > 8:  # a huge photo: subsample first, so INTER_AREA does not read every pixel
        step = int(scale // 4)
        rgb = rgb[::step, ::step]
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


class HaarDetector:
    """OpenCV's frontal-face Haar cascade on a downscaled grey copy (fast: a few ms per frame)."""

    def __init__(self, detect_size: int = 400, min_face: int = 24, scale_factor: float = 1.2, min_neighbors: int = 5):
        path = os.path.join(cv2.data.haarcascades, CASCADE)
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise MissingModel(f"OpenCV cascade {path} is missing: reinstall opencv-python<5")
        self.detect_size, self.min_face = int(detect_size), int(min_face)
        self.scale_factor, self.min_neighbors = float(scale_factor), int(min_neighbors)
        self._lock = threading.Lock()  # CascadeClassifier is not documented as thread-safe

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Face boxes in input pixels, largest first."""
        small, scale = downscale(rgb, self.detect_size)
        g = grey(small)  # no histogram equalisation: it cost hits and added false faces in our sweep
        if min(g.shape) < self.min_face:
            return []
        with self._lock:
            found = self.cascade.detectMultiScale(
                g,
                scaleFactor=self.scale_factor,
                minNeighbors=self.min_neighbors,
                minSize=(self.min_face, self.min_face),
            )
        boxes = [tuple(int(round(v * scale)) for v in box) for box in np.asarray(found).reshape(-1, 4)]
        return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def crop(rgb: np.ndarray, box: Box, margin: float) -> np.ndarray:
    """RGB crop of `box` widened by `margin` of its size on each side (FER2013 faces include the
    forehead and chin, Haar boxes are tighter); parts outside the image repeat the edge pixels."""
    x, y, w, h = box
    dx, dy = int(round(w * margin)), int(round(h * margin))
    x0, y0, x1, y1 = x - dx, y - dy, x + w + dx, y + h + dy
    H, W = rgb.shape[:2]
    face = np.ascontiguousarray(rgb[max(0, y0) : min(H, y1), max(0, x0) : min(W, x1)])
    pads = (max(0, -y0), max(0, y1 - H), max(0, -x0), max(0, x1 - W))
    return cv2.copyMakeBorder(face, *pads, cv2.BORDER_REPLICATE) if any(pads) else face


def crop_grey(rgb: np.ndarray, box: Box, margin: float) -> np.ndarray:
    return grey(crop(rgb, box, margin))
