"""Settings, read from the environment (prefix COMPANION_, nested with "__").

Example: COMPANION_LLM__BACKEND=openai COMPANION_LLM__BASE_URL=http://127.0.0.1:8080/v1
Every field has a default and a description, and appears in README.md ("Settings") with the same
default (tests/test_settings_table.py checks both). Code reads the fields directly: a function that
takes a settings section takes that typed section, or None for the defaults (`section_or_default`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from companion.errors import WrongType


class Section(BaseModel):
    """A settings section: an unknown name in it (COMPANION_LLM__MODLE) is an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


class LLMSettings(Section):
    backend: str = Field("llamacpp", description="llamacpp | transformers | openai | echo")
    model: str | None = Field(None, description="GGUF path, HF id/dir, or server model name; None = embedded")
    gguf_file: str | None = Field(None, description="transformers backend: GGUF file inside `model`")
    base_url: str | None = Field(None, description="openai backend, e.g. http://127.0.0.1:8080/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="name of the env variable holding the key (never the key)")
    # None = the shipped support-tuned adapter with the embedded SmolLM2 (CC BY-NC 4.0, from
    # ESConv/EmpatheticDialogues); "none" = the untuned base; or a path to a .gguf adapter.
    adapter: str | None = Field(None, description="llama.cpp LoRA adapter: None = shipped, 'none' = base, or a path")
    # False: two blind readings found the merged model's replies fit less often (69% vs 78% on draw
    # 2033, 54% vs 63% on 2032), though it reads prompts 2x and decodes 1.4x faster (docs/replies.md).
    merge_adapter: bool = Field(False, description="llama.cpp: serve the adapter merged into Q8_0 weights (faster)")
    cache_dir: str | None = Field(None, description="derived model files (the merged model); None = ~/.cache/ember")
    max_tokens: int = Field(60, ge=1, le=2048, description="reply length limit in tokens")
    # 1: in a blind reading of 160 held-out situations (draw 2028) the tuned model's first sentence
    # alone fit in 75% of replies, its whole reply (up to 3 sentences) in 51%: later sentences drift.
    max_sentences: int = Field(1, ge=1, le=20, description="decoding stops once this many sentences were shown")
    temperature: float = Field(0.3, ge=0.0, le=2.0, description="sampling temperature")
    top_p: float = Field(0.9, gt=0.0, le=1.0, description="nucleus sampling mass")
    context_tokens: int = Field(
        2048, ge=256, description="context per conversation (each parallel slot gets this many)"
    )
    # llama.cpp slots (a second prompt is read while a first decodes; on 2 cores the ~140 tokens/s
    # total stays the same), the app's reply concurrency, requests to an OpenAI server.
    parallel: int = Field(4, ge=1, le=64, description="turns in flight at once")
    prompt_cache_mib: int = Field(64, ge=0, description="llama.cpp's RAM cache of past prompts (MiB; 0 = off)")
    threads: int | None = Field(None, description="CPU threads for generation; None = min(4, cores)")
    seed: int | None = Field(7, description="sampling seed; None = random")
    # A model learnt from blind readings (pipelines/reply_judge.py): a first sentence it rates below the
    # floor gets a second sample, and the better rated of the two is shown (docs/replies.md).
    judge: str = Field("reply-fit", description="reply judge backend (registry name); 'none' = off")
    judge_floor: float | None = Field(
        None, ge=0.0, le=1.0, description="draw a second sample below this p(fit); None = the judge's own floor"
    )
    timeout_s: float = Field(60.0, gt=0, description="openai backend request timeout")


class AnalyzerSettings(Section):
    """Backend name per modality ('none' switches one off) and keyword options for it."""

    text: str = Field("minilm", description="text analyzer backend (registry name); 'none' = off")
    voice: str = Field("features", description="voice analyzer backend (registry name); 'none' = off")
    face: str = Field("cnn", description="face analyzer backend (registry name); 'none' = off")
    text_options: dict[str, Any] = Field({}, description="keyword arguments for the text analyzer")
    voice_options: dict[str, Any] = Field({}, description="keyword arguments for the voice analyzer")
    face_options: dict[str, Any] = Field({}, description="keyword arguments for the face analyzer")


class FusionSettings(Section):
    """Fusion and per-user calibration (docs/fusion.md has the maths and the evidence for each default)."""

    pooling: Literal["linear", "log_linear", "max_confidence"] = Field(
        "linear", description="pooling rule; linear won the simulation"
    )
    # Out of domain where the project has a measurement (docs/fusion.md, "Where the reliabilities
    # come from"). voice 0.28: held-out cross-corpus test reported in issue 14 (6 classes, fear and
    # joy recall 0); in domain (RAVDESS, actor-independent) it scores 0.71, and on synthetic speech it
    # read every espeak-ng clip as anger at confidence 0.78-1.0. text 0.68 (GoEmotions test) and face
    # 0.70 (FER2013 public test) are in-domain figures: no out-of-domain measurement exists for them yet.
    accuracies: dict[str, float] = Field(
        {"text": 0.68, "voice": 0.28, "face": 0.7}, description="accuracy per analyzer, the centre of per-user learning"
    )
    # Relative to text, by reliability_from_accuracy: voice w(0.28) / w(0.68) = 0.847 / 2.546 = 0.33.
    # Face would be 1.04; it stays under text because a frame shows a display, not a report.
    weights: dict[str, float] = Field(
        {"text": 1.0, "voice": 0.33, "face": 0.9}, description="reliability per modality before per-user learning"
    )
    half_life_s: float = Field(45.0, gt=0, description="an estimate's evidence halves every this many seconds")
    learning_rate: float = Field(
        0.03,
        gt=0,
        le=1.0,
        description="1 / feedbacks a channel's population accuracy weighs; larger rates chased noise in the simulation",
    )
    clock_skew_s: float = Field(2.0, ge=0, description="estimates stamped later than now + this are rejected")
    carry_weight: float = Field(1.0, ge=0, description="reliability of the previous mood as a source")
    min_confidence: float = Field(0.01, ge=0, le=1, description="sources with less evidence than this are dropped")
    log_floor: float = Field(
        1e-3, gt=0, lt=1, description="log-linear pooling floors probabilities here (no outright veto)"
    )
    # A clear text reading (evidence >= clear_text_confidence: above the 0.3-0.45 of masking messages)
    # keeps its label against a lone voice or face reading whose evidence x the user's learned multiplier
    # is below override_confidence (the level incongruence calls confident); that reading still lowers
    # confidence and can still mark incongruence.
    clear_text_confidence: float = Field(0.6, ge=0, le=1, description="text evidence that keeps its label")
    override_confidence: float = Field(
        0.5,
        ge=0,
        le=1,
        description="a lone voice/face reading below this cannot take the label from clear text; 0 = guard off",
    )
    # Incongruence, a confident clash: two channels with evidence >= incongruence_confidence on opposite
    # sides of negative_valence and at least incongruence_valence_gap apart.
    incongruence_confidence: float = Field(0.5, ge=0, le=1, description="evidence a channel needs to clash")
    incongruence_valence_gap: float = Field(0.5, ge=0, le=2, description="valence distance of a clash")
    negative_valence: float = Field(-0.2, ge=-1, le=1, description="the valence line: below it reads negative")
    # ... or masking ("I'm fine, really."): words read at masking_text_confidence up to
    # clear_text_confidence, valence between negative_valence and positive_valence, with a face or voice
    # at >= masking_confidence whose valence is under negative_valence.
    masking_text_confidence: float = Field(0.25, ge=0, le=1, description="least text evidence that can mask")
    masking_confidence: float = Field(0.4, ge=0, le=1, description="face/voice evidence that reveals masking")
    positive_valence: float = Field(0.2, ge=-1, le=1, description="text at or above this valence is not masking")
    population_priors: dict[str, dict[str, float]] = Field(
        {}, description="per modality, the population's mean analyzer output; {} = calibration.DEFAULT_PRIOR"
    )
    baseline_half_life_s: float = Field(
        14 * 86400.0, gt=0, description="a user's baseline forgets at this half-life (14 days)"
    )
    baseline_shrinkage: float = Field(
        20.0, ge=0, description="observations' worth of population prior a baseline is shrunk to"
    )
    baseline_max_ratio: float = Field(3.0, ge=1, description="cap on any baseline or bias correction factor")
    baseline_reference: Literal["cross_modal", "population"] = Field(
        "cross_modal", description="a channel's tilt is measured against the user's other channels or the population"
    )
    observation_spacing_s: float = Field(
        30.0, gt=0, description="readings closer than this count fractionally in a baseline"
    )
    bias_prior: float = Field(
        10.0, gt=0, description="smoothing of the per-class bias correction (said + a) / (put + a)"
    )
    trend_days: int = Field(14, ge=1, description="days of mood history the trend looks at")
    low_valence: float = Field(-0.3, ge=-1, le=1, description="a day below this valence is a low day")
    checkin_days: int = Field(7, ge=1, description="the check-in looks at this many recent days")
    checkin_min_low_days: int = Field(3, ge=1, description="low days within checkin_days that prompt a check-in")


class SpeechSettings(Section):
    asr_model: str = Field("base", description="base | tiny.en | a CTranslate2 model directory")
    speak_replies: bool = Field(False, description="fill Reply.audio with synthesised speech")
    voice: str | None = Field(None, description="piper .onnx voice path; None = embedded voice")


class PrivacySettings(Section):
    no_biometric_inference: bool = Field(
        False, description="workplaces/schools: never infer emotion from face or voice"
    )
    retention_days: int | None = Field(None, description="purge turns and moods older than this; None keeps them")
    crisis_locale: str = Field("US", description="which crisis resources the fixed crisis reply names")
    disclosure_interval_h: float = Field(3.0, gt=0, description="hours of use between AI disclosures")
    max_message_chars: int = Field(4000, ge=100, description="longer messages are refused")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMPANION_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(Path.home() / ".companion", description="where the database lives")
    store_url: str | None = Field(None, description="SQLAlchemy URL; None = sqlite:///<data_dir>/companion.db")
    history_turns: int = Field(6, ge=0, le=50, description="recent turns given to the language model")
    # tuned on the dev split of benchmarks/memory_data.py (docs/memory.md)
    retrieved_memories: int = Field(5, ge=0, le=20, description="earlier memories given to the model")
    memory_min_score: float = Field(0.40, ge=-1, le=2, description="cosine + keyword score a memory needs to be shown")
    port: int = Field(7860, ge=1, le=65535, description="the web app's port (always bound to 127.0.0.1)")
    torch_threads: int = Field(1, ge=1, description="torch threads for the analyzers (COMPANION_TORCH_THREADS)")
    crisis_classifier: bool = Field(True, description="false/off = crisis patterns only (COMPANION_CRISIS_CLASSIFIER)")
    llm: LLMSettings = Field(default_factory=LLMSettings, description="the language model")
    analyzers: AnalyzerSettings = Field(default_factory=AnalyzerSettings, description="emotion analyzers")
    fusion: FusionSettings = Field(default_factory=FusionSettings, description="fusion and calibration")
    speech: SpeechSettings = Field(default_factory=SpeechSettings, description="speech in and out")
    privacy: PrivacySettings = Field(default_factory=PrivacySettings, description="privacy and safety")

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return Path(value).expanduser()

    @field_validator("crisis_classifier", mode="before")
    @classmethod
    def _none_means_off(cls, value: Any) -> Any:
        # the switch has always taken off / 0 / false / none (any case, spaces around)
        if isinstance(value, str):
            value = value.strip().lower()
            return "off" if value == "none" else value
        return value

    def resolved_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'companion.db'}"


Section = TypeVar("Section", bound=BaseModel)
_DEFAULT_SECTIONS: dict[type, BaseModel] = {}


def section_or_default(settings: Section | None, kind: type[Section]) -> Section:
    """`settings` itself when it is a `kind` (e.g. FusionSettings), the defaults for None. Anything
    else is a WrongType: pass the section (Settings().fusion), not the whole Settings."""
    if settings is None:
        if kind not in _DEFAULT_SECTIONS:
            _DEFAULT_SECTIONS[kind] = kind()
        return _DEFAULT_SECTIONS[kind]  # type: ignore[return-value]
    if not isinstance(settings, kind):
        hint = f" (pass settings.{_SECTION_NAMES[kind]})" if kind in _SECTION_NAMES else ""
        raise WrongType(f"settings must be a {kind.__name__} or None, got {type(settings).__name__}{hint}")
    return settings


_SECTION_NAMES = {
    LLMSettings: "llm",
    AnalyzerSettings: "analyzers",
    FusionSettings: "fusion",
    SpeechSettings: "speech",
    PrivacySettings: "privacy",
}
