"""Memory-manager policies: one batched protocol, a registry, and the baselines every benchmark reports.

A memory-manager policy turns the observations of several environments into one action each, in one
call, so an LLM policy makes one generation call for a whole batch of episodes::

    actions = policy.act(observations, envs)   # -> list[str | dict], one per environment

**Baselines are heuristics, not learners.** Besides the observation they may read the unwrapped
environment's current step (``env.current_unit``: the turns shown), its ``bank``, its ``retriever``,
what kind of memory it keeps (``env.memory_kind``: ``"entries"`` or one ``"text"`` block,
``env.memory_text``) and, for ``oracle``, the synthetic labels (``env.oracle_action()``). They never
look at the environment's class. An LLM policy reads only the observation. Every baseline writes its
decision with the environment's own renderer (``env.render_action(ops)``), so the environment parses
it exactly as it would parse an LLM's; baselines therefore need ``action_mode="text"``.

========================  =========  ===========  ===========  ==========================================
name                      Manager    Construct    Overwrite    what it does
========================  =========  ===========  ===========  ==========================================
``noop``                  yes        yes          yes          no memory at all
``store_all``             yes        yes          yes          ADD every turn, until the capacity refuses
``rag_turns``             yes        yes          no           ``store_all`` with unlimited capacity:
                                                               RAG over raw turns at answer time
``full_context``          yes        yes          yes          no management: a FIFO of raw turns within
                                                               a token budget, all of it read by the
                                                               answer agent, newest first
``mem0_heuristic``        yes        yes          yes          Mem0-style rules
                                                               (:mod:`memgym.policies.mem0_heuristic`);
                                                               strong on synthetic data, weak on real
``salience``              yes        yes          no           the most salient sentence of each turn,
                                                               within the budget; template-free, for
                                                               real conversations
                                                               (:mod:`memgym.policies.salience_heuristic`)
``long_turns``            yes        yes          no           every turn of at least ``min_words``
                                                               words, whole, until the budget refuses;
                                                               on LoCoMo length ranks evidence best;
                                                               run by name (the LoCoMo recipe)
                                                               (:mod:`memgym.policies.long_turns`)
``oracle``                yes        yes          yes          the synthetic op labels (synthetic data)
``evidence_oracle``       yes        yes          no           every turn a question cites as evidence
                                                               (annotations: LoCoMo); a ceiling and a
                                                               teacher, not a heuristic
                                                               (:mod:`memgym.policies.evidence_oracle`)
``llm``                   yes        yes          yes          an LLM on any backend
                                                               (:mod:`memgym.policies.llm_policy`)
========================  =========  ===========  ===========  ==========================================

``rag_turns`` has no meaning on a ``"text"`` memory such as MemoryOverwrite's (one block, nothing to
retrieve from).

**Optional hooks** the bench harness (:func:`memgym.policies.bench.run_bench`) looks for, all with
defaults in :class:`BaselinePolicy`: ``check(env)`` raises :class:`~memgym.errors.ConfigError` when the
policy does not apply; ``env_overrides(env_id)`` returns environment arguments the policy needs
(``rag_turns``: no capacity limit; ``full_context``: ``answer_context="all"``, the answer agent reads
everything); ``stats()`` returns counters such as ``tokens_generated``.

Example:
    >>> import memgym.envs
    >>> env = memgym.envs.make("memgym/MemoryManager-v0", episode_kwargs={"n_episodes": 1}).unwrapped
    >>> obs, _ = env.reset(seed=0)
    >>> make_policy("store_all").act([obs], [env])  # ADD the first turn, in the env's Mem0 JSON
    ['{"memory": [{"id": "new", "text": "Lorenzo: I am cheerful today, not sure why.", "event": "ADD"}]}']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from memgym.envs.operations import Operation
from memgym.errors import ConfigError
from memgym.registry import Registry

if TYPE_CHECKING:
    from memgym.envs.base import MemoryEnv
    from memgym.envs.units import Unit

#: The baselines without a model, in the order reports list them.
BASELINES: tuple[str, ...] = (
    "noop", "store_all", "rag_turns", "full_context", "mem0_heuristic", "salience", "oracle"
)
#: The baselines that need no oracle labels (what a trainer compares a learned policy with).
HEURISTICS: tuple[str, ...] = tuple(b for b in BASELINES if b != "oracle")


@runtime_checkable
class MemoryPolicy(Protocol):
    """Decides the memory operations of many environments at once (one action per environment).

    ``observations[i]`` is the current observation of ``envs[i]``; the result holds one action each
    (text, or a dict in structured mode). Policies must not step the environments.
    """

    name: str

    def act(self, observations: list[dict], envs: Sequence[MemoryEnv]) -> list[str | dict]: ...


POLICIES: Registry[Any] = Registry("policy")


def make_policy(name: str, **kwargs: Any) -> MemoryPolicy:
    """Build the policy registered as ``name`` (see :data:`POLICIES`); unknown names list the known ones."""
    return POLICIES.get(name)(**kwargs)


def expand_policy_names(names: Sequence[str]) -> list[str]:
    """Names as users write them: ``"heuristic"`` stands for :data:`HEURISTICS`, ``"baselines"`` for
    :data:`BASELINES`; duplicates are dropped, order kept."""
    out: list[str] = []
    for name in names:
        out += list(
            {"heuristic": HEURISTICS, "heuristics": HEURISTICS, "baselines": BASELINES}.get(name, [name])
        )
    return list(dict.fromkeys(out))


# ----------------------------------------------------------------------------- what a step shows
def unit_lines(unit: Unit) -> list[tuple[str, str]]:
    """(speaker, text) of what a step shows: the unit's own text for a one-turn unit (a turn or an
    extracted fact), else each turn of the chunk."""
    if len(unit.turns) == 1:
        return [(unit.turns[0].speaker, unit.text)]
    return [(t.speaker, t.text) for t in unit.turns]


def raw_texts(unit: Unit) -> list[str]:
    """The raw-turn memories of a step, written as the environments write turns: ``"Speaker: text"``."""
    return [f"{speaker}: {text.strip()}" for speaker, text in unit_lines(unit) if text.strip()]


def _active_unit(env: MemoryEnv) -> Unit:
    unit = env.current_unit
    if unit is None:
        raise ConfigError("the episode is over; reset the environment before asking the policy to act")
    return unit


# ----------------------------------------------------------------------------- baselines
class BaselinePolicy:
    """Shared plumbing of the baselines: applicability checks, one action per environment, the hooks."""

    name = "baseline"
    #: The memory kinds (``MemoryEnv.memory_kind``) this baseline has a meaning on.
    memory_kinds: tuple[str, ...] = ("entries", "text")

    def check(self, env: Any) -> None:
        """Raise :class:`ConfigError` when this policy cannot run on ``env``."""
        env = env.unwrapped
        if getattr(env, "action_mode", "text") != "text":
            raise ConfigError(
                f"{self.name} writes text actions; make the environment with action_mode='text'"
            )
        kind = getattr(env, "memory_kind", "entries")
        if kind not in self.memory_kinds:
            raise ConfigError(
                f"{self.name} has no meaning on {type(env).__name__} (memory_kind {kind!r}); it applies to "
                f"environments whose memory is {' or '.join(map(repr, self.memory_kinds))}"
            )

    def env_overrides(self, env_id: str) -> dict[str, Any]:
        """Environment arguments this policy needs (overlaid on the benchmark's)."""
        return {}

    def stats(self) -> dict[str, int]:
        """Counters accumulated over calls (``tokens_generated`` for model policies)."""
        return {}

    def act(self, observations: list[dict], envs: Sequence[MemoryEnv]) -> list[str | dict]:
        """One action per environment (baselines decide each one alone)."""
        if len(observations) != len(envs):
            raise ConfigError(f"{len(observations)} observations for {len(envs)} environments")
        return [self.act_one(env.unwrapped) for env in envs]

    def act_one(self, env: MemoryEnv) -> str:
        raise NotImplementedError


EVICTIONS = ("refuse", "related")


class WholeTurnPolicy(BaselinePolicy):
    """Keep the turns of some steps whole, one memory each; subclasses say which steps (:meth:`keeps`).

    Under ``numbered_candidates`` a one-turn step is named ``#1`` (the environment expands it), so the
    actions are exactly those an LLM under the ``choices`` grammar can write. When the bank is full it
    refuses (``evict="refuse"``: the turn is not kept) or DELETEs the most related memory shown first
    (``"related"``: the only eviction a manager that sees ``top_k`` memories can choose).
    """

    memory_kinds = ("entries",)

    def __init__(self, evict: str = "refuse") -> None:
        if evict not in EVICTIONS:
            raise ConfigError(f"evict={evict!r} is not one of {', '.join(map(repr, EVICTIONS))}")
        self.evict = evict

    def keeps(self, env: MemoryEnv, unit: Unit) -> bool:
        """Whether this step's turns are kept."""
        raise NotImplementedError

    def act_one(self, env: MemoryEnv) -> str:
        unit = env.current_unit
        if unit is None or not self.keeps(env, unit):
            return env.render_action([])
        ops: list[Operation] = []
        bank = env.bank
        if bank.max_entries is not None and len(bank) >= bank.max_entries:
            shown = env.shown_memories(unit)
            if self.evict == "refuse" or not shown:
                return env.render_action([])
            ops.append(Operation.delete(shown[0].id))
        texts = ["#1"] if getattr(env, "numbered_candidates", False) and len(unit.turns) == 1 else raw_texts(unit)
        return env.render_action([*ops, *(Operation.add(t) for t in texts)])


class NoopPolicy(BaselinePolicy):
    """Keeps no memory: every answer comes from an empty bank (only abstentions can score)."""

    name = "noop"

    def act_one(self, env: MemoryEnv) -> str:
        return env.render_action([])


class StoreAllPolicy(BaselinePolicy):
    """ADDs every turn as ``"Speaker: text"``; once the bank's capacity is reached, the bank refuses
    (the refusals show as ``failed`` operations). On a ``"text"`` memory (MemoryOverwrite) the turns are
    appended to the memory text, which the environment cuts at its budget."""

    name = "store_all"

    def act_one(self, env: MemoryEnv) -> str:
        texts = raw_texts(_active_unit(env))
        if env.memory_kind == "text":
            kept = [env.memory_text] if env.memory_text else []
            return env.render_action([Operation.update(None, "\n".join(kept + texts))] if texts else [])
        return env.render_action([Operation.add(t, tier=_episodic(env)) for t in texts])


class RagTurnsPolicy(StoreAllPolicy):
    """RAG over raw turns: every turn stored without any capacity limit, retrieved at answer time."""

    name = "rag_turns"
    memory_kinds = ("entries",)

    def env_overrides(self, env_id: str) -> dict[str, Any]:
        return {"max_entries": None, "max_tokens": None}


class FullContextPolicy(BaselinePolicy):
    """No memory management: the raw history, as a FIFO of turns within ``budget_tokens``.

    Each step ADDs the new turns and DELETEs the oldest ones so the bank stays within the budget (and
    within the environment's own capacity). At answer time the answer agent reads *all* of it, newest
    first, instead of the memories retrieved for the question (the environment's
    ``answer_context="all"``, from :meth:`env_overrides`): a long-context reader, truncated at the budget. (An :class:`~memgym.policies.answer_agents.llm.LLMAnswerAgent` still
    cuts at its own ``top_k``, Memory-R1's 60 by default: give it a larger one for a long window, as
    ``memgym bench`` does.)

    Args:
        budget_tokens: the history kept, in the bank's tokens (whitespace words by default).
    """

    name = "full_context"

    def __init__(self, budget_tokens: int = 4096) -> None:
        if int(budget_tokens) < 1:
            raise ConfigError(f"budget_tokens must be at least 1, got {budget_tokens}")
        self.budget_tokens = int(budget_tokens)

    def env_overrides(self, env_id: str) -> dict[str, Any]:
        return {"answer_context": "all"}

    def act_one(self, env: MemoryEnv) -> str:
        texts = raw_texts(_active_unit(env))
        if env.memory_kind == "text":
            budget = min(self.budget_tokens, env.bank.max_tokens or self.budget_tokens)
            lines = [ln for ln in env.memory_text.splitlines() if ln.strip()] + texts
            return env.render_action([Operation.update(None, "\n".join(_fifo(lines, budget, None, env)))])
        bank = env.bank
        budget = min(self.budget_tokens, bank.max_tokens or self.budget_tokens)
        counter = bank.token_counter
        texts = _fifo(texts, budget, bank.max_entries, env)  # a chunk longer than the budget keeps its end
        held = bank.entries()
        need_tokens = bank.total_tokens + sum(counter(t) for t in texts) - budget
        need_entries = len(held) + len(texts) - (bank.max_entries or len(held) + len(texts))
        ops: list[Operation] = []
        for entry in held:  # oldest first: the bank keeps insertion order
            if need_tokens <= 0 and need_entries <= 0:
                break
            ops.append(Operation.delete(entry.id))
            need_tokens -= counter(entry.text)
            need_entries -= 1
        return env.render_action(ops + [Operation.add(t, tier=_episodic(env)) for t in texts])


class OraclePolicy(BaselinePolicy):
    """The synthetic oracle: the labelled operations of each step (``env.oracle_action()``)."""

    name = "oracle"

    def check(self, env: Any) -> None:
        super().check(env)
        unlabelled = [ep.id for ep in env.unwrapped.episodes if not ep.op_labels]
        if unlabelled:
            raise ConfigError(
                f"oracle needs operation labels, which only synthetic episodes have; "
                f"{len(unlabelled)} episode(s) have none (e.g. {unlabelled[0]!r})"
            )

    def act_one(self, env: MemoryEnv) -> str:
        return env.oracle_action()


def _episodic(env: MemoryEnv) -> str | None:
    """Raw turns go to the ``episodic`` tier of a tiered (Mem-α) memory, else the default tier."""
    return "episodic" if "episodic" in env.bank.tiers else None


def _fifo(texts: list[str], budget: int, max_entries: int | None, env: MemoryEnv) -> list[str]:
    """The newest ``texts`` that fit in ``budget`` tokens (and ``max_entries``), oldest first."""
    counter = env.bank.token_counter
    kept: list[str] = []
    used = 0
    for text in reversed(texts):
        cost = counter(text)
        if used + cost > budget or (max_entries is not None and len(kept) >= max_entries):
            break
        kept.append(text)
        used += cost
    return kept[::-1]


POLICIES.register("noop", NoopPolicy)
POLICIES.register("store_all", StoreAllPolicy)
POLICIES.register("rag_turns", RagTurnsPolicy)
POLICIES.register("full_context", FullContextPolicy)
POLICIES.register("mem0_heuristic", "memgym.policies.mem0_heuristic:Mem0HeuristicPolicy")
POLICIES.register("salience", "memgym.policies.salience_heuristic:SalienceHeuristicPolicy")
POLICIES.register("long_turns", "memgym.policies.long_turns:LongTurnsPolicy")
POLICIES.register("oracle", OraclePolicy)
POLICIES.register("evidence_oracle", "memgym.policies.evidence_oracle:EvidenceOraclePolicy")
POLICIES.register("llm", "memgym.policies.llm_policy:LLMPolicy")
POLICIES.register("always_retain", "memgym.policies.consolidation_baselines:AlwaysRetainPolicy")
POLICIES.register("always_consolidate", "memgym.policies.consolidation_baselines:AlwaysConsolidatePolicy")
POLICIES.register("never_delete", "memgym.policies.consolidation_baselines:NeverDeletePolicy")
