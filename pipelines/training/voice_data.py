"""RAVDESS speech clips and their acoustic features (cached outside the repository).

File names are MM-VC-EE-II-SS-RR-AA.flac: EE emotion (01 neutral .. 08 surprised), II
intensity (01 normal, 02 strong), AA actor (odd = male). Features come from the same
pipelines.voice_features.extract the analyzer runs, on the same 16 kHz mono audio.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.voice_model import RAVDESS_LABELS

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "datasets"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "companion"

# (valence, arousal) targets per RAVDESS class for a strong rendition, after the circumplex
# table in companion.types; calm is neutral with low arousal. A normal-intensity rendition
# sits at 0.6 of the way from neutral.
VA_TARGETS = {
    "neutral": (0.0, 0.0),
    "calm": (0.1, -0.5),
    "happy": (0.8, 0.5),
    "sad": (-0.7, -0.4),
    "angry": (-0.6, 0.7),
    "fearful": (-0.7, 0.6),
    "disgust": (-0.7, 0.2),
    "surprised": (0.2, 0.8),
}
NORMAL_INTENSITY = 0.6


@dataclass(frozen=True)
class Corpus:
    paths: tuple[Path, ...]
    X: np.ndarray  # (n, d) acoustic features, FEATURE_NAMES order
    labels: np.ndarray  # (n,) index into RAVDESS_LABELS
    intensity: np.ndarray  # (n,) 1 normal, 2 strong
    actors: np.ndarray  # (n,) 1..24
    E: np.ndarray | None = None  # (n, 2h) Whisper-encoder embeddings (mean, std over time)
    encoder: str | None = None
    X_nb: np.ndarray | None = None  # the same clips through an 8 kHz (telephone, Bluetooth) channel
    E_nb: np.ndarray | None = None

    def va_targets(self) -> np.ndarray:
        va = np.array([VA_TARGETS[RAVDESS_LABELS[k]] for k in self.labels], np.float64)
        return va * np.where(self.intensity == 2, 1.0, NORMAL_INTENSITY)[:, None]


def list_clips(data: Path) -> list[Path]:
    root = Path(data) / "ravdess-speech-16k"
    paths = sorted(root.glob("Actor_*/*.flac"))
    if not paths:
        raise SystemExit(f"no RAVDESS clips under {root}: pass --data DIR (the folder holding ravdess-speech-16k/)")
    return paths


def parse_name(path: Path) -> tuple[int, int, int]:
    """(label index 0..7, intensity 1|2, actor 1..24) from a RAVDESS file name."""
    parts = [int(p) for p in path.stem.split("-")]
    if len(parts) != 7 or not 1 <= parts[2] <= 8:
        raise ValueError(f"{path.name} is not a RAVDESS file name (MM-VC-EE-II-SS-RR-AA)")
    return parts[2] - 1, parts[3], parts[6]


def _code_version(*modules) -> str:
    """Changes whenever the feature code changes, so a stale cache is never reused."""
    source = "".join(inspect.getsource(m) for m in modules)
    return hashlib.sha1(source.encode()).hexdigest()[:12]


def load_corpus(
    data: Path, *, encoder: str | None = "tiny.en", cache: Path | None = CACHE_DIR, progress: bool = True
) -> Corpus:
    """All clips with acoustic features and (encoder given) Whisper embeddings; extraction
    (~2-4 min on 2 cores) is cached under `cache`, keyed by the clip list and the code."""
    from pipelines import audio, voice_embedding, voice_features

    paths = list_clips(data)
    meta = np.array([parse_name(p) for p in paths])
    names = "\n".join(p.name for p in paths)
    version = _code_version(voice_features, audio)
    channels = {"": audio.load, "nb_": lambda p: narrowband(audio.load(p))}
    X, E = {}, {}
    for tag, read in channels.items():
        X[tag] = _cached(
            cache,
            f"{tag}features",
            names + version,
            lambda read=read, tag=tag: np.array(  # called at once, in this iteration
                [_features(voice_features, read(p), p) for p in _progress(paths, f"{tag}acoustic features", progress)]
            ),
        )
        if encoder:

            def embed(read=read, tag=tag) -> np.ndarray:  # called at once, in this iteration
                model = voice_embedding.WhisperEncoder(model=encoder)
                return np.array(
                    [model.embed(read(p)) for p in _progress(paths, f"{tag}{encoder} embeddings", progress)]
                )

            E[tag] = _cached(
                cache, f"{tag}emb_{encoder}", names + encoder + _code_version(voice_embedding, audio) + version, embed
            )
    return Corpus(tuple(paths), X[""], meta[:, 0], meta[:, 1], meta[:, 2], E.get(""), encoder, X["nb_"], E.get("nb_"))


def narrowband(samples: np.ndarray) -> np.ndarray:
    """What a telephone or Bluetooth headset (8 kHz) leaves of a 16 kHz clip."""
    from pipelines import audio

    return audio.resample(audio.resample(samples, 16_000, 8_000), 8_000, 16_000)


def _features(voice_features, samples: np.ndarray, path: Path) -> np.ndarray:
    features = voice_features.extract(samples)
    if features is None:
        raise SystemExit(f"{path} has no detectable speech: the feature extractor needs fixing")
    return voice_features.vector(features)


def _progress(items, desc: str, show: bool):
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="clip", disable=not show)


def _cached(cache: Path | None, kind: str, key: str, compute) -> np.ndarray:
    path = cache / f"ravdess_{kind}_{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz" if cache else None
    if path and path.exists():
        return np.load(path)["X"]
    values = compute()
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, X=values)
    return values


def actor_folds(actors: np.ndarray, n_folds: int = 6) -> np.ndarray:
    """Fold index per clip: actors 1-4 in fold 0, 5-8 in fold 1, ... (two men and two women
    each, since odd ids are male). No actor is ever on both sides of a split."""
    ids = np.unique(actors)
    per = int(np.ceil(len(ids) / n_folds))
    lookup = {a: i // per for i, a in enumerate(ids)}
    return np.array([lookup[a] for a in actors])


def centre_by_actor(X: np.ndarray, actors: np.ndarray) -> np.ndarray:
    """Each actor's features minus the mean of all that actor's clips (labels are not used)."""
    out = X.copy()
    for actor in np.unique(actors):
        rows = actors == actor
        out[rows] -= X[rows].mean(axis=0)
    return out
