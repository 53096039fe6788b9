"""Train the voice emotion head on RAVDESS speech; score it actor-independently.

    python -m pipelines.training.voice                 # ~2-4 min on 2 cores (features cached after)
    python -m pipelines.training.voice --data DIR --out /tmp/voice --folds 6

Scores come from 6-fold cross-validation by actor (4 actors a fold, never on both sides);
the shipped model is then fitted on all 24 actors. Writes model.npz, metrics.json and
README.md to --out (default pipelines/weights/voice/). The analyzer only reads model.npz.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import numpy as np

from pipelines.training.voice_data import (
    CACHE_DIR,
    DEFAULT_DATA,
    REPO,
    Corpus,
    actor_folds,
    centre_by_actor,
    load_corpus,
)
from pipelines.voice_features import ABSOLUTE, FEATURE_NAMES
from pipelines.voice_model import RAVDESS_LABELS, TO_EMOTION, LinearHead, VoiceModel, update_baseline

DEFAULT_OUT = REPO / "pipelines" / "weights" / "voice"
C = 0.1  # logistic-regression inverse regularisation (chosen from 0.01/0.1/1, see docs/voice.md)
RIDGE = 30.0  # valence/arousal ridge penalty
SHRINK_K = 3.0  # baseline turns at which the speaker head gets half the weight
EMB_DIMS = 64  # principal components of the Whisper embedding kept (and kept in the baseline)
STREAM_BINS = ((1, 1), (2, 3), (4, 10), (11, 30), (31, 60))


def fit_head(
    X: np.ndarray,
    y: np.ndarray,
    va: np.ndarray,
    *,
    c: float = C,
    ridge: float = RIDGE,
    ignore: np.ndarray | None = None,
) -> LinearHead:
    """Standardise, then logistic regression and ridge; `ignore` (a column mask) gets weight 0."""
    from sklearn.linear_model import LogisticRegression, Ridge

    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-8
    Z = (X - mean) / scale
    if ignore is not None:
        Z[:, ignore], scale[ignore] = 0.0, 1.0
    clf = LogisticRegression(C=c, max_iter=3000).fit(Z, y)
    reg = Ridge(alpha=ridge).fit(Z, va)
    W, va_W = clf.coef_.copy(), reg.coef_.copy()
    if ignore is not None:
        W[:, ignore], va_W[:, ignore] = 0.0, 0.0
    return LinearHead(mean=mean, scale=scale, W=W, b=clf.intercept_, va_W=va_W, va_b=reg.intercept_)


def fit_model(
    corpus: Corpus,
    rows: np.ndarray,
    *,
    c: float = C,
    shrink_k: float = SHRINK_K,
    emb_dims: int = EMB_DIMS,
    augment: bool = True,
) -> VoiceModel:
    """Both heads on the clips in `rows` (a boolean mask), plus their narrowband copies when
    `augment`; the embedding's PCA too. Each (actor, channel) is centred on its own mean for
    the speaker head: a user on a headset has a headset baseline."""
    proj_mean = proj_W = None
    names = FEATURE_NAMES
    channels = [(corpus.X, corpus.E)] + ([(corpus.X_nb, corpus.E_nb)] if augment and corpus.X_nb is not None else [])
    if corpus.E is not None and emb_dims:
        E = np.vstack([e[rows] for _, e in channels])
        proj_mean = E.mean(axis=0).astype(np.float64)
        _, _, vt = np.linalg.svd(E - proj_mean, full_matrices=False)
        proj_W = vt[:emb_dims] * np.sign(vt[:emb_dims, :1])  # fixed signs: reproducible files
        names = FEATURE_NAMES + tuple(f"emb{i}" for i in range(emb_dims))
    X = np.vstack([model_inputs(x, e, proj_mean, proj_W)[rows] for x, e in channels])
    k = len(channels)
    y, va = np.tile(corpus.labels[rows], k), np.tile(corpus.va_targets()[rows], (k, 1))
    speakers = np.concatenate([corpus.actors[rows] + 1000 * i for i in range(k)])
    absolute = np.array([name in ABSOLUTE for name in names])
    return VoiceModel(
        names=names,
        pop_mean=X.mean(axis=0),
        pop_std=X.std(axis=0),
        global_head=fit_head(X, y, va, c=c, ignore=absolute),
        speaker_head=fit_head(centre_by_actor(X, speakers), y, va, c=c),
        shrink_k=shrink_k,
        proj_mean=proj_mean,
        proj_W=proj_W,
        meta={
            "name": f"ravdess-lr-{corpus.encoder or 'acoustic'}",
            "encoder": corpus.encoder if proj_W is not None else None,
            "data": "RAVDESS speech (24 actors, 1440 clips, 16 kHz)" + (" + 8 kHz copies" if k > 1 else ""),
            "classes": list(RAVDESS_LABELS),
            "to_emotion": TO_EMOTION,
            "C": c,
            "ridge": RIDGE,
            "emb_dims": emb_dims if proj_W is not None else 0,
            "features": "pipelines.voice_features (+ pipelines.voice_embedding)",
        },
    )


def model_inputs(
    X: np.ndarray, E: np.ndarray | None, proj_mean: np.ndarray | None, proj_W: np.ndarray | None
) -> np.ndarray:
    if proj_W is None:
        return X
    return np.hstack([X, (E - proj_mean) @ proj_W.T])


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The softmax temperature that minimises held-out log-loss (calibration)."""

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(z)), labels]))

    grid = np.exp(np.linspace(np.log(0.3), np.log(10.0), 120))
    return float(grid[np.argmin([nll(t) for t in grid])])


def _baseline_of(X: np.ndarray, names: tuple[str, ...]) -> dict:
    """The baseline a user would have after these turns (update_baseline, in this order)."""
    baseline = None
    for x in X:
        baseline = update_baseline(baseline, dict(zip(names, x.tolist())))
    return baseline


def cross_validate(
    corpus: Corpus, *, n_folds: int = 6, seed: int = 0, progress: bool = True, shrink_k: float = SHRINK_K
) -> tuple[dict, dict]:
    """Out-of-fold predictions under these conditions for the test actor:
    no_baseline   - a new user: the global head alone;
    own_clips     - baseline = all the actor's clips, unlabeled, folded in with update_baseline
                    (a user after ~60 turns);
    streaming     - the actor's clips in a random order, each analysed with the baseline of the
                    turns before it (what a user sees from turn 1), by turn number;
    narrowband_*  - the same clips through an 8 kHz channel (telephone, Bluetooth headset).
    Also returns the out-of-fold logits of each head, for temperature calibration."""
    from tqdm import tqdm

    folds = actor_folds(corpus.actors, n_folds)
    n = len(corpus.X)
    names = ("no_baseline", "own_clips", "streaming", "narrowband_no_baseline", "narrowband_own_clips")
    probs = {k: np.zeros((n, len(RAVDESS_LABELS))) for k in names}
    va = {k: np.zeros((n, 2)) for k in names}
    logits = {"global": np.zeros((n, len(RAVDESS_LABELS))), "speaker": np.zeros((n, len(RAVDESS_LABELS)))}
    turn = np.zeros(n, int)
    rng = np.random.default_rng(seed)
    for fold in tqdm(range(n_folds), desc="cross-validation", unit="fold", disable=not progress):
        model = fit_model(corpus, folds != fold, shrink_k=shrink_k)
        inputs = model_inputs(corpus.X, corpus.E, model.proj_mean, model.proj_W)
        narrow = (
            model_inputs(corpus.X_nb, corpus.E_nb, model.proj_mean, model.proj_W) if corpus.X_nb is not None else None
        )
        for actor in np.unique(corpus.actors[folds == fold]):
            rows = np.flatnonzero(corpus.actors == actor)
            X = inputs[rows]
            probs["no_baseline"][rows], va["no_baseline"][rows], _ = model.predict(X)
            logits["global"][rows] = model.global_head.logits(X)
            logits["speaker"][rows] = model.speaker_head.logits(X - X.mean(axis=0))
            # Exponential averaging forgets the order's start, so average the own-clips
            # baseline over two orders rather than trusting one.
            for prefix, data in (("", X), ("narrowband_", None if narrow is None else narrow[rows])):
                if data is None:
                    continue
                if prefix:
                    probs[prefix + "no_baseline"][rows], va[prefix + "no_baseline"][rows], _ = model.predict(data)
                p_own, va_own = 0.0, 0.0
                for _ in range(2):
                    p, v, _ = model.predict(data, _baseline_of(data[rng.permutation(len(data))], model.names))
                    p_own, va_own = p_own + p / 2, va_own + v / 2
                probs[prefix + "own_clips"][rows], va[prefix + "own_clips"][rows] = p_own, va_own
            order = rng.permutation(len(rows))
            baseline = None
            for t, i in enumerate(order):
                p, v, _ = model.predict(X[i], baseline)
                probs["streaming"][rows[i]], va["streaming"][rows[i]], turn[rows[i]] = p[0], v[0], t + 1
                baseline = update_baseline(baseline, dict(zip(model.names, X[i].tolist())))
    targets = corpus.va_targets()
    out = {
        name: score(probs[name], corpus.labels, va[name], targets)
        for name in names
        if name in ("no_baseline", "own_clips", "streaming") or corpus.X_nb is not None
    }
    out["streaming"]["by_turn"] = {
        f"{lo}-{hi}": round(
            float(
                (
                    probs["streaming"][(turn >= lo) & (turn <= hi)].argmax(1)
                    == corpus.labels[(turn >= lo) & (turn <= hi)]
                ).mean()
            ),
            4,
        )
        for lo, hi in STREAM_BINS
    }
    return out, logits


def to_seven(probs8: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Collapse RAVDESS probabilities onto the companion's EMOTIONS (calm -> neutral)."""
    from companion.types import EMOTIONS

    out = np.zeros((len(probs8), len(EMOTIONS)))
    for j, label in enumerate(RAVDESS_LABELS):
        out[:, EMOTIONS.index(TO_EMOTION[label])] += probs8[:, j]
    return out, EMOTIONS


def score(probs8: np.ndarray, labels: np.ndarray, va: np.ndarray, va_true: np.ndarray) -> dict:
    from companion.types import EMOTIONS

    pred = probs8.argmax(1)
    confusion = np.zeros((8, 8), int)
    np.add.at(confusion, (labels, pred), 1)
    recall = confusion.diagonal() / np.maximum(confusion.sum(1), 1)
    p7, _ = to_seven(probs8)
    y7 = np.array([EMOTIONS.index(TO_EMOTION[RAVDESS_LABELS[k]]) for k in labels])
    return {
        "accuracy_8": round(float((pred == labels).mean()), 4),
        "accuracy_7": round(float((p7.argmax(1) == y7).mean()), 4),
        "macro_recall_8": round(float(recall.mean()), 4),
        "recall_8": {label: round(float(r), 4) for label, r in zip(RAVDESS_LABELS, recall)},
        "confusion_8": confusion.tolist(),
        "valence_r": round(float(np.corrcoef(va[:, 0], va_true[:, 0])[0, 1]), 4),
        "arousal_r": round(float(np.corrcoef(va[:, 1], va_true[:, 1])[0, 1]), 4),
    }


def write_readme(out: Path, metrics: dict) -> None:
    cv = metrics["cross_validation"]
    rows = "\n".join(
        f"| {name} | {m['accuracy_8']:.3f} | {m['accuracy_7']:.3f} | {m['macro_recall_8']:.3f} | "
        f"{m['arousal_r']:.2f} | {m['valence_r']:.2f} |"
        for name, m in cv.items()
    )
    turns = " · ".join(f"turns {k}: {v:.3f}" for k, v in cv["streaming"]["by_turn"].items())
    (out / "README.md").write_text(f"""# Voice emotion head (RAVDESS)

`model.npz`: two standardiser + logistic-regression heads (8 RAVDESS classes) with ridge
valence/arousal outputs, over the {len(FEATURE_NAMES)} acoustic features of `pipelines/voice_features.py`
plus the first {metrics['emb_dims']} principal components of the Whisper {metrics['encoder']} encoder embedding
(`pipelines/voice_embedding.py`); numpy arrays only (no pickle), run by `pipelines/voice_model.py`.
See docs/voice.md.

**Licence: CC BY-NC-SA 4.0, non-commercial.** These weights are derived from RAVDESS
(Livingstone & Russo 2018, https://doi.org/10.1371/journal.pone.0196391), released under
CC BY-NC-SA 4.0, and inherit its terms: attribution, non-commercial use only, share-alike.
Replace them (retrain on data you may use commercially) before any commercial use.

## Data
RAVDESS speech, audio only, 16 kHz mono: 24 actors x 60 clips, 8 emotions (calm is mapped
to neutral for the companion). Read from `../shared/datasets/ravdess-speech-16k`; never copied here.

## Scores (actor-independent, {metrics['folds']}-fold cross-validation by actor, 4 actors a fold)
| condition | acc 8-class | acc 7 (mapped) | macro recall | arousal r | valence r |
|---|---|---|---|---|---|
{rows}

no_baseline: a new user. own_clips: the test actor's baseline built from all their own clips,
unlabeled (update_baseline over them: a user after ~60 turns). streaming: each clip analysed
with the baseline of the actor's earlier clips in a random order; by turn: {turns}.
narrowband_*: the same, with the test clips passed through an 8 kHz channel (telephone or
Bluetooth headset). Training adds an 8 kHz copy of every training clip.
Probabilities are temperature-calibrated on the out-of-fold predictions
(global head T = {metrics['temperatures']['global']:.2f}, speaker head T = {metrics['temperatures']['speaker']:.2f}).

## Retrain
`python -m pipelines.training.voice` (seed {metrics['seed']}, ~{metrics['seconds']:.0f} s here;
features cached under ~/.cache/companion). Trained {metrics['trained_at']} on {metrics['machine']}.
""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding ravdess-speech-16k/")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--folds", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cache", action="store_true", help="re-extract features")
    parser.add_argument("--encoder", default="tiny.en", help="Whisper model for embeddings: tiny.en, base or none")
    args = parser.parse_args(argv)
    start = time.time()
    np.random.seed(args.seed)
    corpus = load_corpus(
        args.data, encoder=None if args.encoder == "none" else args.encoder, cache=None if args.no_cache else CACHE_DIR
    )
    cv, logits = cross_validate(corpus, n_folds=args.folds, seed=args.seed)
    temperatures = {head: fit_temperature(z, corpus.labels) for head, z in logits.items()}
    model = fit_model(corpus, np.ones(len(corpus.X), bool))
    model = dataclasses.replace(
        model,
        global_head=dataclasses.replace(model.global_head, temperature=temperatures["global"]),
        speaker_head=dataclasses.replace(model.speaker_head, temperature=temperatures["speaker"]),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(args.out / "model.npz")
    metrics = {
        "folds": args.folds,
        "seed": args.seed,
        "clips": len(corpus.X),
        "features": len(model.names),
        "encoder": corpus.encoder,
        "emb_dims": model.meta["emb_dims"],
        "C": C,
        "ridge": RIDGE,
        "shrink_k": SHRINK_K,
        "temperatures": temperatures,
        "cross_validation": cv,
        "seconds": round(time.time() - start, 1),
        "trained_at": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {platform.python_version()}",
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_readme(args.out, metrics)
    for name, m in cv.items():
        print(
            f"{name:12s} acc8 {m['accuracy_8']:.3f}  acc7 {m['accuracy_7']:.3f}  arousal r {m['arousal_r']:.2f}"
            f"  valence r {m['valence_r']:.2f}"
        )
    print("streaming by turn:", cv["streaming"]["by_turn"])
    print(f"wrote {args.out / 'model.npz'} ({(args.out / 'model.npz').stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
