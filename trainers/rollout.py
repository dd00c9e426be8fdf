"""Rollout collection: run a policy's generation backend against many environments at once.

Why not TRL's hooks: TRL 1.16's ``GRPOTrainer`` scores one token sequence per rollout. Its
``rollout_func`` must return one ``(prompt_ids, completion_ids, logprobs)`` row per completion, G rows per
prompt, and ``environment_factory`` runs one growing tool-calling conversation per rollout. A memory
episode is a *sequence* of steps whose every step has a fresh context (Mem-alpha: the rendered memory plus
the next chunk; Memory-R1: one turn plus retrieved memories), so an episode of T steps is T
(prompt, completion) pairs of unrelated prompts, and episodes in a group have different T. Flattening them
into one sequence with an environment mask would score step 2's completion conditioned on step 1's
transcript, which is not the context it was sampled in. So this module keeps each step as its own pair,
computes the advantage per trajectory (:mod:`memgym.trainers.advantages`) and copies it to every step;
the loss reuses TRL's utilities (:mod:`memgym.trainers.batching`, :mod:`memgym.trainers.losses`).

Token ids and log-probs are the engine's (``Generation.prompt_token_ids/token_ids/logprobs``); a transcript
is never re-tokenized to recover them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from memgym.errors import MemgymError
from memgym.policies.backends import ChatPrompt, Generation, GenerationBackend, SamplingParams


class TextEnv(Protocol):
    """What rollouts need from an environment: Gymnasium's API with ``obs["messages"]`` and a text action."""

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]: ...

    def step(self, action: str) -> tuple[dict, float, bool, bool, dict]: ...


@dataclass
class Step:
    """One environment step: the engine's prompt and completion tokens, and what the environment paid."""

    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float] | None
    text: str
    reward: float
    reward_components: dict[str, float] = field(default_factory=dict)
    finish_reason: str | None = None
    error: str | None = None
    grammar: str | None = None
    """The grammar the completion was sampled under (constrained decoding), for the trainer's masks."""


@dataclass
class Trajectory:
    """The steps of one rollout; ``group`` ties the G rollouts that started from one episode or state."""

    group: int
    episode_index: int
    steps: list[Step] = field(default_factory=list)
    terminated: bool = False
    final_info: dict[str, float] = field(default_factory=dict)
    """Episode-level figures from the last step's info (``episode_qa``, memory size)."""

    @property
    def total_reward(self) -> float:
        return float(sum(s.reward for s in self.steps))

    def reward_components(self) -> dict[str, float]:
        """Each reward component summed over the steps."""
        totals: dict[str, float] = {}
        for s in self.steps:
            for name, value in s.reward_components.items():
                totals[name] = totals.get(name, 0.0) + float(value)
        return totals


@dataclass
class RolloutTimes:
    """Wall-clock seconds spent generating and stepping environments (the env step includes the reward)."""

    generation: float = 0.0
    environment: float = 0.0
    generated_tokens: int = 0

    def reset(self) -> None:
        self.generation = self.environment = 0.0
        self.generated_tokens = 0


class EpisodeSampler:
    """A resumable, seeded order over episode indices: each epoch is a fresh permutation.

    The state is two integers, so a resumed run draws exactly the episodes the killed run would have.
    """

    def __init__(self, num_episodes: int, seed: int) -> None:
        if num_episodes < 1:
            raise MemgymError("the training environment has no episodes to sample from")
        self.num_episodes, self.seed = num_episodes, seed
        self.epoch, self.position = 0, 0

    def _order(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.num_episodes)

    def take(self, n: int) -> list[int]:
        out: list[int] = []
        while len(out) < n:
            order = self._order()
            out.append(int(order[self.position]))
            self.position += 1
            if self.position == self.num_episodes:
                self.epoch, self.position = self.epoch + 1, 0
        return out

    def state_dict(self) -> dict[str, int]:
        return {
            "epoch": self.epoch,
            "position": self.position,
            "num_episodes": self.num_episodes,
            "seed": self.seed,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


@dataclass
class _Live:
    env: Any
    obs: dict
    traj: Trajectory
    done: bool = False


class RolloutCollector:
    """Collects groups of trajectories with one backend, batching generation across environments.

    Args:
        make_env: builds one environment; the collector keeps a pool and reuses instances across calls.
        backend: the policy's generation backend (must return token ids and log-probs when training).
        batch_size: most prompts per backend call.
        max_episode_steps: cut trajectories after this many steps (``None``: run to the end).
        require_tokens: fail clearly when the backend does not return token ids (training needs them).
        prompt_format: maps an observation's messages to the prompt the policy sees
            (:class:`~memgym.trainers.prompting.SystemPrompt`).
        constrained: ``None``, ``"format"`` or ``"choices"``: sample every action under its environment's
            :meth:`~memgym.envs.base.MemoryEnv.action_grammar` of that style (constrained decoding).
    """

    def __init__(
        self,
        make_env: Callable[[], TextEnv],
        backend: GenerationBackend,
        *,
        batch_size: int = 32,
        max_episode_steps: int | None = None,
        require_tokens: bool = True,
        prompt_format: Callable[[ChatPrompt], ChatPrompt] | None = None,
        constrained: str | None = None,
    ) -> None:
        self.make_env, self.backend = make_env, backend
        self.prompt_format = prompt_format or (lambda messages: messages)
        self.constrained = constrained
        self.batch_size, self.max_episode_steps = batch_size, max_episode_steps
        self.require_tokens = require_tokens
        self._pool: list[Any] = []
        self.times = RolloutTimes()
        self._drivers: list[_Live] = []

    # ------------------------------------------------------------------ environments
    def _envs(self, n: int) -> list[Any]:
        while len(self._pool) < n:
            self._pool.append(self.make_env())
        return self._pool[:n]

    def close(self) -> None:
        for env in self._pool:
            close = getattr(env, "close", None)
            if close is not None:
                close()
        self._pool.clear()

    # ------------------------------------------------------------------ generation
    def generate(
        self, prompts: Sequence[ChatPrompt], params: SamplingParams, seed: int, grammars: Sequence[str | None] = ()
    ) -> list[Generation]:
        """Generate for all prompts in backend calls of ``batch_size``, each call seeded from ``seed``
        (``grammars``: one per prompt, for constrained decoding)."""
        out: list[Generation] = []
        start = time.perf_counter()
        for k in range(0, len(prompts), self.batch_size):
            chunk = list(prompts[k : k + self.batch_size])
            grammar = list(grammars[k : k + self.batch_size]) if grammars else None
            gens = self.backend.generate(chunk, replace(params, seed=seed * 1009 + k, grammar=grammar))
            if len(gens) != len(chunk):
                raise MemgymError(f"the backend returned {len(gens)} generations for {len(chunk)} prompts")
            out.extend(gens)
        self.times.generation += time.perf_counter() - start
        for g in out:
            if self.require_tokens and (g.prompt_token_ids is None or g.token_ids is None):
                raise MemgymError(
                    f"{type(self.backend).__name__} returned no token ids; training needs the engine's tokens "
                    "(use the transformers or vLLM backend)"
                )
            self.times.generated_tokens += len(g.token_ids or [])
        return out

    def grammars(self, live: Sequence[_Live], max_tokens: int) -> list[str | None]:
        """Each live environment's action grammar now (empty when decoding is unconstrained)."""
        if self.constrained is None:
            return []
        return [item.env.unwrapped.action_grammar(self.constrained, max_tokens) for item in live]

    def _step_all(self, live: list[_Live], gens: Sequence[Generation], grammars: Sequence[str | None]) -> None:
        from memgym.envs.stepping import step_envs

        start = time.perf_counter()
        results = step_envs([item.env for item in live], [g.text for g in gens])
        grammars = list(grammars) or [None] * len(live)
        for item, gen, grammar, (obs, reward, terminated, truncated, info, _) in zip(
            live, gens, grammars, results, strict=True
        ):
            item.traj.steps.append(
                Step(
                    prompt_ids=list(gen.prompt_token_ids or []),
                    completion_ids=list(gen.token_ids or []),
                    logprobs=None if gen.logprobs is None else list(gen.logprobs),
                    text=gen.text,
                    reward=float(reward),
                    reward_components=_components(info.get("reward_components")),
                    finish_reason=gen.finish_reason,
                    error=_error_code(info.get("error")),
                    grammar=grammar,
                )
            )
            item.obs = obs
            cut = self.max_episode_steps is not None and len(item.traj.steps) >= self.max_episode_steps
            item.traj.terminated = bool(terminated)
            item.done = bool(terminated or truncated or cut)
            if item.done:
                item.traj.final_info = {k: float(info[k]) for k in _FINAL_KEYS if k in info}
        self.times.environment += time.perf_counter() - start

    def _run_lockstep(self, live: list[_Live], params: SamplingParams, seed: int) -> None:
        """Step every live environment until all are done, one batched generation per round."""
        rnd = 0
        while True:
            active = [item for item in live if not item.done]
            if not active:
                return
            prompts = [self.prompt_format(item.obs["messages"]) for item in active]
            grammars = self.grammars(active, params.max_new_tokens)
            gens = self.generate(prompts, params, seed * 7919 + rnd, grammars)
            self._step_all(active, gens, grammars)
            rnd += 1

    # ------------------------------------------------------------------ groups
    def episode_groups(
        self, episode_indices: Sequence[int], num_generations: int, params: SamplingParams, seed: int
    ) -> list[Trajectory]:
        """G whole-episode rollouts per index (``reset(options={"episode_index": i})`` G times).

        Trajectories come back grouped: group ``g`` holds rows ``g*G .. g*G + G - 1``.
        """
        envs = self._envs(len(episode_indices) * num_generations)
        live: list[_Live] = []
        start = time.perf_counter()
        for g, index in enumerate(episode_indices):
            for k in range(num_generations):
                env = envs[g * num_generations + k]
                obs, _ = env.reset(seed=seed * 100_003 + g, options={"episode_index": int(index)})
                live.append(_Live(env, obs, Trajectory(group=g, episode_index=int(index))))
        self.times.environment += time.perf_counter() - start
        self._run_lockstep(live, params, seed)
        return [item.traj for item in live]

    def state_groups(
        self,
        next_episode: Callable[[], int],
        num_states: int,
        num_generations: int,
        params: SamplingParams,
        seed: int,
    ) -> list[Trajectory]:
        """G one-step rollouts branched from each of ``num_states`` environment states (Memory-R1 tuples).

        The collector keeps ``num_states`` driver environments walking through episodes (drawn with
        ``next_episode`` when a driver needs a new one). Each call branches G copies of every driver
        (``spawn()``), samples one action per copy from the same prompt, and steps each copy once; a
        trajectory is that one step. The driver then continues as the first copy (an ordinary sample of
        the policy), so no step is simulated twice. A driver whose episode ended draws its next episode at
        the start of the next call, so single-step environments resume exactly from a checkpoint (a
        driver in the middle of a longer episode restarts with a new episode after a resume).
        """
        start = time.perf_counter()
        while len(self._drivers) < num_states:
            self._drivers.append(
                _Live(self.make_env(), {}, Trajectory(group=-1, episode_index=-1), done=True)
            )
        branches: list[_Live] = []
        for g in range(num_states):
            driver = self._drivers[g]
            if driver.done:
                driver = self._drivers[g] = self._new_driver(driver.env, next_episode, seed * 31 + g)
            for k in range(num_generations):
                env = driver.env if k == 0 else _spawn(driver.env)
                branches.append(
                    _Live(env, driver.obs, Trajectory(group=g, episode_index=driver.traj.episode_index))
                )
        self.times.environment += time.perf_counter() - start
        prompts = [self.prompt_format(b.obs["messages"]) for b in branches]
        grammars = self.grammars(branches, params.max_new_tokens)
        gens = self.generate(prompts, params, seed, grammars)
        self._step_all(branches, gens, grammars)
        for g in range(num_states):
            first = branches[g * num_generations]
            self._drivers[g] = _Live(first.env, first.obs, first.traj, done=first.done)
        return [b.traj for b in branches]

    def _new_driver(self, env: Any, next_episode: Callable[[], int], seed: int) -> _Live:
        index = int(next_episode())
        obs, _ = env.reset(seed=seed, options={"episode_index": index})
        return _Live(env, obs, Trajectory(group=-1, episode_index=index))


def _spawn(env: Any) -> Any:
    spawn = getattr(env, "spawn", None) or getattr(getattr(env, "unwrapped", None), "spawn", None)
    if spawn is None:
        raise MemgymError(
            f"{type(env).__name__} has no spawn(); grouping by state (env.group_by=state) needs environments "
            "that can branch a copy of their state"
        )
    return spawn()


_FINAL_KEYS = ("episode_qa", "memory_entries", "memory_tokens")
def _components(log: Any) -> dict[str, float]:
    """The composer's log keeps ``reward/<name>`` (raw) and ``reward_weighted/<name>``; keep numbers only."""
    out: dict[str, float] = {}
    for key, value in dict(log or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key if "/" in key else f"reward/{key}"] = float(value)
    return out


def _error_code(error: Any) -> str | None:
    if error is None:
        return None
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        return str(error.get("code") or "error")
    return str(getattr(error, "code", None) or getattr(error, "kind", None) or type(error).__name__)
