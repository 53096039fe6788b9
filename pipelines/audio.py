"""Audio in: (sample_rate, samples) or a file path -> mono float32 at 16 kHz.

One place decides how odd input is handled, so the transcriber and the voice analyzer
agree: int16/int32/uint8 are scaled to [-1, 1], stereo is averaged, any rate is resampled
to 16 kHz, NaN/inf and undecodable files raise AudioError (a ValueError) saying what to do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from companion.errors import CompanionError

SAMPLE_RATE = 16_000
MIN_RATE, MAX_RATE = 4_000, 384_000
SILENCE_PEAK = 1e-3  # ~ -60 dBFS: below this peak a clip counts as silence
_MAX_CHANNELS = 8


class AudioError(CompanionError, ValueError):
    """The audio could not be read or makes no sense as audio."""


def load(signal: Any, *, max_seconds: float | None = None, keep: str = "start") -> np.ndarray:
    """Decode `signal` into mono float32 samples at 16 kHz.

    signal: (sample_rate, samples) as Gradio gives it (int16 or float, shape (n,), (n, ch) or
    (ch, n)), or a path to an audio file (wav, flac, ogg, mp3: whatever libsndfile reads).
    max_seconds: keep only this much audio, from the start (keep="start") or the end ("end");
    cut *before* resampling so a 10-minute upload costs no more than the part we use.
    """
    if isinstance(signal, (str, os.PathLike)):
        rate, samples = _read_file(Path(signal))
    elif isinstance(signal, (tuple, list)) and len(signal) == 2:
        rate, samples = signal
    else:
        raise AudioError(f"audio must be (sample_rate, samples) or a file path, got {type(signal).__name__}")
    rate = _check_rate(rate)
    mono = to_mono_float(samples)
    if max_seconds is not None and len(mono) > int(max_seconds * rate):
        n = int(max_seconds * rate)
        mono = mono[:n] if keep == "start" else mono[-n:]
    return resample(mono, rate)


def _read_file(path: Path) -> tuple[int, np.ndarray]:
    import soundfile as sf

    if not path.is_file():
        raise AudioError(f"audio file {str(path)!r} does not exist")
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=False)
    except Exception as exc:  # libsndfile raises its own error types for every bad file
        raise AudioError(f"could not decode {str(path)!r} as audio ({exc}); use a WAV, FLAC, OGG or MP3 file") from None
    return rate, samples


def _check_rate(rate: Any) -> int:
    try:
        value = int(rate)
    except (TypeError, ValueError, OverflowError):  # inf overflows int()
        raise AudioError(f"sample rate must be an integer number of Hz, got {rate!r}") from None
    if value != rate or not MIN_RATE <= value <= MAX_RATE:
        raise AudioError(
            f"sample rate {rate!r} Hz is not usable; expected {MIN_RATE}..{MAX_RATE} Hz (e.g. 16000, 44100, 48000)"
        )
    return value


def to_mono_float(samples: Any) -> np.ndarray:
    """Scale integer PCM to [-1, 1] and average channels; reject NaN/inf and empty shapes."""
    arr = np.asarray(samples)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise AudioError(f"audio samples must be numbers, got dtype {arr.dtype}")
    if arr.ndim == 2 and arr.size == 0:  # (n, 0) or (0, ch): no samples, i.e. silence
        return np.zeros(0, np.float32)
    if arr.ndim == 2:
        # Gradio gives (n, channels); some libraries give (channels, n): the short side is channels.
        axis = 1 if arr.shape[1] <= arr.shape[0] else 0
        if arr.shape[axis] > _MAX_CHANNELS:
            raise AudioError(f"audio of shape {arr.shape} has too many channels; pass (n,) or (n, channels)")
        arr = arr.astype(np.float64).mean(axis=axis) if _is_float(arr) else _scale_int(arr).mean(axis=axis)
    elif arr.ndim == 1:
        arr = arr.astype(np.float64) if _is_float(arr) else _scale_int(arr)
    elif arr.ndim == 0 or arr.size == 0:
        return np.zeros(0, np.float32)
    else:
        raise AudioError(f"audio samples must be 1-D or 2-D (n, channels), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise AudioError(f"audio contains {bad} NaN/inf samples; the recording is corrupt, record it again")
    peak = float(np.max(np.abs(arr))) if arr.size else 0.0
    if peak > 2.0:
        # Float samples on the int16 scale (e.g. a float copy of PCM): bring them to [-1, 1].
        arr = arr / 32768.0 if peak <= 32768.0 * 1.01 else arr / peak
    return np.clip(arr, -1.0, 1.0).astype(np.float32)


def _is_float(arr: np.ndarray) -> bool:
    return np.issubdtype(arr.dtype, np.floating)


def _scale_int(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == bool:
        return arr.astype(np.float64)
    info = np.iinfo(arr.dtype)
    if info.min == 0:  # unsigned PCM (8-bit WAV) is centred on the middle of its range
        mid = (info.max + 1) / 2.0
        return (arr.astype(np.float64) - mid) / mid
    return arr.astype(np.float64) / float(-info.min)


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    if rate == target or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    import soxr  # librosa's own resampler backend; fast and good

    return soxr.resample(samples, rate, target, quality="HQ").astype(np.float32)


def is_silent(samples: np.ndarray, threshold: float = SILENCE_PEAK) -> bool:
    return len(samples) == 0 or float(np.max(np.abs(samples))) < threshold


def sample_rate() -> int:
    """The rate `load` resamples to (a function, so callers reach it through the registry)."""
    return SAMPLE_RATE


def duration_s(samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    return len(samples) / float(rate)


class single_blas_thread:
    """Context manager: numpy's BLAS runs on one thread inside it. Our matrices are small
    (a mel filterbank, a 161-feature linear head), and on a busy 2-core machine OpenBLAS
    spinning up its threads for them made feature extraction 3-4x slower (docs/voice.md)."""

    _controller = None

    def __enter__(self):
        try:
            if single_blas_thread._controller is None:
                from threadpoolctl import ThreadpoolController

                single_blas_thread._controller = ThreadpoolController()
            self._limit = single_blas_thread._controller.limit(limits=1, user_api="blas")
        except ImportError:  # threadpoolctl comes with scikit-learn; without it, just run
            self._limit = None
        return self

    def __exit__(self, *exc) -> None:
        if self._limit is not None:
            self._limit.restore_original_limits()
