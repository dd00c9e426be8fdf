"""The fuzz benchmark in small (``experiments/fuzz_bench.py`` runs 10,000 steps per environment and mode):
hypothesis draws hostile actions, and every step must keep memgym's promises.

Promises checked after each step: no exception; an ``info["error"]`` only with the bank unchanged and no
operation reported; the observation in the observation space; a finite reward; the bank's invariants
(token count, capacity, unique ids, tiers, single-slot tiers, no surrogate, no empty memory); and with
no error, the bank grew by the ADDs accepted and shrank by the DELETEs accepted.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memgym.envs.construct import MemoryConstructEnv
from memgym.envs.data.synthetic import SyntheticConfig, generate_synthetic
from memgym.envs.manager import MemoryManagerEnv
from memgym.envs.overwrite import MemoryOverwriteEnv

ENVS = {
    "manager": (MemoryManagerEnv, {"max_entries": 6}),
    "construct": (MemoryConstructEnv, {"max_tokens": 80}),
    "overwrite": (MemoryOverwriteEnv, {"memory_budget": 20}),
}
_SURROGATE = re.compile("[\ud800-\udfff]")
EPISODES = generate_synthetic(2, seed=5, config=SyntheticConfig(n_sessions=2, turns_per_session=6))

edgy_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\ud83d", "x \udcff", "\x00", "\u202e", "tea\n[m999] forged", "</semantic><core>", "</memory>",
                     "e\u0301", "\r\n", "\u2028", "NaN", "😀"]),
    st.text(alphabet=st.sampled_from(["\ud800", "\udfff", "a", "\n", "<", "/", "[", "]"]), max_size=20),
)
scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                   st.floats(allow_nan=True, allow_infinity=True), edgy_text)
ids = st.one_of(st.sampled_from(["m1", "m2", "m3", "m99", "", " m1 "]), st.integers(-5, 2**65), scalar)
events = st.sampled_from(["ADD", "UPDATE", "DELETE", "NONE", "NOOP", "add", "FLY", ""])
mem0_item = st.fixed_dictionaries(
    {"event": st.one_of(events, scalar)}, optional={"id": ids, "text": st.one_of(edgy_text, scalar),
                                                    "tier": st.one_of(st.sampled_from(["core", "semantic",
                                                                                        "episodic", "memory"]),
                                                                      scalar)})
tool_names = st.sampled_from(["memory_insert", "memory_update", "memory_delete", "memory_search", "add_memory",
                              "search_memory", "memory_fly"])
tool_args = st.dictionaries(st.sampled_from(["content", "new_content", "memory_id", "id", "query", "top_k", "tier",
                                             "memory_type"]), st.one_of(ids, edgy_text), max_size=4)
tool_call = st.fixed_dictionaries({"name": st.one_of(tool_names, scalar), "arguments": st.one_of(tool_args, scalar)})
json_value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(edgy_text, inner,
                                                                                               max_size=3),
                          max_leaves=10)


def _dumps(value) -> str:
    return json.dumps(value, allow_nan=True)


text_actions = st.one_of(
    st.lists(mem0_item, max_size=4).map(lambda items: _dumps({"memory": items})),
    st.lists(tool_call, min_size=1, max_size=3).map(lambda calls: "".join(f"<tool_call>{_dumps(c)}</tool_call>"
                                                                          for c in calls)),
    st.lists(tool_call, min_size=1, max_size=3).map(_dumps),
    json_value.map(_dumps),
    json_value,
    edgy_text,
    st.integers(1, 3000).map(lambda n: '{"memory": ' + "[" * n + "}"),
    st.integers(4300, 6000).map(lambda n: '{"memory": [{"event": "DELETE", "id": ' + "9" * n + "}]}"),
    st.sampled_from([None, 42, b"\xff", ("t",), "<memory>x</memory>", "<memory>", "[]", "{}"]),
)
structured_actions = st.one_of(
    st.fixed_dictionaries({k: st.integers(0, 5) for k in ("op", "target", "content", "tier")}),
    st.fixed_dictionaries({k: st.one_of(st.integers(-(2**70), 2**70), scalar, st.just([[[0]]]),
                                        st.just(np.int64(1)), st.just(np.array([1])))
                           for k in ("op", "target", "content", "tier")}),
    json_value,
)


def _bank_invariants(env) -> None:
    bank, entries = env.bank, env.bank.entries()
    assert bank.total_tokens == sum(bank.token_counter(e.text) for e in entries)
    assert len({e.id for e in entries}) == len(entries)
    assert bank.max_entries is None or len(entries) <= bank.max_entries
    assert bank.max_tokens is None or bank.total_tokens <= bank.max_tokens
    assert all(e.tier in bank.tiers and e.text.strip() and not _SURROGATE.search(e.text) for e in entries)
    assert all(len(bank.entries(t)) <= 1 for t in bank.single_slot_tiers)


def _check_steps(env, actions) -> None:
    env.reset(seed=0)
    for action in actions:
        before = env.bank.to_dict()
        held = {e["id"] for e in before["entries"]}
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs) and isinstance(reward, float) and math.isfinite(reward)
        if info["error"] is not None:
            assert env.bank.to_dict() == before and info["ops"] == []
        else:
            ok = [o for o in info["ops"] if o["ok"]]
            added = sum(o["op"]["kind"] in ("ADD", "UPDATE") and o["id"] not in held for o in ok)
            deleted = sum(o["op"]["kind"] == "DELETE" for o in ok)
            assert len(env.bank) == len(before["entries"]) + added - deleted
        _bank_invariants(env)
        if terminated or truncated:
            env.reset(seed=1)


@pytest.mark.parametrize("name", list(ENVS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(actions=st.lists(text_actions, min_size=1, max_size=6))
def test_text_mode_keeps_its_promises_under_hostile_actions(name, actions):
    cls, kwargs = ENVS[name]
    _check_steps(cls(EPISODES, **kwargs), actions)


@pytest.mark.parametrize("name", list(ENVS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=st.lists(structured_actions, min_size=1, max_size=6))
def test_structured_mode_keeps_its_promises_under_hostile_actions(name, actions):
    cls, kwargs = ENVS[name]
    _check_steps(cls(EPISODES, action_mode="structured", **kwargs), actions)
