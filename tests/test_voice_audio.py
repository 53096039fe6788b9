"""pipelines.audio: every odd input becomes mono float32 16 kHz, or a clear ValueError."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import audio


def tone(rate: int, seconds: float = 1.0, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize("rate", [8_000, 16_000, 22_050, 44_100, 48_000])
def test_any_rate_becomes_16k_with_the_same_duration_and_pitch(rate):
    out = audio.load((rate, tone(rate)))
    assert out.dtype == np.float32 and abs(len(out) - 16_000) <= 2
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 16_000 / len(out) - 220.0) < 3.0


def test_int16_and_float_give_the_same_samples():
    x = tone(16_000)
    pcm = (x * 32767).astype(np.int16)
    assert np.allclose(audio.load((16_000, pcm)), x, atol=1e-3)


def test_stereo_either_layout_is_averaged():
    x = tone(16_000)
    both = np.stack([x, np.zeros_like(x)], axis=1)
    assert np.allclose(audio.load((16_000, both)), x / 2, atol=1e-6)
    assert np.allclose(audio.load((16_000, both.T)), x / 2, atol=1e-6)


def test_unsigned_8bit_pcm_is_centred():
    pcm = np.full(1_000, 128, np.uint8)
    assert np.allclose(audio.load((16_000, pcm)), 0.0)


def test_float_samples_on_the_int16_scale_are_rescaled_and_clipping_is_bounded():
    x = tone(16_000) * 32767
    assert np.max(np.abs(audio.load((16_000, x)))) <= 1.0
    clipped = np.clip(tone(16_000) * 10, -1, 1)
    assert np.max(np.abs(audio.load((16_000, clipped)))) <= 1.0


def test_max_seconds_keeps_the_start_or_the_end():
    x = np.concatenate([np.zeros(16_000, np.float32), np.ones(16_000, np.float32) * 0.5])
    assert np.all(audio.load((16_000, x), max_seconds=1.0, keep="start") == 0)
    assert np.allclose(audio.load((16_000, x), max_seconds=1.0, keep="end"), 0.5)


def test_file_paths_are_decoded(tmp_path):
    import soundfile as sf

    path = tmp_path / "clip.flac"
    sf.write(path, tone(44_100), 44_100)
    assert abs(len(audio.load(str(path))) - 16_000) <= 2
    assert abs(len(audio.load(path)) - 16_000) <= 2


@pytest.mark.parametrize(
    "signal, message",
    [
        ((16_000, np.array([0.1, np.nan, 0.2])), "NaN"),
        ((16_000, np.array([0.1, np.inf])), "NaN"),
        ((0, tone(16_000)), "sample rate"),
        ((16_000.5, tone(16_000)), "sample rate"),
        (("fast", tone(16_000)), "sample rate"),
        ((16_000, np.array(["a", "b"])), "numbers"),
        ((16_000, np.zeros((3, 3, 3))), "1-D or 2-D"),
        ((16_000, np.zeros((100, 50))), "channels"),
        (12345, "sample_rate, samples"),
        ("/no/such/file.wav", "does not exist"),
    ],
)
def test_bad_input_raises_audio_error(signal, message):
    with pytest.raises(audio.AudioError, match=message):
        audio.load(signal)
    assert issubclass(audio.AudioError, ValueError)


def test_a_text_file_is_not_audio(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_bytes(b"RIFF but not really a wave file")
    with pytest.raises(audio.AudioError, match="could not decode"):
        audio.load(path)


def test_empty_and_silent_input():
    assert audio.load((16_000, np.zeros(0, np.int16))).size == 0
    assert audio.load((16_000, np.zeros((2000, 0), np.float32))).size == 0
    assert audio.load((16_000, np.zeros((0, 2), np.int16))).size == 0
    assert audio.is_silent(audio.load((16_000, np.zeros(800, np.int16))))
    assert not audio.is_silent(tone(16_000))
