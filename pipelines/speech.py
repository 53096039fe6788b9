"""Speech in and out: `Transcriber` (faster-whisper, Silero VAD) and `Synthesizer` (piper,
espeak-ng as a fallback). Models load once in the constructor, from installed wheels
(pipelines.loading); importing this module loads nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, NamedTuple

import numpy as np

from companion.errors import BadSetting, CompanionError
from pipelines import audio
from pipelines.loading import MissingModel, piper_voice, whisper_dir

DEFAULT_ASR_MODEL = "base"  # chosen by `python -m companion bench voice` / eval voice (docs/voice.md)
MAX_TRANSCRIBE_S = 300.0  # longer uploads are cut here (Transcript.truncated says so)


class SpeechUnavailable(CompanionError, RuntimeError):
    """No speech engine could be loaded."""


class Segment(NamedTuple):
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    text: str  # "" for silence
    language: str
    duration_s: float  # of the audio heard (after any cut)
    timings: dict[str, float] = field(default_factory=dict)  # seconds: decode, asr
    segments: tuple[Segment, ...] = ()  # times on the speech-only timeline (pauses cut by VAD)
    truncated: bool = False  # the audio was longer than max_seconds and was cut


class Transcriber:
    """Whisper (CTranslate2, int8) with voice-activity detection: silence gives empty text.

    model: "base" (default: lower WER) | "tiny.en" (~2x faster) | a CTranslate2 model directory.
    language: "en" (the companion speaks English); None detects it (multilingual models only).
    short_window: encode an utterance of up to 28 s of speech at its own length (plus 1 s of
    silence; at least min_window_s) instead of Whisper's fixed 30-s window, which makes the
    encoder 5-25x cheaper for chat turns; an answer that looks like a hallucination loop is
    redone the standard way.
    """

    short_tail_s = 1.0  # silence appended after the speech in the short window

    def __init__(
        self,
        *,
        model: str = DEFAULT_ASR_MODEL,
        language: str | None = "en",
        beam_size: int = 1,
        cpu_threads: int = 2,
        max_seconds: float = MAX_TRANSCRIBE_S,
        short_window: bool = True,
        min_window_s: float | None = None,
        warmup: bool = True,
    ) -> None:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        self.model_name = str(model)
        path = whisper_dir(self.model_name)
        self.model = WhisperModel(
            str(path), device="cpu", compute_type="int8", cpu_threads=cpu_threads, local_files_only=True
        )
        self.multilingual = bool(self.model.model.is_multilingual)
        if language is None and not self.multilingual:
            language = "en"
        self.language, self.beam_size, self.max_seconds = language, int(beam_size), float(max_seconds)
        self.short_window = bool(short_window) and language is not None
        # tiny.en loses track of where a short window ends and starts over (a loop caught and
        # redone the slow way); a 10-s minimum window avoids it (docs/voice.md). base needs none.
        self.short_min_s = float(
            min_window_s if min_window_s is not None else (10.0 if "tiny" in self.model_name else 0.0)
        )
        if language is not None:
            self.tokenizer = Tokenizer(self.model.hf_tokenizer, self.multilingual, task="transcribe", language=language)
        if warmup:  # the first decode allocates CTranslate2 buffers: pay that at load, not on turn 1
            t = np.arange(audio.SAMPLE_RATE) / audio.SAMPLE_RATE
            self._decode(0.1 * np.sin(2 * np.pi * 220 * t).astype(np.float32))

    def transcribe(self, signal: Any) -> Transcript:
        """(sample_rate, samples) or a file path -> Transcript. Raises audio.AudioError on bad input."""
        start = time.perf_counter()
        samples = audio.load(signal, max_seconds=self.max_seconds + 1.0)
        truncated = audio.duration_s(samples) > self.max_seconds
        if truncated:
            samples = samples[: int(self.max_seconds * audio.SAMPLE_RATE)]
        duration = audio.duration_s(samples)
        language = self.language or "en"
        timings: dict[str, float] = {}
        segments: tuple[Segment, ...] = ()
        if not audio.is_silent(samples):
            t = time.perf_counter()
            speech = self._speech_only(samples)
            timings["vad"] = time.perf_counter() - t
            if len(speech):
                t = time.perf_counter()
                with audio.single_blas_thread():  # the mel spectrogram's small matmuls
                    segments, language = self._decode(speech)
                timings["decode"] = time.perf_counter() - t
        timings["asr"] = time.perf_counter() - start
        text = " ".join(s.text for s in segments if s.text).strip()
        return Transcript(text, language, duration, timings, segments, truncated)

    @staticmethod
    def _speech_only(samples: np.ndarray) -> np.ndarray:
        """Silero VAD (bundled with faster-whisper): keep the speech, drop pauses and noise."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        chunks = get_speech_timestamps(samples, VadOptions(min_silence_duration_ms=500, speech_pad_ms=200))
        if not chunks:
            return np.zeros(0, np.float32)
        return np.concatenate([samples[c["start"] : c["end"]] for c in chunks])

    def _decode(self, speech: np.ndarray) -> tuple[tuple[Segment, ...], str]:
        if self.short_window and len(speech) <= 28 * audio.SAMPLE_RATE:
            text = self._decode_short(speech)
            if text is not None:
                return ((Segment(0.0, round(audio.duration_s(speech), 2), text),) if text else ()), self.language
        raw, info = self.model.transcribe(
            speech,
            language=self.language,
            beam_size=self.beam_size,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
            temperature=(0.0, 0.4, 0.8),
        )
        segments = tuple(Segment(round(s.start, 2), round(s.end, 2), s.text.strip()) for s in raw)
        return segments, info.language

    def _decode_short(self, speech: np.ndarray) -> str | None:
        """One greedy/beam pass over the utterance encoded at its own length; None = use the
        standard path (the text repeats itself like a Whisper hallucination loop)."""
        import ctranslate2
        from faster_whisper.transcribe import get_suppressed_tokens

        # One second of real silence after the speech (the log-mel floor Whisper saw after every
        # utterance in training) tells the decoder where the sentence ends.
        tail = np.zeros(
            int(max(self.short_tail_s, self.short_min_s - audio.duration_s(speech)) * audio.SAMPLE_RATE), np.float32
        )
        features = self.model.feature_extractor(np.concatenate([speech, tail]))
        frames = min(3000, features.shape[1] // 2 * 2)
        tok = self.tokenizer
        seconds = audio.duration_s(speech)
        result = self.model.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None, :, :frames])),
            [tok.sot_sequence + [tok.no_timestamps]],
            beam_size=self.beam_size,
            max_length=int(min(224, 12 + 8 * seconds)),  # ~4 tokens/s of speech; 8/s is generous
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tok, [-1]),
        )[0]
        text = tok.decode([t for t in result.sequences_ids[0] if t < tok.eot]).strip()
        if _looks_looped(text):
            return None
        return text


def _looks_looped(text: str, n: int = 4) -> bool:
    """Whisper's failure mode on short windows: it starts over and says the sentence again.
    A repeated run of `n` words is rare in one spoken turn, so it sends the turn to the
    standard 30-s path (slower, never wrong for that reason)."""
    words = re.findall(r"[a-z']+", text.lower())
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(grams) != len(set(grams))


# ---------------------------------------------------------------------------------------------
# Speech out

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+")
_MAX_CLAUSE = 160  # speak a long run without full stops at its last comma/space past this length


def split_sentences(buffer: str, *, clause_after: int | None = None) -> tuple[list[str], str]:
    """Complete sentences in `buffer`, and the unfinished rest (kept until more text arrives).

    clause_after: when no sentence is complete yet, also release a clause that ends in a
    comma, semicolon or dash once it is at least this long; used for the first chunk of a
    reply so its audio starts before a long first sentence is finished."""
    if clause_after is not None and not _SENTENCE_END.search(buffer):
        cut = max(buffer.rfind(mark) for mark in (", ", "; ", " - ", " — "))
        if cut >= clause_after:
            return [buffer[: cut + 1].strip()], buffer[cut + 1 :].lstrip()
    done: list[str] = []
    pos = 0
    for match in _SENTENCE_END.finditer(buffer):
        piece = buffer[pos : match.end()].strip()
        if piece:
            done.append(piece)
        pos = match.end()
    rest = buffer[pos:]
    while len(rest) > _MAX_CLAUSE:
        cut = max(rest.rfind(", ", 0, _MAX_CLAUSE), rest.rfind(" ", 0, _MAX_CLAUSE))
        cut = cut + 1 if cut > 0 else _MAX_CLAUSE
        done.append(rest[:cut].strip())
        rest = rest[cut:].lstrip()
    return done, rest


def voice_style(mood: Any = None) -> dict[str, float]:
    """Piper settings for a mood: slower and flatter when sad or low-arousal, a little quicker
    and livelier when aroused. `mood`: MoodState/EmotionEstimate (uses .arousal and .label),
    a label string, a mapping with "arousal", or None (neutral delivery)."""
    from companion.types import CIRCUMPLEX

    label, arousal = None, 0.0
    if isinstance(mood, str):
        label = mood if mood in CIRCUMPLEX else None
        arousal = CIRCUMPLEX[label][1] if label else 0.0
    elif isinstance(mood, dict):
        label, arousal = mood.get("label"), float(mood.get("arousal", 0.0))
    elif mood is not None:
        label, arousal = mood.label, float(mood.arousal)
    arousal = float(np.clip(arousal if np.isfinite(arousal) else 0.0, -1.0, 1.0))
    # The voice's durations follow length_scale only in part (0.88 -> 1.14 lengthens by 14%),
    # so the range is wide enough to be heard.
    length = 1.0 - 0.2 * arousal + (0.1 if label == "sadness" else 0.0)
    noise = 0.667 + 0.1 * arousal - (0.1 if label == "sadness" else 0.0)
    return {
        "length_scale": round(float(np.clip(length, 0.82, 1.3)), 3),
        "noise_scale": round(float(np.clip(noise, 0.45, 0.8)), 3),
    }


class Synthesizer:
    """Text -> (sample_rate, float32 samples in [-1, 1]).

    engine: "auto" (piper, else espeak-ng), "piper" or "espeak". voice: a piper .onnx path
    (default: the embedded en_US-joe-medium voice).
    """

    def __init__(self, *, engine: str = "auto", voice: str | None = None, warmup: bool = True) -> None:
        if engine not in ("auto", "piper", "espeak"):
            raise BadSetting(f"engine must be 'auto', 'piper' or 'espeak', got {engine!r}")
        self.voice = None
        problem = None
        if engine in ("auto", "piper"):
            try:
                from piper import PiperVoice

                self.voice = PiperVoice.load(str(voice or piper_voice()))
                self.sample_rate = int(self.voice.config.sample_rate)
            except (ImportError, MissingModel, OSError) as exc:
                if engine == "piper":
                    raise SpeechUnavailable(f"piper voice could not be loaded: {exc}") from exc
                problem = exc
        if self.voice is None:
            self.espeak = shutil.which("espeak-ng") or shutil.which("espeak")
            if not self.espeak:
                raise SpeechUnavailable(
                    f"no speech engine: piper failed ({problem}) and espeak-ng is not "
                    "installed (apt-get install -y espeak-ng)"
                )
            self.sample_rate = 22_050
        self.engine = "piper" if self.voice is not None else "espeak-ng"
        if warmup:
            self.synthesize("Hello.")

    def synthesize(self, text: str, *, mood: Any = None) -> tuple[int, np.ndarray]:
        text = " ".join(str(text).split())
        if not re.search(r"\w", text):
            return self.sample_rate, np.zeros(0, np.float32)
        style = voice_style(mood)
        if self.voice is not None:
            from piper import SynthesisConfig

            config = SynthesisConfig(length_scale=style["length_scale"], noise_scale=style["noise_scale"])
            chunks = [c.audio_float_array for c in self.voice.synthesize(text, syn_config=config)]
            samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
            return self.sample_rate, samples.astype(np.float32, copy=False)
        return self.sample_rate, self._espeak(text, style["length_scale"])

    def _espeak(self, text: str, length_scale: float) -> np.ndarray:
        import io

        import soundfile as sf

        wpm = str(int(175 / length_scale))
        result = subprocess.run(
            [self.espeak, "-v", "en-us", "-s", wpm, "--stdout", text], capture_output=True, timeout=60, check=False
        )
        if result.returncode != 0 or not result.stdout:
            raise SpeechUnavailable(f"espeak-ng failed: {result.stderr.decode(errors='replace')[:200]}")
        samples, rate = sf.read(io.BytesIO(result.stdout), dtype="float32")
        return audio.resample(samples, rate, self.sample_rate)

    def sentences(
        self, text_stream: Iterable[str], *, mood: Any = None, first_clause_chars: int | None = 30
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Speak text as it streams in: one (rate, samples) per sentence, as soon as it is
        complete. The very first chunk may be a clause of at least `first_clause_chars`
        characters ending in a comma (None: whole sentences only): first audio comes sooner."""
        buffer, spoken = "", False
        for piece in text_stream:
            buffer += piece
            done, buffer = split_sentences(buffer, clause_after=None if spoken else first_clause_chars)
            spoken = spoken or bool(done)
            for sentence in done:
                rate, samples = self.synthesize(sentence, mood=mood)
                if len(samples):
                    yield rate, samples
        if buffer.strip():
            rate, samples = self.synthesize(buffer.strip(), mood=mood)
            if len(samples):
                yield rate, samples
