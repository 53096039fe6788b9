"""Speech in and out with the real models: Whisper (faster-whisper), piper, espeak-ng."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from pipelines import audio
from pipelines.speech import Synthesizer, Transcriber, split_sentences, voice_style

SENTENCE = "My sister called me this morning with some wonderful news."
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install -y espeak-ng)"
)


def espeak(text: str, tmp_path) -> str:
    path = tmp_path / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)
    return str(path)


def words(text: str) -> list[str]:
    return "".join(c for c in text.lower() if c.isalpha() or c == " ").split()


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber(model="tiny.en")


@pytest.fixture(scope="module")
def synthesizer() -> Synthesizer:
    return Synthesizer()


@needs_espeak
def test_transcribes_a_synthesised_sentence(transcriber, tmp_path):
    out = transcriber.transcribe(espeak(SENTENCE, tmp_path))
    heard, said = words(out.text), words(SENTENCE)
    assert len(set(heard) & set(said)) >= len(said) - 2, out.text
    assert out.language == "en" and out.duration_s > 1.0 and not out.truncated
    assert out.segments and out.timings["asr"] > 0


@needs_espeak
def test_rate_channels_and_sample_format_do_not_change_the_words(transcriber, tmp_path):
    import soundfile as sf

    samples, rate = sf.read(espeak(SENTENCE, tmp_path), dtype="float32")
    at_48k = audio.resample(samples, rate, 48_000)
    stereo_int16 = (np.stack([at_48k, at_48k], axis=1) * 32767).astype(np.int16)
    a = transcriber.transcribe((rate, samples)).text
    b = transcriber.transcribe((48_000, stereo_int16)).text
    assert words(a) == words(b)


def test_silence_gives_empty_text(transcriber):
    for signal in [(16_000, np.zeros(32_000, np.float32)), (44_100, np.zeros(0, np.int16))]:
        out = transcriber.transcribe(signal)
        assert out.text == "" and out.segments == ()


def test_long_audio_is_cut_at_the_documented_limit():
    cut = Transcriber(model="tiny.en", max_seconds=5.0, warmup=False)
    out = cut.transcribe((16_000, np.zeros(16_000 * 12, np.float32)))
    assert out.truncated and out.duration_s == pytest.approx(5.0)


def test_bad_audio_raises_a_value_error_that_says_why(transcriber, tmp_path):
    junk = tmp_path / "notes.wav"
    junk.write_text("this is not audio")
    with pytest.raises(ValueError, match="could not decode"):
        transcriber.transcribe(str(junk))
    with pytest.raises(ValueError, match="NaN"):
        transcriber.transcribe((16_000, np.full(16_000, np.nan, np.float32)))


def test_synthesizer_speaks_words_that_whisper_understands(synthesizer, transcriber):
    rate, samples = synthesizer.synthesize("Thank you for telling me how you feel.")
    assert samples.dtype == np.float32 and rate > 8000
    assert 1.0 < len(samples) / rate < 6.0 and np.max(np.abs(samples)) <= 1.0
    assert "feel" in words(transcriber.transcribe((rate, samples)).text)


def test_sad_mood_speaks_slower_than_excited(synthesizer):
    text = "I am here with you, and we can take this one step at a time."
    # piper draws phoneme durations at random (noise_w), so compare averages of three takes
    sad = np.mean([len(synthesizer.synthesize(text, mood="sadness")[1]) for _ in range(3)])
    lively = np.mean([len(synthesizer.synthesize(text, mood={"label": "joy", "arousal": 0.8})[1]) for _ in range(3)])
    assert sad > 1.1 * lively
    assert voice_style("sadness")["length_scale"] > voice_style(None)["length_scale"]


def test_empty_text_gives_empty_audio(synthesizer):
    rate, samples = synthesizer.synthesize("  ... ")
    assert rate == synthesizer.sample_rate and samples.size == 0


def test_sentences_are_spoken_as_the_text_streams_in(synthesizer):
    pieces = ["I hear ", "you. That", " sounds hard", "! Do you want", " to talk about it"]
    spoken, fed = [], []

    def stream():
        for piece in pieces:
            fed.append(piece)
            yield piece

    for rate, samples in synthesizer.sentences(stream(), first_clause_chars=None):
        spoken.append((len(fed), len(samples) / rate))
    assert len(spoken) == 3
    assert spoken[0][0] == 2  # the first sentence is spoken before the rest of the text arrives
    assert all(seconds > 0.3 for _, seconds in spoken)


def test_a_long_first_sentence_starts_speaking_at_its_first_comma(synthesizer):
    pieces = ["I'm sure your friend is going through a tough time, ", "and I'm here ", "to listen. ", "Really."]
    fed = []

    def stream():
        for piece in pieces:
            fed.append(piece)
            yield piece

    chunks = [len(fed) for _ in synthesizer.sentences(stream())]
    assert chunks == [1, 3, 4]


def test_split_sentences_keeps_the_unfinished_rest():
    assert split_sentences("Hello there. How are") == (["Hello there."], "How are")
    assert split_sentences("Well, I see", clause_after=30) == ([], "Well, I see")
    assert split_sentences("That sounds like a hard week, honestly", clause_after=20) == (
        ["That sounds like a hard week,"],
        "honestly",
    )
    done, rest = split_sentences("word " * 60)
    assert done and len(done[0]) <= 160 and rest


@needs_espeak
def test_espeak_fallback_makes_audio():
    rate, samples = Synthesizer(engine="espeak").synthesize("Hello there.")
    assert rate == 22_050 and samples.dtype == np.float32 and len(samples) > rate * 0.3
