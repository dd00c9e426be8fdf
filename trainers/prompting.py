"""The policy's prompt format, kept identical in SFT, rollouts and evaluation.

The environments write long system prompts (the whole operation manual: about 230 tokens for
MemoryManager). On a CPU every prompt token is paid for in every step of every rollout and every update,
so a run may replace the system message with a shorter one (``env.system_prompt``). The policy then sees
that prompt everywhere: in the warm start's examples, in training rollouts, and in evaluation through the
bench harness (:class:`PromptedLLMPolicy`). The environment, its parser and its rewards are unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from memgym.policies.llm_policy import LLMPolicy

#: A short MemoryManager (Mem0 JSON) instruction: the environment's contract in ~40 tokens.
COMPACT_MANAGER_PROMPT = (
    'Update the memory from the new message. Reply with JSON: {"memory": [{"id": "new" or a memory id, '
    '"text": fact, "event": "ADD"|"UPDATE"|"DELETE"}]}, or {"memory": []}.'
)


class SystemPrompt:
    """Replace the system message of a chat (``None`` keeps the environment's own)."""

    def __init__(self, text: str | None) -> None:
        self.text = text

    def __call__(self, messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
        out = [dict(m) for m in messages]
        if self.text is None:
            return out
        if out and out[0].get("role") == "system":
            out[0]["content"] = self.text
        else:
            out.insert(0, {"role": "system", "content": self.text})
        return out


class SkipSpeakers:
    """A MemoryManager ``extractor`` that drops the turns of some speakers (no step is shown for them).

    Picklable, so environments built with it can go to bench worker processes.
    """

    def __init__(self, speakers: Sequence[str]) -> None:
        self.speakers = frozenset(s.lower() for s in speakers)

    def __call__(self, turn: Any) -> list[str]:
        return [] if str(turn.speaker).lower() in self.speakers else [turn.text]


def compact_mem0_action(text: str) -> str:
    """A Mem0 JSON action without the fields the parser ignores (``old_memory``, a DELETE's ``text``).

    Shorter targets for the warm start: the operations are unchanged, the completion is shorter.
    """
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
    if not isinstance(data, dict) or not isinstance(data.get("memory"), list):
        return text
    items = []
    for item in data["memory"]:
        item = {k: v for k, v in item.items() if k != "old_memory"}
        if item.get("event") == "DELETE":
            item.pop("text", None)
        items.append(item)
    return json.dumps({"memory": items}, ensure_ascii=False)


class PromptedLLMPolicy(LLMPolicy):
    """The bench harness's LLM policy, showing the model the run's prompt format."""

    def __init__(
        self, backend: Any, params: Any, system_prompt: str | None, name: str = "trained", constrained: str | None = None
    ) -> None:
        super().__init__(backend, params, name=name, constrained=constrained)
        self.format = SystemPrompt(system_prompt)

    def act(self, observations: list[dict], envs: Sequence[Any] | None = None) -> list[str]:
        shown = [
            {**obs, "messages": self.format(obs["messages"])}
            if isinstance(obs, dict) and "messages" in obs
            else obs
            for obs in observations
        ]
        return super().act(shown, envs)
