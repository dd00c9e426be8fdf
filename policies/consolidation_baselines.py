"""Baselines of the consolidation environment (``memgym/MemoryConsolidate-v0``): when to consolidate.

========================  ==================  ==========================================================
name                      regimes             what it does each round
========================  ==================  ==========================================================
``always_retain``         automatic,          keeps every raw episode as it is (episodic memory, no
                          episodic            management)
``always_consolidate``    automatic, forced   merges every group of overlapping entries (sharing a name,
                                              place or number; raw and consolidated alike, so merges
                                              stack) into one lossy abstraction of at most
                                              ``summary_words`` words (the model-free merge of
                                              :func:`memgym.envs.consolidate_actions.merge_texts`);
                                              in the forced regime lone entries too
``never_delete``          all three           never deletes anything, neither an entry nor a part of one:
                                              the same groups merged losslessly (every distinct
                                              sentence kept) where consolidation is allowed or forced,
                                              everything retained in the episodic regime
========================  ==================  ==========================================================

The synthetic oracle (``oracle``) and the LLM policy (``llm``) work on this environment too: the oracle
through ``env.oracle_action()`` (:meth:`~memgym.envs.consolidate.MemoryConsolidateEnv.oracle_decisions`),
the LLM through the observation's prompt and, constrained, ``env.action_grammar``. Like every baseline,
these write their choice with ``env.render_action`` and read only what the environment exposes (its
``regime``, ``bank``, ``episode`` and ``new_episodes()``), never its class.
"""

from __future__ import annotations

from typing import Any

from memgym.envs.consolidate_actions import REGIMES, merge_proposals
from memgym.errors import ConfigError
from memgym.policies.managers import BaselinePolicy

__all__ = ["AlwaysConsolidatePolicy", "AlwaysRetainPolicy", "ConsolidationBaseline", "NeverDeletePolicy"]


class ConsolidationBaseline(BaselinePolicy):
    """Shared checks: the environment must offer Retain / Delete / Consolidate in a regime this applies to."""

    memory_kinds = ("entries",)
    #: The regimes this baseline has a meaning in.
    regimes: tuple[str, ...] = REGIMES

    def check(self, env: Any) -> None:
        super().check(env)
        regime = getattr(env.unwrapped, "regime", None)
        if regime not in REGIMES:
            raise ConfigError(f"{self.name} needs the consolidation environment (memgym/MemoryConsolidate-v0), "
                              f"whose actions are Retain / Delete / Consolidate")
        if regime not in self.regimes:
            raise ConfigError(f"{self.name} cannot run in the {regime} regime; it applies to {', '.join(self.regimes)}")

    def _groups(self, env: Any, max_words: int | None, singletons: bool) -> str:
        speakers = tuple(env.episode.speakers) if env.episode is not None else ()
        entries = [*env.bank.entries(), *env.new_episodes()]
        decisions = merge_proposals(entries, speakers, max_words=max_words, max_group=self.max_group,
                                    singletons=singletons)
        return env.render_action(decisions)

    max_group = 6


class AlwaysRetainPolicy(ConsolidationBaseline):
    """Keeps every raw episode: ``{"decisions": []}`` every round."""

    name = "always_retain"
    regimes = ("automatic", "episodic")

    def act_one(self, env: Any) -> str:
        return env.render_action([])


class AlwaysConsolidatePolicy(ConsolidationBaseline):
    """Merges every group of overlapping entries every round into a lossy abstraction.

    Args:
        summary_words: the word budget of each abstraction (past it, the least recurrent sentences go).
        max_group: the most entries merged at once.
    """

    name = "always_consolidate"
    regimes = ("automatic", "forced")

    def __init__(self, summary_words: int = 40, max_group: int = 6) -> None:
        if int(summary_words) < 1 or int(max_group) < 1:
            raise ConfigError(f"summary_words and max_group must be at least 1, got {summary_words}, {max_group}")
        self.summary_words, self.max_group = int(summary_words), int(max_group)

    def act_one(self, env: Any) -> str:
        return self._groups(env, self.summary_words, singletons=env.regime == "forced")


class NeverDeletePolicy(ConsolidationBaseline):
    """Deletes nothing: merges overlapping entries losslessly where consolidation is allowed or forced.

    Args:
        max_group: the most entries merged at once.
    """

    name = "never_delete"

    def __init__(self, max_group: int = 6) -> None:
        if int(max_group) < 1:
            raise ConfigError(f"max_group must be at least 1, got {max_group}")
        self.max_group = int(max_group)

    def act_one(self, env: Any) -> str:
        if env.regime == "episodic":
            return env.render_action([])
        return self._groups(env, None, singletons=env.regime == "forced")
