"""VoiceEmotionAnalyzer with the shipped weights: contract, invariants, bad input, baseline hook."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from companion.types import EMOTIONS
from pipelines import audio
from pipelines.voice import BaselineError, VoiceEmotionAnalyzer, update_baseline

RAVDESS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ravdess-speech-16k"
needs_ravdess = pytest.mark.skipif(not RAVDESS.exists(), reason="../shared/datasets/ravdess-speech-16k not present")


@pytest.fixture(scope="module")
def analyzer() -> VoiceEmotionAnalyzer:
    return VoiceEmotionAnalyzer()


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """About three seconds of real synthetic speech at 16 kHz (piper, the embedded voice)."""
    from pipelines.speech import Synthesizer

    rate, samples = Synthesizer(warmup=False).synthesize("I really did not expect that to happen today, honestly.")
    return audio.resample(samples, rate)


def test_estimate_obeys_the_contract(analyzer, speech):
    est = analyzer.analyze((16_000, speech))
    assert est is not None and est.modality == "voice" and est.source.startswith("voice:")
    assert set(est.probs) == set(EMOTIONS) and abs(sum(est.probs.values()) - 1) < 1e-6
    assert -1 <= est.valence <= 1 and -1 <= est.arousal <= 1 and 0 <= est.confidence <= 1
    features = est.details["features"]
    assert 60 < features["pitch_mean_hz"] < 400 and features["rate"] > 0
    assert {"pitch_std", "energy_db", "voiced_fraction"} <= set(features)
    assert 0.5 < est.details["voiced_s"] < 4.0
    json.dumps(est.to_dict())  # details must be storable as JSON


@pytest.mark.parametrize(
    "signal",
    [
        (16_000, np.zeros(64_000, np.float32)),
        (16_000, np.zeros(0, np.float32)),
        (48_000, np.zeros((96_000, 2), np.int16)),
        (16_000, (np.random.default_rng(0).normal(0, 0.05, 32_000)).astype(np.float32)),  # hiss, no voice
    ],
)
def test_silence_and_noise_give_none(analyzer, signal):
    assert analyzer.analyze(signal) is None


def test_rate_channels_and_format_barely_change_the_estimate(analyzer, speech):
    base = analyzer.analyze((16_000, speech))
    for rate in (22_050, 44_100, 48_000):
        resampled = audio.resample(speech, 16_000, rate)
        stereo = (np.stack([resampled, resampled], axis=1) * 32767).astype(np.int16)
        other = analyzer.analyze((rate, stereo))
        assert other.label == base.label
        assert sum(abs(other.probs[k] - base.probs[k]) for k in EMOTIONS) < 0.1


def test_telephone_band_audio_gives_a_valid_estimate(analyzer, speech):
    est = analyzer.analyze((8_000, audio.resample(speech, 16_000, 8_000)))
    assert est is not None and abs(sum(est.probs.values()) - 1) < 1e-6


@needs_ravdess
def test_telephone_band_mostly_agrees_with_full_band_on_real_speech(analyzer):
    clips = sorted(RAVDESS.glob("Actor_1[12]/*.flac"))[::6]
    same = 0
    for path in clips:
        full = audio.load(path)
        narrow = analyzer.analyze((8_000, audio.resample(full, 16_000, 8_000)))
        same += narrow.label == analyzer.analyze((16_000, full)).label
    assert same >= 0.6 * len(clips)


def test_clipped_audio_still_gives_a_valid_estimate(analyzer, speech):
    clipped = np.clip(speech * 20, -1, 1)
    est = analyzer.analyze((16_000, clipped))
    assert est is not None and abs(sum(est.probs.values()) - 1) < 1e-6


def test_ten_minutes_are_analysed_by_their_last_30_seconds(analyzer, speech):
    long = np.concatenate([np.zeros(16_000 * 600, np.float32), speech])
    est = analyzer.analyze((16_000, long))
    assert est is not None and est.details["voiced_s"] < 30
    assert analyzer.analyze((16_000, np.concatenate([speech, np.zeros(16_000 * 600, np.float32)]))) is None


def test_bad_input_raises_value_errors(analyzer, tmp_path):
    junk = tmp_path / "voice.wav"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="could not decode"):
        analyzer.analyze(str(junk))
    with pytest.raises(ValueError, match="NaN"):
        analyzer.analyze((16_000, np.array([0.1, np.nan] * 8000, np.float32)))
    with pytest.raises(ValueError, match="sample rate"):
        analyzer.analyze((-5, np.zeros(100)))
    with pytest.raises(BaselineError):
        analyzer.analyze((16_000, np.zeros(100)), baseline={"n": 3})


def test_batch_matches_single(analyzer, speech):
    signals = [(16_000, speech), (16_000, np.zeros(1000, np.float32)), (16_000, speech * 0.5)]
    batch = analyzer.analyze_batch(signals)
    assert batch[1] is None
    for one, signal in zip(batch, signals):
        single = analyzer.analyze(signal)
        assert (one is None) == (single is None)
        if one is not None:
            assert np.allclose([one.probs[k] for k in EMOTIONS], [single.probs[k] for k in EMOTIONS])


# -- per-user baseline ------------------------------------------------------------------------------


def test_update_baseline_is_pure_and_json_serialisable():
    first = update_baseline(None, {"pitch_mean_hz": 200.0, "energy_db": -30.0})
    second = update_baseline(first, {"pitch_mean_hz": 100.0, "energy_db": -20.0, "bad": float("nan")})
    assert first["n"] == 1 and first["mean"]["pitch_mean_hz"] == 200.0  # not mutated by the second call
    assert second["n"] == 2 and second["mean"]["pitch_mean_hz"] == pytest.approx(150.0)
    assert second["var"]["pitch_mean_hz"] == pytest.approx(2500.0) and "bad" not in second["mean"]
    assert json.loads(json.dumps(second)) == second
    many = first
    for _ in range(200):
        many = update_baseline(many, {"pitch_mean_hz": 120.0, "energy_db": -25.0})
    assert many["mean"]["pitch_mean_hz"] == pytest.approx(120.0, abs=0.01)  # forgets old turns
    with pytest.raises(BaselineError):
        update_baseline(first, {"pitch_mean_hz": 1.0}, alpha=0)


OTHER_SENTENCES = (
    "I went to the shop this morning to buy some bread.",
    "The meeting was moved to Thursday.",
    "My brother is visiting us next weekend.",
    "I have been reading a book about old ships.",
    "We should water the plants in the garden.",
    "The bus was a little late today.",
)


@pytest.fixture(scope="module")
def usual_speech() -> list[np.ndarray]:
    """Six other sentences in the same voice: a user's everyday turns."""
    from pipelines.speech import Synthesizer

    synthesizer = Synthesizer(warmup=False)
    return [audio.resample(synthesizer.synthesize(t)[1], synthesizer.sample_rate) for t in OTHER_SENTENCES]


def _baseline_of(analyzer, clips) -> dict:
    baseline = None
    for clip in clips:
        baseline = update_baseline(baseline, analyzer.analyze((16_000, clip)).details["features"])
    return baseline


def test_the_same_clip_sounds_more_aroused_to_a_user_whose_usual_voice_is_deeper(analyzer, speech, usual_speech):
    import librosa

    def shifted(semitones: float) -> list[np.ndarray]:  # the user's usual turns, pitch-shifted, same tempo
        return [librosa.effects.pitch_shift(x, sr=16_000, n_steps=semitones) for x in usual_speech]

    deep, high = _baseline_of(analyzer, shifted(-4.0)), _baseline_of(analyzer, shifted(+4.0))
    assert deep["mean"]["pitch_mean_hz"] < 0.8 * high["mean"]["pitch_mean_hz"]
    to_deep = analyzer.analyze((16_000, speech), baseline=deep)
    to_high = analyzer.analyze((16_000, speech), baseline=high)
    assert to_deep.arousal > to_high.arousal + 0.05
    assert to_deep.details["baseline_turns"] == 6 and to_deep.details["baseline_weight"] > 0.6


def test_the_same_clip_sounds_calmer_to_a_user_who_usually_speaks_loudly(analyzer, speech, usual_speech):
    loud = _baseline_of(analyzer, [np.clip(x * 4.0, -1, 1) for x in usual_speech])
    soft = _baseline_of(analyzer, [x * 0.25 for x in usual_speech])
    assert (
        analyzer.analyze((16_000, speech), baseline=soft).arousal
        > analyzer.analyze((16_000, speech), baseline=loud).arousal + 0.05
    )


def test_without_a_baseline_loudness_is_ignored(analyzer, speech):
    # A new user's microphone gain says nothing about them: only the baseline gives loudness meaning.
    quiet, loud = analyzer.analyze((16_000, speech * 0.05)), analyzer.analyze((16_000, speech))
    assert quiet.details["features"]["energy_db"] < loud.details["features"]["energy_db"] - 20
    assert np.allclose([quiet.probs[k] for k in EMOTIONS], [loud.probs[k] for k in EMOTIONS], atol=0.02)


@needs_ravdess
def test_angry_shouting_is_more_aroused_than_sad_speech(analyzer):
    # actor 1, statement 1: strong anger vs normal sadness
    angry = analyzer.analyze(RAVDESS / "Actor_01" / "03-01-05-02-01-01-01.flac")
    sad = analyzer.analyze(RAVDESS / "Actor_01" / "03-01-04-01-01-01-01.flac")
    assert angry.arousal > sad.arousal + 0.3
