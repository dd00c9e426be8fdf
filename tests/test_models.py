"""The default model: the embedded SmolLM2 GGUF becomes a plain, trainable, saved model; the tiny model
for tests is reproducible; the cache never deletes what it did not write."""

from __future__ import annotations

import json
import time

import pytest
import torch

from memgym.cli import main
from memgym.errors import ConfigError
from memgym.policies.backends import SamplingParams
from memgym.policies.models import MARKER, prepare_default_model, prepared_models, tiny_model


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Convert once into a temporary cache (about 30 s of CPU: GGUF dequantisation dominates)."""
    path = tmp_path_factory.mktemp("cache") / "models" / "smollm2"
    started = time.perf_counter()
    result = prepare_default_model(path)
    return result, time.perf_counter() - started


@pytest.mark.slow
def test_prepared_model_is_plain_saved_and_trainable(prepared):
    from transformers import AutoModelForCausalLM

    path, _ = prepared
    assert (path / "model.safetensors").stat().st_size > 100_000_000
    assert (path / "tokenizer.json").is_file() and (path / MARKER).is_file()
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config
    model = AutoModelForCausalLM.from_pretrained(path)
    assert getattr(model.config, "quantization_config", None) is None
    assert getattr(model, "hf_quantizer", None) is None and not getattr(model, "is_quantized", False)
    assert model.dtype == torch.float32
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    model(ids, labels=ids).loss.backward()  # a quantized model refuses gradients; this one trains
    assert model.model.embed_tokens.weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_prepared_model_answers_a_chat_prompt(prepared):
    from memgym.policies.backends.hf import TransformersBackend

    path, _ = prepared
    hf = TransformersBackend(path)
    prompt = [
        {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    (answer,) = hf.generate([prompt], SamplingParams(max_new_tokens=30))
    assert answer.finish_reason == "stop"
    assert answer.token_ids[-1] == hf.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert "<|im_end|>" not in answer.text and "paris" in answer.text.lower()


@pytest.mark.slow
def test_prepared_tokenizer_passes_trls_tool_checks(prepared):
    from transformers import AutoTokenizer
    from trl.chat_template_utils import is_chat_template_prefix_preserving, supports_tool_calling

    tokenizer = AutoTokenizer.from_pretrained(prepared[0])
    assert supports_tool_calling(tokenizer)
    assert is_chat_template_prefix_preserving(tokenizer)


@pytest.mark.slow
def test_rerun_is_instant_and_cli_lists_it(prepared, capsys):
    path, first_seconds = prepared
    marker = (path / MARKER).read_text()
    started = time.perf_counter()
    assert prepare_default_model(path) == path
    assert time.perf_counter() - started < 1.0 < first_seconds
    assert (path / MARKER).read_text() == marker

    assert main(["models", "prepare", "--cache-dir", str(path)]) == 0
    assert f"prepared {path}" in capsys.readouterr().out
    assert main(["models", "list", "--cache-dir", str(path.parent)]) == 0
    listed = capsys.readouterr().out
    assert path.name in listed and "MiB" in listed
    (entry,) = prepared_models(path.parent)
    assert entry.info["chat_template"].endswith("qwen2_5.jinja") and entry.size_bytes > 100_000_000


def test_prepare_refuses_a_foreign_directory(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a prepared memgym model directory"):
        prepare_default_model(foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_list_on_an_empty_cache(tmp_path, capsys):
    assert prepared_models(tmp_path / "nothing") == []
    assert main(["models", "list", "--cache-dir", str(tmp_path)]) == 0
    assert "no prepared models" in capsys.readouterr().out


def test_tiny_model_is_reproducible_and_uses_the_real_tokenizer():
    rng_before = torch.get_rng_state()
    a, tokenizer = tiny_model(seed=0)
    b, _ = tiny_model(seed=0)
    c, _ = tiny_model(seed=1)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)
    assert a.config.vocab_size == len(tokenizer) == 49152 and a.config.num_hidden_layers == 2
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    assert tokenizer.eos_token == "<|im_end|>"
