"""An LLM judge that labels an answer CORRECT or WRONG, in the spirit of the J score Mem0 reports.

The judge is lenient on wording and on date formats: an answer that refers to the same thing or the
same time as the gold answer is correct. It runs on any
:class:`~memgym.policies.backends.GenerationBackend` (transformers, vLLM, an OpenAI-compatible server)
and batches every uncached item into one ``generate`` call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from memgym.errors import ConfigError, MemgymError
from memgym.policies.backends import ChatPrompt, GenerationBackend, SamplingParams

if TYPE_CHECKING:
    from memgym.envs.answering import AnswerCache

__all__ = ["JUDGE_SYSTEM_PROMPT", "LLMJudge", "build_judge_prompt", "parse_verdict"]

JUDGE_SYSTEM_PROMPT = """\
You grade answers to questions about a long conversation between people. For each item you see the \
question, the gold answer (the truth, usually short) and a generated answer. Label the generated \
answer CORRECT or WRONG.

Be generous about wording: the generated answer may be longer, phrased differently or add detail; it \
is CORRECT when it refers to the same thing as the gold answer. For dates and times, it is CORRECT \
when it names the same date or period, whatever the format ("7 May 2023", "May 7th", "2023-05-07") or \
if it uses a relative expression that resolves to it. It is WRONG when it names something else, \
contradicts the gold answer, or says it does not know while the gold answer gives a fact. When the \
gold answer says the information was not mentioned, an answer saying it is unknown or not mentioned \
is CORRECT.

Reply with JSON only, exactly one of: {"label": "CORRECT"} or {"label": "WRONG"}"""

_JSON_OBJECT = re.compile(r"\{[^{}]*\}")
_LABEL_WORD = re.compile(r"\b(not\s+)?(correct|incorrect|wrong)\b", re.IGNORECASE)


def build_judge_prompt(question: str, gold: str, prediction: str) -> ChatPrompt:
    """The chat prompt for one item: the grading rules as the system message, the item as the user's."""
    user = f"Question: {question}\nGold answer: {gold}\nGenerated answer: {prediction}\n\nLabel:"
    return [{"role": "system", "content": JUDGE_SYSTEM_PROMPT}, {"role": "user", "content": user}]


def _label_value(label: object) -> float | None:
    if not isinstance(label, str):
        return None
    word = label.strip().strip("\"'.!").upper()
    return {"CORRECT": 1.0, "WRONG": 0.0, "INCORRECT": 0.0}.get(word)


def parse_verdict(text: str) -> float | None:
    """1.0 for CORRECT, 0.0 for WRONG, ``None`` when ``text`` holds no verdict.

    Tried in order: a JSON object with a ``label`` key (anywhere in the text, e.g. inside a code fence);
    then the label words themselves, the last one deciding (models explain first, conclude last), with
    upper-case labels preferred over the same words used in prose; "INCORRECT" and "not correct" read as
    WRONG, "not wrong" as CORRECT.

    >>> parse_verdict('{"label": "CORRECT"}'), parse_verdict("The answer is wrong. WRONG"), parse_verdict("?")
    (1.0, 0.0, None)
    """
    for match in reversed(_JSON_OBJECT.findall(text)):
        try:
            obj = json.loads(match)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            labels = [v for k, v in obj.items() if isinstance(k, str) and k.lower() in ("label", "verdict")]
            value = _label_value(labels[0]) if labels else None
            if value is not None:
                return value
    words = list(_LABEL_WORD.finditer(text))
    shouted = [m for m in words if m.group(2).isupper()]
    for candidates in (shouted, words):
        if candidates:
            last = candidates[-1]
            value = _label_value(last.group(2))
            return 1.0 - value if last.group(1) and value is not None else value
    return None


def _gold_text(gold: str | Sequence[str]) -> str:
    """Several accepted answers are shown to the judge as alternatives."""
    return gold if isinstance(gold, str) else " OR ".join(str(g) for g in gold)


class LLMJudge:
    """Scores predictions 1.0 (CORRECT) or 0.0 (WRONG) with an LLM, batched and cached.

    Args:
        backend: Any generation backend; the judge model should be strong (the reported J uses
            GPT-4o-mini), a small local model only tests the plumbing.
        params: Sampling for the judge; greedy with room for a short JSON reply by default.
        cache: Verdicts are looked up by ``(question, gold, prediction)`` and stored there. Only parsed
            verdicts are stored, so an unparsable reply is asked again next time.

    Attributes:
        unparsable: How many replies held no verdict (each scored 0.0); cumulative.
        judged: How many items were sent to the model; cumulative.
    """

    def __init__(
        self,
        backend: GenerationBackend,
        params: SamplingParams | None = None,
        cache: AnswerCache | None = None,
    ) -> None:
        self.backend = backend
        self.params = params if params is not None else SamplingParams(max_new_tokens=48, temperature=0.0)
        self.cache = cache
        self.unparsable = 0
        self.judged = 0

    def judge(
        self, questions: Sequence[str], gold: Sequence[str | Sequence[str]], predictions: Sequence[str]
    ) -> list[float]:
        """One score per item, in order; all items not in the cache go to the backend in one call.

        Raises:
            ConfigError: the three lists differ in length.
            MemgymError: the backend returned a different number of generations than prompts.
        """
        if not len(questions) == len(gold) == len(predictions):
            raise ConfigError(
                f"judge got {len(questions)} questions, {len(gold)} gold answers and "
                f"{len(predictions)} predictions; they must match one to one"
            )
        items = [
            (str(q), _gold_text(g), str(p)) for q, g, p in zip(questions, gold, predictions, strict=True)
        ]
        scores: list[float | None] = [
            self.cache.get_verdict(*item) if self.cache is not None else None for item in items
        ]
        todo = list(
            dict.fromkeys(item for item, s in zip(items, scores, strict=True) if s is None)
        )  # dedupe, keep order
        if todo:
            verdicts = self._ask(todo)
            for i, item in enumerate(items):
                if scores[i] is None:
                    scores[i] = verdicts[item]
        return scores  # type: ignore[return-value]

    def _ask(self, todo: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], float]:
        generations = self.backend.generate([build_judge_prompt(*item) for item in todo], self.params)
        if len(generations) != len(todo):
            raise MemgymError(
                f"judge backend returned {len(generations)} generations for {len(todo)} prompts"
            )
        self.judged += len(todo)
        verdicts = {}
        for item, generation in zip(todo, generations, strict=True):
            value = parse_verdict(generation.text)
            if value is None:
                self.unparsable += 1
                value = 0.0
            elif self.cache is not None:
                self.cache.put_verdict(*item, value)
            verdicts[item] = value
        return verdicts

    def __call__(
        self, questions: Sequence[str], gold: Sequence[str | Sequence[str]], predictions: Sequence[str]
    ) -> list[float]:
        return self.judge(questions, gold, predictions)
