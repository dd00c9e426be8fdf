"""The LLM answer agent: Memory-R1's "memory distillation" prompt on any generation backend.

Memory-R1's frozen Answer Agent gets the question and the memories retrieved for it (60 in the paper),
first selects the ones that matter, then answers. :class:`LLMAnswerAgent` asks for exactly that: a line
listing the relevant memory ids, then the answer after a fixed marker (``**Answer:**``), which
:func:`parse_answer` reads robustly. All questions of a call go to the backend in one batch. Answers are
cached by the environment's :class:`~memgym.envs.answering.AnswerCache` (keyed by the memories shown,
the question and :attr:`LLMAnswerAgent.name`), so re-scoring an unchanged memory is free.

Example:
    >>> parse_answer("Relevant: [m2]\\nMei moved in June.\\n**Answer:** \\"Oslo\\"")
    'Oslo'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from memgym.envs.answering.distill import (  # the format lives with the env that trains it
    ANSWER_MARKER,
    ANSWER_SYSTEM,
    ANSWER_USER,
    answer_options,
    distill_grammar,
    distill_messages,
    parse_answer,
    render_memories,
)
from memgym.envs.episode import Question
from memgym.envs.memory_bank import MemoryEntry
from memgym.errors import ConfigError, MemgymError
from memgym.policies.backends import ChatPrompt, GenerationBackend, SamplingParams

__all__ = [
    "ANSWER_MARKER", "ANSWER_SYSTEM", "ANSWER_USER", "LLMAnswerAgent", "parse_answer", "render_memories",
]


class LLMAnswerAgent:
    """Answers questions from retrieved memories with an LLM, Memory-R1 style (select, then answer).

    Args:
        backend: any :class:`~memgym.policies.backends.GenerationBackend`.
        params: sampling parameters (default: greedy, 128 new tokens).
        top_k: use at most this many memories per question (Memory-R1 uses 60), best first.
        name: what identifies this agent's answers in the answer cache (default: backend class, model if
            the backend names one, top-k and sampling).
        constrained: ``None``, or sample every answer under the distillation grammar
            (:func:`memgym.envs.answering.distill.distill_grammar`) on the ids shown: ``"format"`` (free
            answer) or ``"choices"`` (one of the question's :func:`~memgym.envs.answering.distill.answer_options`
            when it has candidate values): how an answerer trained under that grammar in
            ``memgym/AnswerAgent-v0`` answers in the bench.
    """

    def __init__(
        self,
        backend: GenerationBackend,
        params: SamplingParams | None = None,
        top_k: int = 60,
        name: str | None = None,
        constrained: str | None = None,
    ) -> None:
        if constrained not in (None, "format", "choices"):
            raise ConfigError(f"constrained={constrained!r} is not one of None, 'format', 'choices'")
        self.constrained = constrained
        self.backend = backend
        self.params = params if params is not None else SamplingParams(max_new_tokens=128, temperature=0.0)
        self.top_k = int(top_k)
        model = getattr(backend, "model_name", None) or getattr(backend, "model", None)
        model = model if isinstance(model, str) else type(backend).__name__
        self.name = name or (
            f"llm-answer/{model}/k{self.top_k}/t{self.params.temperature}"
            f"/n{self.params.max_new_tokens}/s{self.params.seed}" + (f"/g-{constrained}" if constrained else "")
        )

    def build_prompt(self, question: Question, memories: Sequence[MemoryEntry]) -> ChatPrompt:
        """The distillation prompt for one question."""
        return distill_messages(question, list(memories)[: self.top_k])

    def grammar(self, question: Question, memories: Sequence[MemoryEntry]) -> str:
        """The grammar of one constrained answer (the ``AnswerAgent-v0`` grammar of the same style)."""
        choices = answer_options(question) if self.constrained == "choices" and question.candidates else ()
        ids = [m.id for m in list(memories)[: self.top_k]]
        return distill_grammar(ids, choices=choices, max_tokens=self.params.max_new_tokens)

    def answer(self, questions: list[Question], memories: list[list[MemoryEntry]]) -> list[str]:
        """One answer per question, generated in ONE backend call."""
        if len(questions) != len(memories):
            raise ConfigError(f"{len(questions)} questions but {len(memories)} memory lists")
        if not questions:
            return []
        prompts = [self.build_prompt(q, m) for q, m in zip(questions, memories, strict=True)]
        params = self.params
        if self.constrained is not None:
            params = replace(params, grammar=[self.grammar(q, m) for q, m in zip(questions, memories, strict=True)])
        generations = self.backend.generate(prompts, params)
        if len(generations) != len(prompts):
            raise MemgymError(f"the backend returned {len(generations)} generations for {len(prompts)} prompts")
        return [parse_answer(gen.text) for gen in generations]
