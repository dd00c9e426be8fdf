"""The transformers backend on a tiny real Llama (random weights, real SmolLM2 tokenizer), the backend
registry, the TRL/vLLM backend's prompt encoding and stop strings, and the vLLM backends' errors."""

from __future__ import annotations

import importlib.util
import re

import pytest
import torch

from memgym.errors import ConfigError, DependencyNotInstalled, UnknownNameError
from memgym.policies.backends import (
    BACKENDS,
    GenerationBackend,
    SamplingParams,
    TrainableBackend,
    make_backend,
)
from memgym.policies.backends.chat import encode_chats
from memgym.policies.backends.hf import TransformersBackend
from memgym.policies.backends.trl_vllm import TRLVLLMBackend
from memgym.policies.models import tiny_model

PROMPTS = [
    [
        {"role": "system", "content": "Keep notes."},
        {"role": "user", "content": "Alice moved to Paris in May."},
    ],
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is 2 + 2? " * 6}],
    [{"role": "user", "content": "Bob likes green tea and long walks by the river."}],
    [{"role": "user", "content": "Remember: the meeting is on Friday."}],
]


@pytest.fixture(scope="module")
def tiny():
    return tiny_model(seed=0)


def backend(tiny, **kwargs) -> TransformersBackend:
    model, tokenizer = tiny
    return TransformersBackend(model, tokenizer, **kwargs)


def test_batched_equals_one_at_a_time_under_greedy(tiny):
    params = SamplingParams(max_new_tokens=10)
    batched = backend(tiny, batch_size=4).generate(PROMPTS, params)
    single = backend(tiny, batch_size=1).generate(PROMPTS, params)
    assert [g.token_ids for g in batched] == [g.token_ids for g in single]
    assert [g.text for g in batched] == [g.text for g in single]
    assert len({tuple(g.token_ids) for g in batched}) > 1, "different prompts should give different outputs"
    _, tokenizer = tiny
    for prompt, generation in zip(PROMPTS, batched, strict=True):
        expected = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        assert tokenizer.decode(generation.prompt_token_ids) == expected
        assert generation.finish_reason == "length" and len(generation.token_ids) == 10
        assert generation.text == tokenizer.decode(generation.token_ids, skip_special_tokens=True)
        assert len(generation.logprobs) == 10


def test_seed_reproduces_sampling_and_leaves_global_rng_alone(tiny):
    hf = backend(tiny, batch_size=2)
    params = SamplingParams(max_new_tokens=8, temperature=1.0, seed=7)
    rng_before = torch.get_rng_state()
    first = hf.generate(PROMPTS, params)
    assert torch.equal(torch.get_rng_state(), rng_before)
    again = hf.generate(PROMPTS, params)
    other = hf.generate(PROMPTS, SamplingParams(max_new_tokens=8, temperature=1.0, seed=8))
    assert [g.token_ids for g in first] == [g.token_ids for g in again]
    assert [g.token_ids for g in first] != [g.token_ids for g in other]
    greedy = hf.generate(PROMPTS, SamplingParams(max_new_tokens=8))
    assert [g.token_ids for g in first] != [g.token_ids for g in greedy]


def test_stop_string_cuts_text_and_tokens(tiny):
    hf = backend(tiny, batch_size=2)
    free = hf.generate(PROMPTS[:2], SamplingParams(max_new_tokens=12))[0]
    _, tokenizer = tiny
    # A stop string taken from the middle of the free-running text: generation must end there.
    stop = tokenizer.decode(free.token_ids[5:6])
    assert stop.strip(), "pick a printable token for the stop string"
    cut = hf.generate(PROMPTS[:2], SamplingParams(max_new_tokens=12, stop=[stop]))[0]
    assert cut.finish_reason == "stop"
    assert cut.text == free.text[: free.text.index(stop)]
    assert stop not in cut.text
    assert cut.token_ids == free.token_ids[: len(cut.token_ids)]
    assert len(cut.token_ids) <= 6 and stop in tokenizer.decode(cut.token_ids)
    assert cut.logprobs == pytest.approx(free.logprobs[: len(cut.token_ids)], abs=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_logprobs_equal_the_models_log_softmax(tiny, temperature):
    """Log-probs are the model's own (raw logits), whatever the sampling temperature, and line up with
    the tokens even when rows of a batch are left-padded to different lengths."""
    model, _ = tiny
    params = SamplingParams(max_new_tokens=9, temperature=temperature, seed=3)
    generations = backend(tiny, batch_size=3).generate(PROMPTS, params)
    for generation in generations:
        ids = torch.tensor([generation.prompt_token_ids + generation.token_ids])
        with torch.no_grad():
            logits = model(ids).logits[0].float()
        start = len(generation.prompt_token_ids)
        log_probs = torch.log_softmax(logits[start - 1 : -1], dim=-1)
        expected = log_probs.gather(1, ids[0, start:, None]).squeeze(1)
        assert torch.allclose(torch.tensor(generation.logprobs), expected, atol=1e-4)


def test_lora_adapter_loads_with_peft(tiny, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model

    _, tokenizer = tiny
    trained, _ = tiny_model(seed=0)
    lora = LoraConfig(
        r=8, lora_alpha=32, target_modules=["q_proj", "v_proj", "o_proj"], init_lora_weights=False
    )
    peft_model = get_peft_model(trained, lora)
    with torch.no_grad():  # make the adapter's effect large enough to change greedy choices
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(20)
    peft_model.save_pretrained(tmp_path / "adapter")

    params = SamplingParams(max_new_tokens=8)
    base, _ = tiny_model(seed=0)
    with_adapter = TransformersBackend(base, tokenizer, adapter=tmp_path / "adapter")
    assert isinstance(with_adapter.model, PeftModel)
    expected = TransformersBackend(peft_model, tokenizer).generate(PROMPTS, params)
    got = with_adapter.generate(PROMPTS, params)
    plain = backend(tiny).generate(PROMPTS, params)
    assert [g.token_ids for g in got] == [g.token_ids for g in expected]
    assert [g.token_ids for g in got] != [g.token_ids for g in plain]

    with pytest.raises(ConfigError, match="adapter_config.json"):
        TransformersBackend(tiny_model(seed=0)[0], tokenizer, adapter=tmp_path)


def test_generate_restores_training_mode_and_handles_empty_batch(tiny):
    model, _ = tiny
    hf = backend(tiny)
    assert hf.generate([]) == []
    model.train()
    try:
        hf.generate(PROMPTS[:1], SamplingParams(max_new_tokens=2))
        assert model.training
    finally:
        model.eval()


def test_bad_input_gets_clear_errors(tiny):
    model, tokenizer = tiny
    hf = backend(tiny)
    with pytest.raises(ConfigError, match="temperature"):
        hf.generate(PROMPTS, SamplingParams(temperature=-1))
    with pytest.raises(ConfigError, match="max_new_tokens"):
        hf.generate(PROMPTS, SamplingParams(max_new_tokens=0))
    with pytest.raises(ConfigError, match="top_p"):
        hf.generate(PROMPTS, SamplingParams(top_p=0))
    with pytest.raises(ConfigError, match="stop"):
        hf.generate(PROMPTS, SamplingParams(stop=[""]))
    with pytest.raises(ConfigError, match="prompt 1"):
        hf.generate([PROMPTS[0], [{"content": "no role"}]])
    with pytest.raises(ConfigError, match="list of chat prompts"):
        hf.generate("hello")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tokenizer="):
        TransformersBackend(model)
    with pytest.raises(ConfigError, match="batch_size"):
        TransformersBackend(model, tokenizer, batch_size=0)


def test_chat_template_override(tiny, tmp_path):
    model, tokenizer = tiny
    template = (
        "{% for m in messages %}<<{{ m['content'] }}>>{% endfor %}{% if add_generation_prompt %}A:{% endif %}"
    )
    path = tmp_path / "plain.jinja"
    path.write_text(template)
    for chat_template in (template, path, str(path)):
        hf = TransformersBackend(model, tokenizer, chat_template=chat_template)
        out = hf.generate(PROMPTS[1:2], SamplingParams(max_new_tokens=2))[0]
        assert tokenizer.decode(out.prompt_token_ids) == "<<hi>>A:"
    with pytest.raises(ConfigError, match="does not exist"):
        TransformersBackend(model, tokenizer, chat_template=tmp_path / "missing.jinja")
    bare = tiny_model(seed=0)[1]
    bare.chat_template = None
    with pytest.raises(ConfigError, match="no chat template"):
        TransformersBackend(model, bare).generate(PROMPTS[:1])


def test_registry_names_and_protocol(tiny):
    assert BACKENDS.names() == ["hf", "openai", "trl_vllm", "vllm"]
    hf = make_backend("hf", model=tiny[0], tokenizer=tiny[1], batch_size=3)
    assert isinstance(hf, TransformersBackend) and hf.batch_size == 3
    assert isinstance(hf, GenerationBackend)
    assert isinstance(hf, TrainableBackend)  # it holds the live model: sync_weights is a no-op
    before = {n: p.clone() for n, p in hf.model.named_parameters()}
    assert hf.sync_weights() is None
    assert all(torch.equal(p, before[n]) for n, p in hf.model.named_parameters())
    with pytest.raises(UnknownNameError, match=re.escape("Did you mean: hf?")):
        make_backend("hff")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_backend_names_the_missing_extra():
    with pytest.raises(DependencyNotInstalled, match=re.escape("pip install 'memgym[vllm]'")) as info:
        make_backend("vllm", model="unused")
    assert info.value.package == "vllm" and "vLLM backend" in str(info.value)


class FakeTRLEngine:
    """Stands in for TRL's ``VLLMGeneration`` (vLLM needs a GPU): it replays the transformers backend's
    free-running completions in the engine's return format and records what it was asked."""

    def __init__(self, completions):
        self.completions, self.calls = completions, []
        self.generation_kwargs = {}

    def generate(self, prompts, images, num_generations):
        self.calls.append({"prompts": prompts, "kwargs": dict(self.generation_kwargs), "n": num_generations})
        ids = [list(g.token_ids) for g in self.completions[: len(prompts)]]
        logprobs = [[[lp] for lp in g.logprobs] for g in self.completions[: len(prompts)]]
        return prompts, ids, logprobs, None


def trl_backend(tokenizer, engine) -> TRLVLLMBackend:
    backend = TRLVLLMBackend.__new__(TRLVLLMBackend)  # __init__ needs CUDA and vLLM
    backend.tokenizer, backend.chat_template, backend.engine = tokenizer, None, engine
    return backend


def test_trl_vllm_encodes_with_encode_chats_and_cuts_at_stop_like_transformers(tiny):
    _, tokenizer = tiny
    hf = backend(tiny, batch_size=2)
    free = hf.generate(PROMPTS[:2], SamplingParams(max_new_tokens=12))
    stop = tokenizer.decode(free[0].token_ids[5:6])
    assert stop.strip(), "pick a printable token for the stop string"
    engine = FakeTRLEngine(free)
    trl = trl_backend(tokenizer, engine)
    assert isinstance(trl, TrainableBackend)

    plain = trl.generate(PROMPTS[:2], SamplingParams(max_new_tokens=12, seed=3))
    assert engine.calls[0]["prompts"] == encode_chats(tokenizer, PROMPTS[:2]) and engine.calls[0]["n"] == 1
    assert engine.calls[0]["kwargs"] == {"seed": 3}
    assert [g.token_ids for g in plain] == [g.token_ids for g in free]
    assert [g.text for g in plain] == [g.text for g in free]
    assert [g.finish_reason for g in plain] == [g.finish_reason for g in free]

    params = SamplingParams(max_new_tokens=12, stop=[stop])
    cut = trl.generate(PROMPTS[:2], params)[0]
    expected = hf.generate(PROMPTS[:2], params)[0]  # the transformers backend's cut of the same tokens
    assert engine.calls[1]["kwargs"] == {"stop": [stop]}
    assert cut.finish_reason == "stop" and cut.text == free[0].text[: free[0].text.index(stop)]
    assert cut.token_ids == expected.token_ids and stop in tokenizer.decode(cut.token_ids)
    assert cut.logprobs == pytest.approx(free[0].logprobs[: len(cut.token_ids)])
    assert trl.generate([]) == []


def test_trl_vllm_keeps_a_final_eos_in_the_ids_not_the_text(tiny):
    _, tokenizer = tiny
    free = backend(tiny).generate(PROMPTS[:1], SamplingParams(max_new_tokens=4))
    free[0].token_ids = [*free[0].token_ids, tokenizer.eos_token_id]
    free[0].logprobs = [*free[0].logprobs, -0.5]
    [out] = trl_backend(tokenizer, FakeTRLEngine(free)).generate(PROMPTS[:1])
    assert out.finish_reason == "stop" and out.token_ids[-1] == tokenizer.eos_token_id
    assert out.text == tokenizer.decode(free[0].token_ids[:-1], skip_special_tokens=True)
    assert len(out.logprobs) == len(out.token_ids)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_trl_vllm_backend_needs_a_gpu(tiny):
    with pytest.raises(ConfigError, match=re.escape("generation.use_vllm=true needs a CUDA GPU")):
        make_backend("trl_vllm", model=tiny[0], tokenizer=tiny[1])
