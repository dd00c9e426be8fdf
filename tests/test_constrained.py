"""Grammar-constrained decoding: every environment's grammar, valid samples from a random model, and
the constrained log-probabilities the trainer scores."""

from __future__ import annotations

import pytest
import torch

import memgym
from memgym.envs.data.synthetic import SyntheticConfig, generate_synthetic
from memgym.envs.grammars import mem0_grammar
from memgym.envs.operations import Operation
from memgym.errors import ConfigError
from memgym.policies.backends import SamplingParams
from memgym.policies.backends.grammar import allowed_masks, ll_tokenizer, matcher, unpack
from memgym.trainers.prompting import compact_mem0_action

ENVS = ("memgym/MemoryManager-v0", "memgym/MemoryConstruct-v0", "memgym/MemoryOverwrite-v0")
SMALL = SyntheticConfig(n_entities=2, facts_per_entity=2, n_sessions=2, turns_per_session=6)


@pytest.fixture(scope="module")
def tiny():
    from memgym.policies.models import tiny_model

    return tiny_model()


@pytest.fixture(scope="module")
def episodes():
    return generate_synthetic(2, seed=4, config=SMALL)


def _accepts(tokenizer, grammar: str, text: str) -> bool:
    m = matcher(ll_tokenizer(tokenizer), grammar)
    ok = all(m.consume_token(t) for t in tokenizer(text, add_special_tokens=False)["input_ids"])
    return ok and m.is_accepting()


@pytest.mark.parametrize("env_id", ENVS)
def test_the_oracle_actions_are_in_every_env_grammar(env_id, episodes, tiny):
    """What the environment writes (the oracle, compacted as the warm start writes it) is in its grammar."""
    _, tokenizer = tiny
    env = memgym.make(env_id, episodes=episodes).unwrapped
    env.reset(seed=0, options={"episode_index": 0})
    while env.current_unit is not None:
        action = compact_mem0_action(env.oracle_action())
        assert _accepts(tokenizer, env.action_grammar("format", 512), action), action
        env.step(action)


def test_choices_restrict_texts_to_the_candidates_and_ids_to_the_shown(tiny):
    _, tokenizer = tiny
    g = mem0_grammar(["m1"], candidates=["Ana: I live in Lisbon.", "Ana: Hi."])
    assert _accepts(tokenizer, g, '{"memory": [{"id": "new", "text": "Ana: Hi.", "event": "ADD"}]}')
    assert _accepts(tokenizer, g, '{"memory": [{"id": "m1", "text": "Ana: I live in Lisbon.", "event": "UPDATE"}]}')
    assert _accepts(tokenizer, g, '{"memory": [{"id": "m1", "event": "DELETE"}]}')
    assert _accepts(tokenizer, g, '{"memory": []}')
    assert not _accepts(tokenizer, g, '{"memory": [{"id": "new", "text": "Ana: Bye.", "event": "ADD"}]}')
    assert not _accepts(tokenizer, g, '{"memory": [{"id": "m7", "event": "DELETE"}]}')


def test_numbered_candidates_name_a_sentence_by_its_number(episodes, tiny):
    """With ``numbered_candidates`` the prompt lists the options, ``#k`` stores option k with the turn's
    provenance, a number naming no option is an invalid item that stores nothing, and the ``choices``
    grammar offers exactly the numbers (a choice is a few tokens, not a copied sentence)."""
    _, tokenizer = tiny
    env = memgym.make("memgym/MemoryManager-v0", episodes=episodes, numbered_candidates=True).unwrapped
    obs, _ = env.reset(seed=0, options={"episode_index": 0})
    unit, options = env.current_unit, env.candidates(env.current_unit)
    assert f"#1 {options[0]}" in obs["messages"][-1]["content"]
    grammar = env.action_grammar("choices")
    assert _accepts(tokenizer, grammar, '{"memory": [{"id": "new", "text": "#1", "event": "ADD"}]}')
    assert not _accepts(tokenizer, grammar, f'{{"memory": [{{"id": "new", "text": "#{len(options) + 1}", "event": "ADD"}}]}}')
    _, _, _, _, info = env.step('{"memory": [{"id": "new", "text": "#1", "event": "ADD"}]}')
    assert info["error"] is None
    assert [(e.text, e.provenance) for e in env.bank.entries()] == [(options[0], (unit.turns[0].id,))]
    _, _, _, _, info = env.step(f'{{"memory": [{{"id": "new", "text": "#{len(options) + 5}", "event": "ADD"}}]}}')
    assert info["error"].code == "invalid_item" and "names no option" in info["error"].message
    assert len(env.bank) == 1
    _, _, _, _, info = env.step('{"memory": [{"id": "new", "text": "Ana lives in Lisbon.", "event": "ADD"}]}')
    assert info["error"] is None and env.bank.entries()[-1].text == "Ana lives in Lisbon."  # full texts still work


def test_a_capacity_limit_is_stated_in_the_manager_prompt(episodes):
    env = memgym.make("memgym/MemoryManager-v0", episodes=episodes, max_entries=1).unwrapped
    obs, _ = env.reset(seed=0, options={"episode_index": 0})
    assert "Memory: 0 of 1 entries." in obs["messages"][-1]["content"]
    obs, *_ = env.step('{"memory": [{"id": "new", "text": "Ana lives in Lisbon.", "event": "ADD"}]}')
    assert "Memory: 1 of 1 entries (full: DELETE one to ADD)." in obs["messages"][-1]["content"]


@pytest.mark.slow
@pytest.mark.parametrize("env_id,style", [(e, "format") for e in ENVS] + [("memgym/MemoryManager-v0", "choices")])
def test_a_random_model_writes_only_valid_actions_under_the_grammar(env_id, style, episodes, tiny):
    from memgym.envs.stepping import step_envs
    from memgym.policies.backends.hf import TransformersBackend
    from memgym.policies.llm_policy import LLMPolicy

    model, tokenizer = tiny
    backend = TransformersBackend(model, tokenizer)
    budget = 48 if "Manager" in env_id else 96
    envs = [memgym.make(env_id, episodes=episodes).unwrapped for _ in episodes]
    obs = [env.reset(seed=0, options={"episode_index": i})[0] for i, env in enumerate(envs)]
    # MemAgent takes any text as the new memory, so only the other formats have invalid free text
    runs = ((None, False), (style, True)) if "Overwrite" not in env_id else ((style, True),)
    for constrained, want_valid in runs:
        policy = LLMPolicy(backend, SamplingParams(max_new_tokens=budget, temperature=1.0, seed=0),
                           constrained=constrained)
        for env in envs:
            env.reset(seed=0)
        obs = [env.reset(seed=0, options={"episode_index": i})[0] for i, env in enumerate(envs)]
        errors = []
        for _ in range(3):
            candidates = [env.candidates(env.current_unit) for env in envs]
            actions = policy.act(obs, envs)
            steps = step_envs(envs, actions)
            errors += [s.info["error"] for s in steps]
            if constrained and "Overwrite" in env_id:
                assert all(a.startswith("<memory>\n") and a.endswith("</memory>") for a in actions)
            if constrained == "choices":
                for step, cands in zip(steps, candidates, strict=True):
                    texts = [o["op"]["text"] for o in step.info["ops"] if o["op"]["kind"] in ("ADD", "UPDATE")]
                    assert set(texts) <= set(cands)
            obs = [s.observation for s in steps]
        assert all(e is None for e in errors) if want_valid else any(e is not None for e in errors)


def test_fast_forward_decoding_samples_what_generate_samples(tiny):
    """One prompt under a grammar is decoded with its forced runs in one pass each: greedy, the same
    tokens and log-probs as batched ``generate`` with the logits processor; sampled, only tokens the
    trainer's replay of the grammar allows, and the same completion for the same seed."""
    from memgym.policies.backends.hf import TransformersBackend

    model, tokenizer = tiny
    grammar = mem0_grammar(["m1", "m2"], candidates=["#1", "#2", "#3"], max_items=2, max_tokens=48)
    backend = TransformersBackend(model, tokenizer, batch_size=1)
    batched = TransformersBackend(model, tokenizer, batch_size=2)
    prompts = [[{"role": "user", "content": f"Message {i}: I moved to Oslo."}] for i in range(2)]
    greedy = SamplingParams(max_new_tokens=48, grammar=grammar)
    fast, slow = backend.generate(prompts, greedy), batched.generate(prompts, greedy)
    assert [g.token_ids for g in fast] == [g.token_ids for g in slow]
    assert [g.text for g in fast] == [g.text for g in slow] and all(g.text.startswith('{"memory": [') for g in fast)
    for f, s in zip(fast, slow, strict=True):
        assert f.logprobs == pytest.approx(s.logprobs, abs=1e-4)
    sampled = SamplingParams(max_new_tokens=48, temperature=1.0, seed=3, grammar=grammar)
    runs = [backend.generate(prompts * 3, sampled) for _ in range(2)]
    assert [g.token_ids for g in runs[0]] == [g.token_ids for g in runs[1]]
    for g in runs[0]:
        allowed = unpack(allowed_masks(tokenizer, grammar, g.token_ids), len(tokenizer))
        assert all(allowed[t, tok] for t, tok in enumerate(g.token_ids))
        assert g.finish_reason == "stop" and g.token_ids[-1] in backend.eos_token_ids


@pytest.mark.slow
def test_training_scores_the_constrained_policy(tiny):
    """The masks replay what the sampler allowed; the constrained log-prob of a sampled token is the
    log-softmax over the allowed tokens, so it is at least the unconstrained one."""
    from memgym.policies.backends.hf import TransformersBackend
    from memgym.trainers.batching import completion_logps, pack_steps

    model, tokenizer = tiny
    grammar = mem0_grammar(["m1", "m2"], max_tokens=40)
    backend = TransformersBackend(model, tokenizer)
    prompts = [[{"role": "user", "content": f"Message {i}: I moved to Oslo."}] for i in range(4)]
    gens = backend.generate(prompts, SamplingParams(max_new_tokens=40, temperature=1.0, seed=1, grammar=grammar))
    masks = [allowed_masks(tokenizer, grammar, g.token_ids) for g in gens]
    for g, m in zip(gens, masks, strict=True):
        allowed = unpack(m, len(tokenizer))
        assert all(allowed[t, tok] for t, tok in enumerate(g.token_ids))  # every sampled token was allowed
        assert int(allowed[0].sum()) < len(tokenizer)  # and the grammar did restrict
    plain = pack_steps([g.prompt_token_ids for g in gens], [g.token_ids for g in gens], tokenizer.pad_token_id)
    masked = pack_steps([g.prompt_token_ids for g in gens], [g.token_ids for g in gens], tokenizer.pad_token_id, masks)
    with torch.no_grad():
        lp_plain, _ = completion_logps(model, plain)
        lp_masked, _ = completion_logps(model, masked)
    on = plain.completion_mask.bool()
    assert torch.all(lp_masked[on] >= lp_plain[on] - 1e-5) and torch.any(lp_masked[on] > lp_plain[on] + 1e-3)
    forced = lp_masked[on].abs() < 1e-6  # forced tokens (JSON keys) have probability 1 under the grammar
    assert forced.sum() > 0
    with pytest.raises(ConfigError, match="not allowed by its grammar"):
        allowed_masks(tokenizer, grammar, tokenizer("hello", add_special_tokens=False)["input_ids"])


def test_a_bad_grammar_is_a_clear_error(tiny):
    _, tokenizer = tiny
    with pytest.raises(ConfigError, match="invalid action grammar"):
        matcher(ll_tokenizer(tokenizer), "start: /unclosed")
    assert Operation.noop().kind == "NOOP"
