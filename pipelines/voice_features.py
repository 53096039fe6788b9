"""Acoustic features of one utterance: pitch, energy, timing, spectral shape, MFCC statistics.

Everything here is plain numpy (one STFT, one YIN pass, one mel filterbank) so a 4-second clip
costs a few milliseconds and nothing is JIT-compiled on the first call (librosa.yin/pyin go
through numba, which takes ~20 s to compile on a small machine). librosa provides only the
mel filterbank. Statistics are taken over *active* frames (speech, not the silence around it),
so a clip padded with silence gives the same features.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SR = 16_000
HOP = 160  # 10 ms
N_FFT = 512  # 32 ms analysis window for spectra
PITCH_FRAME = 640  # 40 ms window for YIN (two periods of 55 Hz nearly fit)
FMIN, FMAX = 55.0, 500.0  # deep male voices reach 60 Hz; shouting and children 500 Hz
YIN_THRESHOLD = 0.15  # the classic YIN dip threshold
VOICED_MAX_CMND = 0.35  # a frame with no dip below this is unvoiced
N_MELS, N_MFCC = 40, 20
SILENT_LEVEL_DB = -65.0  # dBFS: a clip whose loud frames are quieter than this has no speech
ACTIVE_RANGE_DB = 35.0  # frames this far below the clip's loud frames are pauses (relative,
# so the same clip at any microphone gain has the same active frames)
MIN_ACTIVE_FRAMES = 15  # 150 ms of sound; less is "no speech"
TARGET_LEVEL_DB = -20.0  # loud frames are brought to this level before any feature is taken

PROSODY = (
    "pitch_mean_hz",
    "pitch_mean_st",
    "pitch_std",
    "pitch_p10_st",
    "pitch_p90_st",
    "pitch_range_st",
    "pitch_slope",
    "pitch_delta",
    "voiced_fraction",
    "periodicity",
    "energy_db",
    "energy_std",
    "energy_p90",
    "energy_range",
    "energy_slope",
    "energy_delta",
    "rate",
    "pause_fraction",
    "active_s",
)
SPECTRAL = (
    "centroid_hz",
    "bandwidth_hz",
    "rolloff_hz",
    "flatness",
    "flux",
    "high_share",
    "alpha_ratio",
    "hammarberg",
    "low_high_db",
)
FEATURE_NAMES: tuple[str, ...] = (
    PROSODY
    + tuple(f"{n}_{s}" for n in SPECTRAL for s in ("mean", "std"))
    + tuple(f"mfcc{i}_{s}" for s in ("mean", "std", "dstd") for i in range(N_MFCC))
)
# Depends on the microphone's gain, so it means something only against the same user's
# baseline: the global (new-user) head ignores it, the speaker head uses it.
ABSOLUTE = ("energy_db",)
# The ones people can read, shown in EmotionEstimate.details["summary"].
SUMMARY = (
    "pitch_mean_hz",
    "pitch_std",
    "pitch_range_st",
    "energy_db",
    "energy_std",
    "rate",
    "voiced_fraction",
    "pause_fraction",
    "centroid_hz_mean",
)


@lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS, fmin=50.0, fmax=7600.0).astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(N_FFT).astype(np.float32)


@lru_cache(maxsize=1)
def _dct_matrix() -> np.ndarray:
    # Orthonormal DCT-II, as librosa.feature.mfcc uses.
    n = np.arange(N_MELS)
    k = np.arange(N_MFCC)[:, None]
    basis = np.cos(np.pi / N_MELS * (n + 0.5) * k) * np.sqrt(2.0 / N_MELS)
    basis[0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def _frames(y: np.ndarray, length: int) -> np.ndarray:
    pad = np.pad(y, (length // 2, length // 2))
    n = 1 + (len(pad) - length) // HOP
    return np.lib.stride_tricks.sliding_window_view(pad, length)[::HOP][:n]


def yin(y: np.ndarray, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per 10 ms frame: f0 in Hz and the YIN dip depth (cumulative-mean-normalised difference,
    0 = perfectly periodic). Vectorised with FFT cross-correlation. `keep`: a boolean mask of
    the frames worth analysing (the others get f0 0 and dip 1), which halves the cost."""
    from scipy import fft

    max_tau, min_tau = int(SR / FMIN), int(SR / FMAX)
    frames = _frames(y.astype(np.float32), PITCH_FRAME)
    n_all = len(frames)
    if keep is not None:
        keep = keep[:n_all]
        frames = frames[np.flatnonzero(keep)]
    width = PITCH_FRAME - max_tau
    nfft = 1024
    cross = fft.irfft(fft.rfft(frames, nfft) * np.conj(fft.rfft(frames[:, :width], nfft)), nfft)[
        :, : max_tau + 1
    ].astype(np.float64)
    frames = frames.astype(np.float64)
    sq = np.cumsum(np.pad(frames**2, ((0, 0), (1, 0))), axis=1)
    energy0 = sq[:, width : width + 1]
    energy_tau = sq[:, width : width + max_tau + 1] - sq[:, : max_tau + 1]
    diff = np.maximum(energy0 + energy_tau - 2.0 * cross, 0.0)
    cum = np.cumsum(diff[:, 1:], axis=1)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * np.arange(1, max_tau + 1) / np.maximum(cum, 1e-12)
    search = cmnd[:, min_tau:max_tau]
    # First dip under the threshold that is a local minimum, else the global minimum.
    local_min = np.zeros_like(search, dtype=bool)
    local_min[:, 1:-1] = (search[:, 1:-1] <= search[:, :-2]) & (search[:, 1:-1] <= search[:, 2:])
    below = (search < YIN_THRESHOLD) & local_min
    first = np.where(below.any(axis=1), below.argmax(axis=1), search.argmin(axis=1))
    rows = np.arange(len(search))
    tau = first + min_tau
    # Parabolic interpolation around the dip for sub-sample accuracy.
    left = cmnd[rows, np.clip(tau - 1, 1, max_tau)]
    mid = cmnd[rows, tau]
    right = cmnd[rows, np.clip(tau + 1, 1, max_tau)]
    denom = left - 2 * mid + right
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
    f0 = SR / (tau + np.clip(shift, -1, 1))
    if keep is None:
        return f0.astype(np.float32), mid.astype(np.float32)
    f0_all, dip_all = np.zeros(n_all, np.float32), np.ones(n_all, np.float32)
    f0_all[keep], dip_all[keep] = f0, mid
    return f0_all, dip_all


def fix_octaves(f0: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """YIN jumps an octave up or down on some frames (a strong second harmonic, creak); fold
    such frames back towards the utterance's median pitch, then smooth with a 5-frame median
    inside voiced runs. Measured against librosa.pyin on synthetic and RAVDESS speech."""
    f0 = f0.copy()
    median = float(np.median(f0[voiced]))
    for _ in range(2):
        f0 = np.where(voiced & (f0 > 1.6 * median), f0 / 2, f0)
        f0 = np.where(voiced & (f0 < 0.625 * median), f0 * 2, f0)
    padded = np.pad(np.where(voiced, f0, np.nan), 2, constant_values=np.nan)
    window = np.lib.stride_tricks.sliding_window_view(padded, 5)
    smooth = np.nanmedian(np.where(np.isnan(window).all(axis=1, keepdims=True), 0.0, window), axis=1)
    return np.where(voiced, smooth, f0).astype(np.float32)


def _slope(values: np.ndarray) -> float:
    if len(values) < 3:
        return 0.0
    t = np.arange(len(values)) * (HOP / SR)
    return float(np.polyfit(t, values, 1)[0])


def _stats(x: np.ndarray) -> tuple[float, float]:
    return (float(np.mean(x)), float(np.std(x))) if len(x) else (0.0, 0.0)


def _frame_db(y: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.mean(_frames(y, 400) ** 2, axis=1) + 1e-10)


def normalise_level(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale so the clip's loud frames (95th percentile of 25-ms frame energy) sit at
    TARGET_LEVEL_DB; return the scaled clip and its original loud-frame level in dBFS.
    Every feature (and the Whisper embedding) is taken after this, so a quiet microphone
    and a loud one give the same reading; only `energy_db` keeps the absolute level."""
    y = np.asarray(y, dtype=np.float32)
    if len(y) == 0:
        return y, -100.0
    y = y - float(np.mean(y))
    level = float(np.percentile(_frame_db(y), 95))
    if level < SILENT_LEVEL_DB:
        return y, level
    return (y * np.float32(10 ** ((TARGET_LEVEL_DB - level) / 20))).astype(np.float32), level


def extract(y: np.ndarray) -> dict[str, float] | None:
    """Features of mono float32 16 kHz speech, in FEATURE_NAMES order; None when there is no
    speech (too little sound, or sound with no voiced frames: silence, hum, noise)."""
    if len(y) < PITCH_FRAME:
        return None
    y, level = normalise_level(y)
    if level < SILENT_LEVEL_DB:
        return None
    gain = TARGET_LEVEL_DB - level
    from scipy import fft

    # float64: squared float32 magnitudes of near-silence are denormals, which are ~100x slower.
    spec = np.abs(fft.rfft(_frames(y, N_FFT) * _window(), N_FFT)).astype(np.float64) ** 2
    n = len(spec)
    frame_db = _frame_db(y)[:n]
    active = frame_db > TARGET_LEVEL_DB - ACTIVE_RANGE_DB
    if active.sum() < MIN_ACTIVE_FRAMES:
        return None
    f0, dip = yin(y, active)
    f0, dip = f0[:n], dip[:n]
    voiced = active & (dip < VOICED_MAX_CMND) & (f0 > FMIN * 1.05) & (f0 < FMAX * 0.95)
    if voiced.sum() < 5:
        return None
    f0 = fix_octaves(f0, voiced)
    idx = np.flatnonzero(active)
    span = slice(idx[0], idx[-1] + 1)  # from the first to the last sound: pauses inside count
    st = 12 * np.log2(f0[voiced] / 100.0)  # semitones re 100 Hz
    consecutive = voiced[1:] & voiced[:-1]
    st_all = 12 * np.log2(np.maximum(f0, 1.0) / 100.0)
    act_db = frame_db[active]
    out: dict[str, float] = {
        "pitch_mean_hz": float(np.mean(f0[voiced])),
        "pitch_mean_st": float(np.mean(st)),
        "pitch_std": float(np.std(st)),
        "pitch_p10_st": float(np.percentile(st, 10)),
        "pitch_p90_st": float(np.percentile(st, 90)),
        "pitch_range_st": float(np.percentile(st, 90) - np.percentile(st, 10)),
        "pitch_slope": _slope(st),
        "pitch_delta": float(np.mean(np.abs(np.diff(st_all)[consecutive]))) if consecutive.any() else 0.0,
        "voiced_fraction": float(voiced.sum() / active.sum()),
        "periodicity": float(1.0 - np.mean(dip[voiced])),
        "energy_db": float(np.mean(act_db) - gain),  # absolute: dBFS before normalise_level
        "energy_std": float(np.std(act_db)),
        "energy_p90": float(np.percentile(act_db, 90)),
        "energy_range": float(np.percentile(act_db, 90) - np.percentile(act_db, 10)),
        "energy_slope": _slope(act_db),
        "energy_delta": float(np.mean(np.abs(np.diff(frame_db[span])))),
        "rate": _syllable_rate(frame_db, voiced, span),
        "pause_fraction": float(1.0 - active[span].mean()),
        "active_s": float(active.sum() * HOP / SR),
    }
    out.update(_spectral(spec[active]))
    out.update(_mfcc(spec[span], active[span]))
    return out


def _syllable_rate(frame_db: np.ndarray, voiced: np.ndarray, span: slice) -> float:
    """Syllable nuclei per second: peaks of the smoothed loudness contour inside voiced stretches."""
    from scipy.signal import find_peaks

    db = np.convolve(frame_db[span], np.ones(5) / 5, mode="same")
    peaks, _ = find_peaks(db, prominence=2.0, distance=8)
    nuclei = int(voiced[span][peaks].sum())
    seconds = max((span.stop - span.start) * HOP / SR, 0.1)
    return nuclei / seconds


def _spectral(power: np.ndarray) -> dict[str, float]:
    freqs = np.linspace(0, SR / 2, power.shape[1])
    total = power.sum(axis=1) + 1e-12
    centroid = (power * freqs).sum(axis=1) / total
    bandwidth = np.sqrt((power * (freqs - centroid[:, None]) ** 2).sum(axis=1) / total)
    rolloff = freqs[np.minimum((np.cumsum(power, axis=1) < 0.85 * total[:, None]).sum(axis=1), len(freqs) - 1)]
    logp = np.log(power + 1e-12)
    flatness = np.exp(logp.mean(axis=1)) / (power.mean(axis=1) + 1e-12)
    mag = np.sqrt(power)
    flux = np.r_[0.0, np.sqrt((np.diff(mag, axis=0).clip(min=0) ** 2).sum(axis=1)) / (mag[1:].sum(axis=1) + 1e-9)]
    high_share = power[:, freqs > 3000].sum(axis=1) / total
    band = lambda lo, hi: power[:, (freqs >= lo) & (freqs < hi)]  # noqa: E731 - a one-line helper reads better inline
    alpha = 10 * np.log10((band(50, 1000).sum(axis=1) + 1e-12) / (band(1000, 5000).sum(axis=1) + 1e-12))
    hammarberg = 10 * np.log10((band(0, 2000).max(axis=1) + 1e-12) / (band(2000, 5000).max(axis=1) + 1e-12))
    low_high = 10 * np.log10((band(0, 500).sum(axis=1) + 1e-12) / (band(500, 1500).sum(axis=1) + 1e-12))
    out: dict[str, float] = {}
    for name, values in zip(
        SPECTRAL, (centroid, bandwidth, rolloff, flatness, flux, high_share, alpha, hammarberg, low_high)
    ):
        out[f"{name}_mean"], out[f"{name}_std"] = _stats(values)
    return out


def _mfcc(power: np.ndarray, active: np.ndarray) -> dict[str, float]:
    mel = np.log(power @ _mel_basis().T + 1e-10)
    mfcc = mel @ _dct_matrix().T
    delta = np.gradient(mfcc, axis=0) if len(mfcc) > 1 else np.zeros_like(mfcc)
    mfcc, delta = mfcc[active], delta[active]
    values = np.concatenate([mfcc.mean(axis=0), mfcc.std(axis=0), delta.std(axis=0)]).tolist()
    names = [f"mfcc{i}_{s}" for s in ("mean", "std", "dstd") for i in range(N_MFCC)]
    return dict(zip(names, values))


def vector(features: dict[str, float]) -> np.ndarray:
    return np.array([features[name] for name in FEATURE_NAMES], dtype=np.float64)
