"""FaceEmotionAnalyzer on real photographs (scikit-image's bundled pictures) and on bad input."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from skimage import data as photos

from companion.errors import InvalidInput
from companion.types import EMOTIONS
from pipelines.face import MODELS, FaceEmotionAnalyzer, _to_estimate
from pipelines.training.face import DEFAULT_DATA


@pytest.fixture(scope="module")
def analyzer() -> FaceEmotionAnalyzer:
    return FaceEmotionAnalyzer()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return photos.astronaut()  # Eileen Collins, smiling, 512 x 512 RGB


def test_smiling_astronaut_reads_joy(analyzer, astronaut):
    est = analyzer.analyze(astronaut)
    assert est is not None and est.modality == "face"
    assert est.label == "joy" and est.probs["joy"] > 0.5
    assert est.valence > 0.3 and est.confidence > 0.3
    assert est.details["faces"] == 1 and est.details["detected"] is True
    x, y, w, h = est.details["box"]
    assert 150 < x < 220 and 40 < y < 100 and 70 < w < 140  # her face, not the flag or the suit
    assert abs(sum(est.probs.values()) - 1) < 1e-6 and set(est.probs) == set(EMOTIONS)


@pytest.mark.parametrize("name", ["coffee", "rocket", "chelsea"])
def test_pictures_without_a_face_give_none(analyzer, name):
    assert analyzer.analyze(getattr(photos, name)()) is None


@pytest.mark.parametrize("model", MODELS)
def test_every_model_reads_the_smile(model, astronaut):
    est = FaceEmotionAnalyzer(model=model).analyze(astronaut)
    assert est.label == "joy" and est.details["model"] == model


def test_largest_face_drives_and_faces_are_counted(analyzer, astronaut):
    head = astronaut[30:250, 120:340]  # 220 x 220 around her face
    frame = np.full((480, 640, 3), 200, np.uint8)  # a webcam-sized frame with two people
    frame[100:320, 20:240] = head
    frame[150:304, 400:554] = cv2.resize(head, (154, 154))
    est = analyzer.analyze(frame)
    assert est.details["faces"] == 2
    x, y, w, h = est.details["box"]
    assert x < 240 and w > 70  # the bigger, left face


def test_already_cropped_face(analyzer, astronaut):
    x, y, w, h = analyzer.analyze(astronaut).details["box"]
    est = analyzer.analyze(astronaut[y - 10 : y + h + 10, x - 10 : x + w + 10], detect=False)
    assert est.label == "joy" and est.details == {
        "faces": 1,
        "box": [0, 0, w + 20, h + 20],
        "detected": False,
        "model": analyzer.model_name,
    }


@pytest.mark.skipif(not (DEFAULT_DATA / "fer2013").exists(), reason="FER2013 not in ../shared/datasets")
def test_crop_path_scores_fer2013_faces(analyzer):
    blob = np.load(DEFAULT_DATA / "fer2013" / "fer2013_publictest.npz")
    images, labels = blob["images"][::12], blob["labels"][::12]  # the split is sorted by class: stride it
    fer_to_ours = {0: "anger", 1: "disgust", 2: "fear", 3: "joy", 4: "sadness", 5: "surprise", 6: "neutral"}
    got = [e.label for e in analyzer.analyze_batch(list(images), detect=False)]
    accuracy = np.mean([g == fer_to_ours[int(t)] for g, t in zip(got, labels)])
    assert accuracy > 0.6  # always "joy" scores 0.25; the shipped model scores 0.70 on the full split


def test_batch_mixes_faces_and_none(analyzer, astronaut):
    out = analyzer.analyze_batch([astronaut, photos.coffee(), astronaut[:, ::-1]])
    assert out[0].label == "joy" and out[1] is None and out[2].label == "joy"
    assert analyzer.analyze_batch([]) == []
    stacked = analyzer.analyze_batch(np.stack([astronaut, astronaut]))
    assert [e.label for e in stacked] == ["joy", "joy"]


@pytest.mark.parametrize("form", ["grey", "grey1", "rgba", "bgr", "float01", "float255", "uint16", "pil"])
def test_other_image_forms(analyzer, astronaut, form):
    from PIL import Image

    image = {
        "grey": cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY),
        "grey1": cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[:, :, None],
        "rgba": np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)]),
        "bgr": astronaut[:, :, ::-1],  # wrong convention: still a face, still a smile
        "float01": astronaut / 255.0,
        "float255": astronaut.astype(np.float32),
        "uint16": astronaut.astype(np.uint16) * 257,
        "pil": Image.fromarray(astronaut),
    }[form]
    assert analyzer.analyze(image).label == "joy"


def test_file_paths_and_bytes(analyzer, astronaut, tmp_path):
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    from_file, from_array = analyzer.analyze(path), analyzer.analyze(astronaut)
    assert from_file.label == "joy" and from_file.details["box"] == from_array.details["box"]
    assert analyzer.analyze(str(path)).label == "joy"
    assert analyzer.analyze(path.read_bytes()).label == "joy"


@pytest.mark.parametrize(
    "content",
    [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4],
)
def test_corrupt_files_raise_a_clear_error(analyzer, tmp_path, content):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(content)
    with pytest.raises(InvalidInput, match="not a readable image"):
        analyzer.analyze(bad)


def test_missing_file_and_folder(analyzer, tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        analyzer.analyze(tmp_path / "nope.png")
    with pytest.raises(InvalidInput, match="does not exist"):
        analyzer.analyze(tmp_path)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full((64, 64, 3), np.nan), "NaN"),
        (np.full((64, 64), np.inf, np.float32), "NaN or infinite"),
        (np.zeros((64, 64, 2), np.uint8), "shape"),
        (np.zeros(100, np.uint8), "shape"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.array([[object()]]), "dtype"),
        (None, "dtype"),
        (np.zeros((16_385, 4, 3), np.uint8), "limit is 16384"),
    ],
)
def test_bad_arrays_raise_invalid_input(analyzer, bad, match):
    with pytest.raises(InvalidInput, match=match):
        analyzer.analyze(bad)


def test_tiny_images(analyzer):
    one = np.zeros((1, 1, 3), np.uint8)
    assert analyzer.analyze(one) is None  # nothing can be detected in a pixel
    with pytest.raises(InvalidInput, match="at least 8 px"):
        analyzer.analyze(one, detect=False)
    assert analyzer.analyze(np.zeros((5, 500, 3), np.uint8)) is None


def test_huge_image_is_downscaled_not_refused(analyzer, astronaut):
    huge = cv2.resize(astronaut, (10_000, 10_000), interpolation=cv2.INTER_NEAREST)
    est = analyzer.analyze(huge)
    assert est.label == "joy"
    x, y, w, h = est.details["box"]
    assert 2_900 < x < 4_300 and 1_000 < w < 2_800  # box in the big image's pixels


def test_to_estimate_is_pure_and_maps_the_circumplex():
    uniform = _to_estimate(np.full(7, 1 / 7), {"faces": 1}, "face:test")
    assert uniform.confidence == pytest.approx(0.0) and uniform.label in EMOTIONS
    sad = _to_estimate(np.array([0, 0, 1, 0, 0, 0, 0.0]), {"faces": 1}, "face:test")
    assert sad.label == "sadness" and sad.valence < 0 and sad.confidence == pytest.approx(1.0)
    assert sad.details["faces"] == 1 and sad.source == "face:test"


def test_bad_options(astronaut):
    with pytest.raises(InvalidInput, match="unknown face model"):
        FaceEmotionAnalyzer(model="resnet9000")
    with pytest.raises(InvalidInput, match="margin"):
        FaceEmotionAnalyzer(margin=3)


def test_registered_as_default_face_backend():
    from companion.registry import resolve

    assert resolve("face", "cnn") is FaceEmotionAnalyzer


def test_import_loads_nothing_heavy():
    code = "import sys, pipelines.face; print(sorted(m for m in ('torch', 'cv2', 'h5py') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_random_arrays_never_crash(analyzer):
    """Any array of numbers is an estimate, None, or InvalidInput: nothing else escapes."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    dtypes = st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_])
    shapes = st.one_of(
        st.tuples(st.integers(0, 40), st.integers(0, 40)),
        st.tuples(st.integers(0, 40), st.integers(0, 40), st.sampled_from([1, 2, 3, 4, 5])),
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(arrays(dtypes, shapes), st.booleans())
    def check(image, detect):
        try:
            est = analyzer.analyze(image, detect=detect)
        except InvalidInput:
            return
        assert est is None or (est.modality == "face" and abs(sum(est.probs.values()) - 1) < 1e-6)

    check()
