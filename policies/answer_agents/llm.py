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

import re
from collections.abc import Sequence

from memgym.envs.episode import ABSTAIN_ANSWER, Question
from memgym.envs.memory_bank import MemoryEntry
from memgym.errors import ConfigError, MemgymError
from memgym.policies.backends import ChatPrompt, GenerationBackend, SamplingParams

#: The marker the answer follows.
ANSWER_MARKER = "**Answer:**"

ANSWER_SYSTEM = f"""\
You answer a question about a long conversation using only the memories retrieved for it. Each memory \
shows its id, when it was written, and its text.
1. Select the memories relevant to the question and list their ids.
2. Think briefly: when memories disagree, the most recent one holds; turn relative dates ("last week") \
into dates using the time the memory was written.
3. Give a short answer (a name, a value, a date or a number; no full sentence).
If the memories do not contain the answer, the answer is "{ABSTAIN_ANSWER}".
Reply in this form:
Relevant: [ids]
<one or two sentences of reasoning>
{ANSWER_MARKER} <answer>"""

ANSWER_USER = """\
Memories:
{memories}

Question: {question}"""

# The marker as models actually write it: any case, with or without bold, "Final answer", a colon.
_MARKER = re.compile(r"\**\s*(?:final\s+)?answer\s*\**\s*:\s*\**", re.IGNORECASE)
_QUOTES = "\"'`“”‘’*_ "


def render_memories(memories: Sequence[MemoryEntry]) -> str:
    """``[id] (time) text`` lines, best first; the time is left out when unknown."""
    if not memories:
        return "(no memories)"
    return "\n".join(
        f"[{m.id}] ({m.timestamp}) {m.text}" if m.timestamp else f"[{m.id}] {m.text}" for m in memories
    )


def parse_answer(text: str, marker: re.Pattern[str] = _MARKER) -> str:
    """The answer in a completion: the text after the LAST marker, else the last non-empty line.

    Only the first non-empty line after the marker counts (models often add an explanation below);
    surrounding quotes, bold markers and whitespace are stripped. Returns ``""`` for an empty completion.
    """
    text = text or ""
    found = list(marker.finditer(text))
    if found:
        tail = text[found[-1].end() :]
        lines = [ln.strip() for ln in tail.splitlines() if ln.strip().strip(_QUOTES)]
        answer = lines[0] if lines else ""
    else:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip().strip(_QUOTES)]
        answer = lines[-1] if lines else ""
    return answer.strip().strip(_QUOTES).strip()


class LLMAnswerAgent:
    """Answers questions from retrieved memories with an LLM, Memory-R1 style (select, then answer).

    Args:
        backend: any :class:`~memgym.policies.backends.GenerationBackend`.
        params: sampling parameters (default: greedy, 128 new tokens).
        top_k: use at most this many memories per question (Memory-R1 uses 60), best first.
        name: what identifies this agent's answers in the answer cache (default: backend class, model if
            the backend names one, top-k and sampling).
    """

    def __init__(
        self,
        backend: GenerationBackend,
        params: SamplingParams | None = None,
        top_k: int = 60,
        name: str | None = None,
    ) -> None:
        self.backend = backend
        self.params = params if params is not None else SamplingParams(max_new_tokens=128, temperature=0.0)
        self.top_k = int(top_k)
        model = getattr(backend, "model_name", None) or getattr(backend, "model", None)
        model = model if isinstance(model, str) else type(backend).__name__
        self.name = name or (
            f"llm-answer/{model}/k{self.top_k}/t{self.params.temperature}"
            f"/n{self.params.max_new_tokens}/s{self.params.seed}"
        )

    def build_prompt(self, question: Question, memories: Sequence[MemoryEntry]) -> ChatPrompt:
        """The distillation prompt for one question."""
        user = ANSWER_USER.format(
            memories=render_memories(list(memories)[: self.top_k]), question=question.question
        )
        return [{"role": "system", "content": ANSWER_SYSTEM}, {"role": "user", "content": user}]

    def answer(self, questions: list[Question], memories: list[list[MemoryEntry]]) -> list[str]:
        """One answer per question, generated in ONE backend call."""
        if len(questions) != len(memories):
            raise ConfigError(f"{len(questions)} questions but {len(memories)} memory lists")
        if not questions:
            return []
        prompts = [self.build_prompt(q, m) for q, m in zip(questions, memories, strict=True)]
        generations = self.backend.generate(prompts, self.params)
        if len(generations) != len(prompts):
            raise MemgymError(f"the backend returned {len(generations)} generations for {len(prompts)} prompts")
        return [parse_answer(gen.text) for gen in generations]
