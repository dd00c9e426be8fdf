"""Running one chunk of episodes for one policy: batched stepping through the one stepping engine.

``batch_size`` environments are stepped together: the policy acts on all of them in one call (one
generation batch for an LLM policy), and :func:`memgym.envs.stepping.step_envs` applies the actions and
answers the questions pending in all of them in one answer-agent call; a finished environment starts the
next episode. What the environment reports in ``info`` (answers with their memory metrics, operations,
oracle labels) becomes the episode's record; the predictions are scored again at the end with every
metric the benchmark asks for.

A protocol's hints (:class:`~memgym.rewards.protocols.Hint`: the question as the benchmark words it)
reach the answer agent through :class:`HintedAnswerAgent`; retrieval, the records and the judge keep
the original question.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from memgym.envs.episode import Episode
from memgym.errors import ConfigError
from memgym.policies.bench.results import OP_COLUMNS
from memgym.policies.bench.specs import build
from memgym.rewards.memory_metrics import MEMORY_METRICS


@dataclass
class Task:
    """A chunk of episodes for one policy: what a worker needs (picklable)."""

    policy: Any
    """A policy object or a :class:`~memgym.policies.bench.specs.PolicySpec`."""
    agent: Any
    """An answer agent, an :class:`~memgym.policies.bench.specs.AgentSpec`, or ``None`` (the env's default)."""
    env_id: str
    env_kwargs: dict
    episodes: list[Episode]
    indices: list[int]
    """Global episode indices, for seeds and ordering."""
    seed: int
    batch_size: int
    metrics: tuple[str, ...]
    hints: dict[str, Any] = field(default_factory=dict)
    """Question id -> :class:`~memgym.rewards.protocols.Hint` (the protocol's wording for the agent)."""


class HintedAnswerAgent:
    """An answer agent that is asked each question as the protocol words it (and whose letter-only
    replies to a multiple choice are mapped back to the option), wrapping any other agent."""

    def __init__(self, agent: Any, hints: dict[str, Any], tag: str = "hints") -> None:
        from memgym.envs.answering import agent_name

        self.agent, self.hints = agent, hints
        self.name = f"{agent_name(agent)}+{tag}"

    def answer(self, questions: list[Any], memories: list[list[Any]]) -> list[str]:
        """The inner agent's answers to the hinted questions, resolved."""
        from dataclasses import replace

        asked = [replace(q, question=self.hints[q.id].question) if q.id in self.hints else q for q in questions]
        answers = self.agent.answer(asked, memories)
        return [
            self.hints[q.id].resolve(str(a)) if q.id in self.hints else str(a)
            for q, a in zip(questions, answers, strict=True)
        ]


@dataclass
class _Slot:
    env: Any
    obs: Any
    record: dict
    questions: dict[str, Any]
    rows: list[tuple[Any, str, int, dict]] = field(default_factory=list)  # (question, prediction, read, memory)


def run_chunk(task: Task, on_episode: Callable[[], None] | None = None) -> dict[str, Any]:
    """Run the episodes of one task with batched stepping; returns records, tokens generated, wall time,
    or ``skipped`` with the reason when the policy does not apply to the environment."""
    import memgym.envs
    from memgym.envs.stepping import step_envs

    start = time.perf_counter()
    policy, agent = build(task.policy), build(task.agent)
    if isinstance(agent, str):  # a registered name ("none", "extractive"): hints wrap the object
        from memgym.envs.answering import make_answer_agent

        agent = make_answer_agent(agent)
    if agent is not None and task.hints:
        agent = HintedAnswerAgent(agent, task.hints)
    base = {**task.env_kwargs, "episodes": task.episodes}
    if agent is not None:
        base["answer_agent"] = agent
    if hasattr(policy, "check"):  # on the environment as asked, before the policy's own overrides
        try:
            policy.check(memgym.envs.make(task.env_id, **base).unwrapped)
        except ConfigError as exc:
            return {"records": [], "tokens_generated": 0, "wall_s": 0.0, "skipped": str(exc)}
    kwargs = {**base, **(policy.env_overrides(task.env_id) if hasattr(policy, "env_overrides") else {})}
    n_envs = max(1, min(task.batch_size, len(task.episodes)))
    envs = [memgym.envs.make(task.env_id, **kwargs).unwrapped for _ in range(n_envs)]
    tokens_before = _tokens(policy)
    queue = deque(range(len(task.episodes)))
    slots: list[_Slot | None] = [_start(env, queue.popleft(), task) if queue else None for env in envs]
    records = []
    while any(slots):
        active = [s for s in slots if s is not None]
        actions = policy.act([s.obs for s in active], [s.env for s in active])
        if len(actions) != len(active):
            raise ConfigError(
                f"policy {getattr(policy, 'name', policy)!r} returned {len(actions)} actions "
                f"for {len(active)} environments"
            )
        for slot, step in zip(active, step_envs([s.env for s in active], actions), strict=True):
            slot.obs = step.observation
            _record_step(slot, step.unit, step.info)
            if not step.done:
                continue
            slot.record["memory_entries"] = int(step.info["memory_entries"])
            slot.record["memory_tokens"] = int(step.info["memory_tokens"])
            records.append(_finish(slot, task.metrics, task.hints))
            if on_episode is not None:
                on_episode()
            slots[slots.index(slot)] = _start(slot.env, queue.popleft(), task) if queue else None
    return {
        "records": records,
        "tokens_generated": _tokens(policy) - tokens_before,
        "wall_s": time.perf_counter() - start,
        "skipped": None,
    }


def _tokens(policy: Any) -> int:
    return int(policy.stats().get("tokens_generated", 0)) if hasattr(policy, "stats") else 0


def _start(env: Any, local: int, task: Task) -> _Slot:
    episode = task.episodes[local]
    index = task.indices[local]
    obs, _ = env.reset(seed=task.seed + index, options={"episode_index": local})
    record = {
        "index": index,
        "episode_id": episode.id,
        "source": episode.source,
        "group": episode.metadata.get("suite"),
        "n_turns": len(episode.turns()),
        "n_tokens": sum(len(t.text.split()) for t in episode.turns()),
        "steps": 0,
        "tokens_read": 0,
        "ops": Counter(),
        "op_agreement": [],
        "op_agreement_facts": [],
    }
    return _Slot(env, obs, record, {q.id: q for q in episode.questions})


def _record_step(slot: _Slot, unit: Any, info: dict) -> None:
    """Add one step's info to the episode's record (op agreement only where a memory has entries)."""
    from memgym.rewards.shaping import oracle_op_agreement

    rec = slot.record
    rec["steps"] += 1
    rec["ops"].update(info.get("op_counts") or {})
    if info.get("error") is not None:
        rec["ops"]["invalid_action"] += 1
    wanted = info.get("oracle_labels")
    if wanted is not None and slot.env.memory_kind != "text":
        agreement = oracle_op_agreement([o["op"]["kind"] for o in info["ops"] if o["ok"]], wanted)
        rec["op_agreement"].append(agreement)
        if any(k != "NOOP" for k in wanted):
            rec["op_agreement_facts"].append(agreement)
    if slot.env.current_unit is not unit:  # the step moved on (a search round shows the same unit again)
        rec["tokens_read"] += unit.n_tokens
    for row in info.get("answers", ()):
        memory = {k: row.get(k) for k in MEMORY_METRICS}
        slot.rows.append((slot.questions[row["question_id"]], row["prediction"], rec["tokens_read"], memory))


def _finish(slot: _Slot, metrics: Sequence[str], hints: dict[str, Any]) -> dict:
    from memgym.policies.bench.results import mean
    from memgym.rewards.metrics import score_answers

    rec = slot.record
    questions = [q for q, _, _, _ in slot.rows]
    scores = score_answers([p for _, p, _, _ in slot.rows], questions, metrics) if questions and metrics else []
    rec["questions"] = [
        {
            "id": q.id,
            "category": q.category,
            "question": q.question,
            **({"asked": hints[q.id].question} if q.id in hints else {}),
            "gold": list(q.answers),
            "prediction": pred,
            "tokens_read": read,
            "asked_after": q.asked_after,
            **memory,
            **row,
        }
        for (q, pred, read, memory), row in zip(slot.rows, scores or [{} for _ in slot.rows], strict=True)
    ]
    rec["ops"] = {k: int(rec["ops"].get(k, 0)) for k in OP_COLUMNS}
    rec["evidence_recall"] = mean([r["evidence_recall"] for r in rec["questions"] if r.get("evidence_recall") is not None])
    return rec
