"""Memory-SFT: oracle examples in the policy's prompt format, trained with TRL's SFTTrainer."""

import json
from collections import Counter

import pytest
import torch

from memgym.policies.backends.chat import encode_chats
from memgym.trainers.config import SFTConfig
from memgym.trainers.prompting import COMPACT_MANAGER_PROMPT, SkipSpeakers, SystemPrompt, compact_mem0_action
from memgym.trainers.sft import (
    balance_operations,
    collect_examples,
    load_examples,
    make_teacher,
    run_sft,
    tokenize_examples,
)

DATA = {
    "n_episodes": 2,
    "seed": 0,
    "config": {"n_entities": 1, "facts_per_entity": 2, "n_sessions": 1, "turns_per_session": 8},
}


def make_env():
    from memgym.envs import make

    return make(
        "memgym/MemoryManager-v0", episode_kwargs=DATA, top_k=2, extractor=SkipSpeakers(["Assistant"])
    )


def test_oracle_examples_replay_the_oracle_in_the_policy_format():
    fmt = SystemPrompt(COMPACT_MANAGER_PROMPT)
    examples = collect_examples(make_env, [0, 1], prompt_format=fmt, compact_actions=True)
    env = make_env().unwrapped
    steps = sum(len(env.units_for(i)) for i in (0, 1))
    assert len(examples) == steps  # one example per step, the assistant's turns skipped
    assert all(e["prompt"][0] == {"role": "system", "content": COMPACT_MANAGER_PROMPT} for e in examples)
    writes = [json.loads(e["completion"])["memory"] for e in examples]
    assert any(items for items in writes), "the oracle writes memories"
    assert all("old_memory" not in item for items in writes for item in items)


def test_each_example_names_the_operation_it_teaches():
    examples = collect_examples(make_env, [0, 1])
    for e in examples:
        events = sorted({item["event"] for item in json.loads(e["completion"])["memory"]})
        assert e["op"] == ("+".join(events) or "NOOP")


def test_a_policy_teacher_is_imitated_instead_of_the_oracle():
    from memgym.envs.stepping import step_envs
    from memgym.policies.managers import make_policy

    examples = collect_examples(make_env, [0], make_teacher("mem0_heuristic"))
    env, policy = make_env().unwrapped, make_policy("mem0_heuristic")
    obs, _ = env.reset(seed=0, options={"episode_index": 0})
    expected = []
    while env.current_unit is not None:
        expected.append(policy.act([obs], [env])[0])
        obs = step_envs([env], expected[-1:])[0].observation
    assert [e["completion"] for e in examples] == expected
    oracle = collect_examples(make_env, [0])
    assert [e["completion"] for e in examples] != [e["completion"] for e in oracle]  # an imperfect teacher
    assert make_teacher("oracle") is None
    with pytest.raises(Exception, match="Did you mean: mem0_heuristic"):
        make_teacher("mem0_heuristc")


def test_examples_from_a_jsonl_file_and_clear_errors(tmp_path):
    path = tmp_path / "teacher.jsonl"
    rows = [{"prompt": [{"role": "user", "content": "I moved."}], "completion": '{"memory": [{"id": "m1", "event": "DELETE"}]}'},
            {"prompt": [{"role": "user", "content": "Hi."}], "completion": '{"memory": []}'}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert [e["op"] for e in load_examples(path)] == ["DELETE", "NOOP"]
    path.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"prompt": "not a list", "completion": "x"}) + "\n")
    with pytest.raises(Exception, match=r"teacher.jsonl, record 2, field 'prompt'"):
        load_examples(path)
    with pytest.raises(Exception, match="no such file"):
        load_examples(tmp_path / "missing.jsonl")


def test_balance_operations_moves_shares_toward_rare_operations():
    examples = [{"op": "ADD", "i": i} for i in range(60)] + [{"op": "NOOP", "i": i} for i in range(15)]
    examples += [{"op": "DELETE", "i": i} for i in range(5)]
    assert balance_operations(examples, 0.0) == examples
    half = Counter(e["op"] for e in balance_operations(examples, 0.5, seed=1))
    assert sum(half.values()) == len(examples)
    assert half["ADD"] < 60 and half["DELETE"] > 5  # sqrt shares: 80 * sqrt(n) / sum(sqrt(n))
    assert half == {"ADD": round(80 * 60**0.5 / (60**0.5 + 15**0.5 + 5**0.5)), "NOOP": 22, "DELETE": 13}
    equal = Counter(e["op"] for e in balance_operations(examples, 1.0, seed=1))
    assert set(equal.values()) == {27}
    repeated = [e["i"] for e in balance_operations(examples, 1.0, seed=1) if e["op"] == "DELETE"]
    assert sorted(set(repeated)) == list(range(5))  # every rare example is used before any repeats


def test_compact_action_keeps_the_operations():
    text = (
        '{"memory": [{"id": "m1", "text": "new", "event": "UPDATE", "old_memory": "old"}, '
        '{"id": "m2", "text": "gone", "event": "DELETE"}]}'
    )
    assert json.loads(compact_mem0_action(text)) == {
        "memory": [{"id": "m1", "text": "new", "event": "UPDATE"}, {"id": "m2", "event": "DELETE"}]
    }
    assert compact_mem0_action("not json") == "not json"


def test_sft_trains_on_completion_tokens_in_the_generation_format(tmp_path):
    from memgym.policies.models import tiny_model

    model, tokenizer = tiny_model()
    examples = collect_examples(make_env, [0])[:6]
    rows = tokenize_examples(examples, tokenizer, max_length=1024)
    prompts = encode_chats(tokenizer, [e["prompt"] for e in examples])
    for row, prompt, example in zip(rows, prompts, examples, strict=True):
        n = len(prompt)
        assert row["input_ids"][:n] == prompt  # the backend's own prompt ids: the context the policy acts in
        assert row["completion_mask"] == [0] * n + [1] * (len(row["input_ids"]) - n)
        assert tokenizer.decode(row["input_ids"][n:]) == example["completion"] + tokenizer.eos_token
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    metrics = run_sft(
        model, tokenizer, examples, SFTConfig(epochs=1, batch_size=3, learning_rate=1e-3), tmp_path
    )
    assert metrics["sft/steps"] == 2 and metrics["sft/loss"] > 0
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters())


@pytest.mark.parametrize("bad", [[]])
def test_sft_without_examples_is_a_clear_error(tmp_path, bad):
    from memgym.errors import MemgymError

    with pytest.raises(MemgymError, match="no SFT examples"):
        run_sft(None, None, bad, SFTConfig(), tmp_path)
