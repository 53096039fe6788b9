"""Fake camera and microphone inputs for Chromium, made from real data shipped in wheels:
skimage.data.astronaut() (a real photo of a face) and espeak-ng speech."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

SENTENCE = "I feel a bit tired today"


def write_y4m(path: Path, rgb: np.ndarray, frames: int = 1, fps: int = 30) -> Path:
    """A YUV4MPEG2 (4:2:0) video Chromium can play as a fake webcam; it loops the frames."""
    import cv2

    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        rgb = rgb[: h - h % 2, : w - w % 2]
        h, w = rgb.shape[:2]
    i420 = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420).tobytes()
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(i420)
    return path


def face_video(path: Path) -> Path:
    from skimage import data

    return write_y4m(path, data.astronaut())


def blank_video(path: Path) -> Path:
    """A plain grey picture: a camera that sees no face."""
    return write_y4m(path, np.full((480, 640, 3), 128, np.uint8))


def speech_wav(path: Path, text: str = SENTENCE, pad_s: float = 1.0) -> Path:
    """`text` spoken by espeak-ng, then `pad_s` of silence (Chromium loops the fake microphone file)."""
    import soundfile as sf

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed: apt-get install espeak-ng")
    raw = path.with_suffix(".raw.wav")
    subprocess.run([espeak, "-s", "150", "-w", str(raw), text], check=True, capture_output=True)
    samples, rate = sf.read(str(raw), dtype="int16")
    raw.unlink()
    pad = np.zeros(int(pad_s * rate), np.int16)
    sf.write(str(path), np.concatenate([pad[: rate // 4], samples, pad]), rate, subtype="PCM_16")
    return path
