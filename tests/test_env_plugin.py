"""Third-party environments: discovered through the ``memgym.envs`` entry-point group, made, checked.

The example package ``tests/plugin_example/memgym_example_plugin`` lives outside memgym. The fixture
installs it the way pip does: the package directory and a ``.dist-info`` folder holding METADATA and
``entry_points.txt`` go on ``sys.path``, where ``importlib.metadata`` finds them. Nothing in memgym is
patched; discovery is the real one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from memgym.envs import check_env, discover_plugins, list_envs, make
from memgym.envs.base import MemoryEnv
from memgym.envs.data.synthetic import SyntheticConfig, generate_synthetic

PLUGIN_DIR = Path(__file__).parent / "plugin_example"
ENTRY_POINTS = """\
[memgym.envs]
example/Diary-v0 = memgym_example_plugin:DiaryEnv
example = memgym_example_plugin:register_envs
broken = memgym_example_plugin:no_such_thing
"""
PLUGIN_IDS = ("example/Diary-v0", "example/DiaryShort-v0")


@pytest.fixture
def installed_plugin(tmp_path):
    dist = tmp_path / "memgym_example_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: memgym-example-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    sys.path[:0] = [str(tmp_path), str(PLUGIN_DIR)]
    try:
        yield
    finally:
        for entry in (str(tmp_path), str(PLUGIN_DIR)):
            sys.path.remove(entry)
        for env_id in PLUGIN_IDS:
            gym.registry.pop(env_id, None)
        sys.modules.pop("memgym_example_plugin", None)


@pytest.fixture(scope="module")
def episodes():
    return generate_synthetic(2, seed=3, config=SyntheticConfig(n_sessions=4, turns_per_session=8))


def test_plugin_envs_are_discovered_and_broken_ones_skipped_with_a_warning(installed_plugin):
    assert not any(i in gym.registry for i in PLUGIN_IDS)
    with pytest.warns(RuntimeWarning, match="skipping memgym.envs plugin 'broken'"):
        found = discover_plugins(reload=True)
    assert set(PLUGIN_IDS) <= set(found)
    assert set(PLUGIN_IDS) <= set(list_envs())
    # the class entry point registers lazily, by its "module:attr" string
    assert gym.registry["example/Diary-v0"].entry_point == "memgym_example_plugin:DiaryEnv"
    assert gym.registry["example/DiaryShort-v0"].kwargs == {"top_k": 3, "answer_top_k": 5}


def test_plugin_env_is_made_checked_and_plays(installed_plugin, episodes):
    with pytest.warns(RuntimeWarning, match="broken"):
        discover_plugins(reload=True)
    env = make("example/DiaryShort-v0", episodes=episodes)
    base = env.unwrapped
    assert isinstance(base, MemoryEnv) and type(base).__module__ == "memgym_example_plugin"
    assert base.top_k == 3
    check_env(env)

    obs, info = env.reset(seed=0, options={"episode_index": 0})
    assert "Session" in obs["messages"][1]["content"]
    assert info["n_steps"] == sum(1 for s in episodes[0].sessions if s.turns)  # one step per session
    *_, info = env.step("Mei moved to Oslo.")
    assert info["error"] is None and info["op_counts"]["ADD"] == 1
    assert base.bank.entries()[0].text == "Mei moved to Oslo."
    *_, info = env.step("   ")
    assert info["error"].code == "empty_line" and len(base.bank) == 1
    rng = np.random.default_rng(0)
    terminated = False
    while not terminated:
        _, reward, terminated, truncated, info = env.step(base.random_action(rng))
        assert np.isfinite(reward) and not truncated
    assert 0.0 <= info["episode_qa"] <= 1.0
