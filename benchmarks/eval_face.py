"""FER2013 public-test accuracy of the face expression models.

    python -m companion eval face [--data DIR] [--no-flip]
    python -m benchmarks.eval_face

Scores the face crops straight (FER2013 images are already aligned 48x48 faces, so detection
is not part of this number; `python -m companion bench face` times detection + expression).
Prints accuracy, per-class recall and the confusion matrix of the ported mini-Xception, the
trained FerNet (the shipped default) and the two-FerNet ensemble, each with and without mirror
test-time augmentation (the analyzer uses the mirror by default: the "+flip" rows).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from pipelines.training.face_metrics import score_models

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets"


def format_table(scores: dict, classes: tuple[str, ...]) -> str:
    short = [c[:5] for c in classes]
    lines = [
        f"{'model':22s} {'acc':>6s} {'macroR':>6s}  " + " ".join(f"{c:>5s}" for c in short),
        "-" * (38 + 6 * len(classes)),
    ]
    for name, s in scores.items():
        lines.append(
            f"{name:22s} {s['accuracy']:6.4f} {s['macro_recall']:6.4f}  " + " ".join(f"{r:5.3f}" for r in s["recall"])
        )
    return "\n".join(lines)


def format_confusion(name: str, confusion: list[list[int]], classes: tuple[str, ...]) -> str:
    short = [c[:5] for c in classes]
    lines = [
        f"confusion matrix, {name} (rows: true, columns: predicted)",
        f"{'':>8s}" + "".join(f"{c:>7s}" for c in short),
    ]
    lines += [f"{short[i]:>8s}" + "".join(f"{v:7d}" for v in row) for i, row in enumerate(confusion)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion eval face", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding fer2013/")
    parser.add_argument("--no-flip", action="store_true", help="skip the mirror test-time augmentation rows")
    parser.add_argument("--limit", type=int, default=0, help="score a fixed random N of the test images (quick look)")
    args = parser.parse_args(argv)
    from pipelines.face_models import FER_CLASSES

    path = args.data / "fer2013" / "fer2013_publictest.npz"
    if not path.exists():
        print(f"{path} not found: pass --data DIR (the folder holding fer2013/)", file=sys.stderr)
        return 2
    blob = np.load(path)
    images, labels = blob["images"], blob["labels"].astype(np.int64)
    if args.limit:  # the split is sorted by class, so a prefix would be all "angry"
        keep = np.sort(np.random.default_rng(0).permutation(len(labels))[: args.limit])
        images, labels = images[keep], labels[keep]
    scores = score_models(images, labels, flips=(False,) if args.no_flip else (False, True))
    print(f"FER2013 public test: {len(labels)} faces; recall per class ({', '.join(FER_CLASSES)})\n")
    print(format_table(scores, FER_CLASSES))
    shown = [n for n in scores if n.endswith("+flip")] or list(scores)
    for name in shown:
        print()
        print(format_confusion(name, scores[name]["confusion"], FER_CLASSES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
