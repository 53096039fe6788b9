"""Settings, read from the environment (prefix COMPANION_, nested with "__").

Example: COMPANION_LLM__BACKEND=openai COMPANION_LLM__BASE_URL=http://127.0.0.1:8080/v1
Every field is documented in README.md ("Settings").
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class LLMSettings(BaseModel):
    backend: str = "llamacpp"            # llamacpp | transformers | openai | echo
    model: str | None = None             # GGUF path, HF id/dir, or server model name; None = embedded
    gguf_file: str | None = None         # transformers backend: GGUF file inside `model`
    base_url: str | None = None          # openai backend, e.g. http://127.0.0.1:8080/v1
    api_key_env: str = "OPENAI_API_KEY"  # name of the env variable holding the key (never the key)
    # LoRA adapter for llama.cpp: None = the shipped support-tuned adapter with the embedded SmolLM2
    # (CC BY-NC 4.0, from ESConv/EmpatheticDialogues); "none" = the untuned base; or a path to a .gguf adapter.
    adapter: str | None = None
    max_tokens: int = Field(60, ge=1, le=2048)
    max_sentences: int = Field(3, ge=1, le=20)  # decoding stops once this many sentences were shown
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    context_tokens: int = Field(2048, ge=256)  # per conversation (each parallel slot gets this many)
    # Turns in flight at once: llama.cpp slots (a second prompt is read while a first decodes; on 2 cores
    # the ~140 tokens/s total stays the same), the app's reply concurrency, requests to an OpenAI server.
    parallel: int = Field(4, ge=1, le=64)
    threads: int | None = None
    seed: int | None = 7
    timeout_s: float = Field(60.0, gt=0)


class AnalyzerSettings(BaseModel):
    """Backend name per modality ('none' switches one off) and keyword options for it."""

    text: str = "minilm"
    voice: str = "features"
    face: str = "cnn"
    text_options: dict[str, Any] = {}
    voice_options: dict[str, Any] = {}
    face_options: dict[str, Any] = {}


class FusionSettings(BaseModel):
    """Fusion and per-user calibration (docs/fusion.md has the maths and the evidence for each default)."""

    pooling: Literal["linear", "log_linear", "max_confidence"] = "linear"  # won the simulation
    # Accuracy per analyzer, the centre of per-user learning: out of domain where the project has a
    # measurement (docs/fusion.md, "Where the reliabilities come from"). voice 0.28: held-out
    # cross-corpus test reported in issue 14 (6 classes, fear and joy recall 0); in domain (RAVDESS,
    # actor-independent) it scores 0.71, and on synthetic speech it read every espeak-ng clip as anger
    # at confidence 0.78-1.0. text 0.68 (GoEmotions test) and face 0.70 (FER2013 public test) are
    # in-domain figures: no out-of-domain measurement exists for them yet.
    accuracies: dict[str, float] = {"text": 0.68, "voice": 0.28, "face": 0.7}
    # Reliability per modality before any per-user learning, relative to text, by
    # reliability_from_accuracy: voice w(0.28) / w(0.68) = 0.847 / 2.546 = 0.33. Face would be 1.04;
    # it stays under text because a frame shows a display, not a report.
    weights: dict[str, float] = {"text": 1.0, "voice": 0.33, "face": 0.9}
    half_life_s: float = Field(45.0, gt=0)
    learning_rate: float = Field(0.03, gt=0, le=1.0)  # larger rates chased noise in the simulation
    clock_skew_s: float = Field(2.0, ge=0)            # estimates stamped later than now + this are rejected
    # A clear text reading (evidence >= clear_text_confidence: above the 0.3-0.45 of masking messages)
    # keeps its label against a lone voice or face reading whose evidence x the user's learned multiplier
    # is below override_confidence (the level incongruence calls confident); that reading still lowers
    # confidence and can still mark incongruence.
    clear_text_confidence: float = Field(0.6, ge=0, le=1)
    override_confidence: float = Field(0.5, ge=0, le=1)
    # Incongruence, a confident clash: two channels with evidence >= incongruence_confidence on opposite
    # sides of negative_valence and at least incongruence_valence_gap apart.
    incongruence_confidence: float = Field(0.5, ge=0, le=1)
    incongruence_valence_gap: float = Field(0.5, ge=0, le=2)
    negative_valence: float = Field(-0.2, ge=-1, le=1)
    # ... or masking ("I'm fine, really."): words read at masking_text_confidence up to
    # clear_text_confidence, valence between negative_valence and positive_valence, with a face or voice
    # at >= masking_confidence whose valence is under negative_valence.
    masking_text_confidence: float = Field(0.25, ge=0, le=1)
    masking_confidence: float = Field(0.4, ge=0, le=1)
    positive_valence: float = Field(0.2, ge=-1, le=1)
    baseline_half_life_s: float = Field(14 * 86400.0, gt=0)
    trend_days: int = Field(14, ge=1)
    low_valence: float = Field(-0.3, ge=-1, le=1)
    checkin_days: int = Field(7, ge=1)
    checkin_min_low_days: int = Field(3, ge=1)


class SpeechSettings(BaseModel):
    asr_model: str = "base"        # base | tiny.en | a CTranslate2 model directory
    speak_replies: bool = False    # fill Reply.audio with synthesised speech
    voice: str | None = None       # piper .onnx voice path; None = embedded voice


class PrivacySettings(BaseModel):
    no_biometric_inference: bool = False  # workplaces/schools: never infer emotion from face or voice
    retention_days: int | None = None     # purge turns and moods older than this; None keeps them
    crisis_locale: str = "US"
    disclosure_interval_h: float = Field(3.0, gt=0)
    max_message_chars: int = Field(4000, ge=100)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMPANION_", env_nested_delimiter="__",
                                      extra="ignore")

    data_dir: Path = Path.home() / ".companion"
    store_url: str | None = None  # default sqlite:///<data_dir>/companion.db
    history_turns: int = Field(6, ge=0, le=50)
    # tuned on the dev split of benchmarks/memory_data.py (docs/memory.md)
    retrieved_memories: int = Field(5, ge=0, le=20)
    memory_min_score: float = Field(0.40, ge=-1, le=2)  # cosine + keyword score a memory needs to be shown
    llm: LLMSettings = LLMSettings()
    analyzers: AnalyzerSettings = AnalyzerSettings()
    fusion: FusionSettings = FusionSettings()
    speech: SpeechSettings = SpeechSettings()
    privacy: PrivacySettings = PrivacySettings()

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return Path(value).expanduser()

    def resolved_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'companion.db'}"
