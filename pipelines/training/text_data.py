"""GoEmotions (Ekman + neutral) and EmoBank readers for the text heads and their evaluation."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from companion.errors import CompanionError
from companion.types import EMOTIONS

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


class MissingData(CompanionError, FileNotFoundError):
    """A dataset file the command needs is not where --data points."""


def data_file(data_dir: Path, *parts: str) -> Path:
    path = Path(data_dir).joinpath(*parts)
    if not path.exists():
        raise MissingData(
            f"{path} not found; point --data at the folder holding goemotions/ and emobank/ (default {DEFAULT_DATA})"
        )
    return path


@dataclass
class GoEmotions:
    """One split. `gold[i]` is the set of Ekman labels (EMOTIONS indices) of row i; `target[i]`
    spreads probability 1 evenly over it (how multi-label rows train: see docs/text.md)."""

    texts: list[str]
    gold: list[frozenset[int]]

    @property
    def target(self) -> np.ndarray:
        out = np.zeros((len(self.gold), len(EMOTIONS)), np.float32)
        for i, labels in enumerate(self.gold):
            out[i, list(labels)] = 1.0 / len(labels)
        return out

    @property
    def single(self) -> np.ndarray:
        """Mask of rows with exactly one Ekman label (where a confusion matrix is well defined)."""
        return np.array([len(g) == 1 for g in self.gold])


def goemotions(data_dir: Path, split: str) -> GoEmotions:
    folder = data_file(data_dir, "goemotions")
    names = data_file(folder, "emotions.txt").read_text().split()
    ekman = json.loads(data_file(folder, "ekman_mapping.json").read_text())
    to_ekman = {fine: EMOTIONS.index(coarse) for coarse, fines in ekman.items() for fine in fines}
    to_ekman["neutral"] = EMOTIONS.index("neutral")
    texts, gold = [], []
    with open(data_file(folder, f"{split}.tsv"), newline="", encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            texts.append(row[0])
            gold.append(frozenset(to_ekman[names[int(i)]] for i in row[1].split(",")))
    return GoEmotions(texts, gold)


@dataclass
class EmoBank:
    texts: list[str]
    affect: np.ndarray  # (n, 2): valence, arousal mapped from 1..5 to -1..1


def emobank(data_dir: Path, split: str) -> EmoBank:
    """split: 'train' or 'dev' (the file's own split column)."""
    texts, affect = [], []
    with open(data_file(data_dir, "emobank", "emobank_train_dev.csv"), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["split"] == split and row["text"].strip():
                texts.append(row["text"])
                affect.append(((float(row["V"]) - 3.0) / 2.0, (float(row["A"]) - 3.0) / 2.0))
    return EmoBank(texts, np.asarray(affect, np.float32))


def split_off(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled (fit, held-out) index arrays."""
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * (1 - fraction)))
    return np.sort(order[:cut]), np.sort(order[cut:])
