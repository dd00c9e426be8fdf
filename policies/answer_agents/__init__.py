"""The answer agents: they read the memories retrieved for a question and answer it.

- ``extractive`` (:class:`~memgym.policies.answer_agents.extractive.ExtractiveAnswerAgent`): model-free
  and deterministic, for synthetic episodes (it picks among the question's candidate values);
- ``llm`` (:class:`~memgym.policies.answer_agents.llm.LLMAnswerAgent`): Memory-R1's "memory
  distillation" prompt on any generation backend.

Both implement :class:`memgym.envs.answering.AnswerAgent` and are registered by name in
:data:`memgym.envs.answering.ANSWER_AGENTS`. The names below load their module on first access.
"""

from __future__ import annotations

from memgym.registry import lazy_module_attributes

_LAZY: dict[str, str] = {
    "ExtractiveAnswerAgent": "memgym.policies.answer_agents.extractive",
    "LLMAnswerAgent": "memgym.policies.answer_agents.llm",
    "parse_answer": "memgym.policies.answer_agents.llm",
    "render_memories": "memgym.policies.answer_agents.llm",
}

__all__ = list(_LAZY)


__getattr__ = lazy_module_attributes(__name__, _LAZY, globals())
