"""An LLM judge that labels an answer correct or wrong, in one of the published styles.

A *judge style* (:data:`JUDGE_STYLES`, the names a protocol or a user picks) fixes the prompt and how
the reply is read:

- ``"memgym"``: memgym's own prompt (:data:`JUDGE_SYSTEM_PROMPT`): lenient on wording and on date
  formats, JSON only, :func:`parse_verdict` (robust: JSON or the last label word).
- ``"mem0"``: Mem0's accuracy prompt, exactly (``evaluation/metrics/llm_judge.py`` of mem0ai/mem0), as
  one user message; the reply's JSON ``label`` must be exactly ``"CORRECT"`` (:mod:`memgym.rewards.protocols.mem0`).
- ``"longmemeval"``: LongMemEval's per-question-type prompts (``src/evaluation/evaluate_qa.py`` of
  xiaowu0162/LongMemEval); correct when the reply contains "yes" (:mod:`memgym.rewards.protocols.longmemeval`).

The judge runs on any :class:`~memgym.policies.backends.GenerationBackend` (transformers, vLLM, an
OpenAI-compatible server) and batches every uncached item into one ``generate`` call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memgym.errors import ConfigError, MemgymError
from memgym.policies.backends import ChatPrompt, GenerationBackend, SamplingParams
from memgym.registry import Registry

if TYPE_CHECKING:
    from memgym.envs.answering import AnswerCache

__all__ = [
    "JUDGE_STYLES",
    "JUDGE_SYSTEM_PROMPT",
    "JudgeItem",
    "JudgeStyle",
    "LLMJudge",
    "build_judge_prompt",
    "parse_verdict",
]

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


@dataclass(frozen=True)
class JudgeItem:
    """One answer to judge: the question, its gold answer (several as alternatives), the prediction, and
    what per-type styles need: the ``task`` (e.g. LongMemEval's question type) and whether the question
    is an abstention (unanswerable) one, whose ``gold`` is then the released explanation."""

    question: str
    gold: str
    prediction: str
    task: str = ""
    abstention: bool = False


@dataclass(frozen=True)
class JudgeStyle:
    """A judge's prompt and reply parser: ``prompt(item)`` the chat prompt, ``parse(text)`` 1.0 / 0.0 or
    ``None`` (no verdict), ``params`` the sampling the published judge used."""

    name: str
    prompt: Callable[[JudgeItem], ChatPrompt]
    parse: Callable[[str], float | None]
    params: SamplingParams
    source: str = ""


def _memgym_prompt(item: JudgeItem) -> ChatPrompt:
    return build_judge_prompt(item.question, item.gold, item.prediction)


#: Judge styles by name; ``"mem0"`` and ``"longmemeval"`` are the published judges, exactly.
JUDGE_STYLES: Registry[JudgeStyle] = Registry("judge style")
JUDGE_STYLES.register(
    "memgym",
    JudgeStyle("memgym", _memgym_prompt, parse_verdict, SamplingParams(max_new_tokens=48, temperature=0.0),
               "memgym (rewards/judge.py)"),
)
JUDGE_STYLES.register("mem0", "memgym.rewards.protocols.mem0:MEM0_JUDGE")
JUDGE_STYLES.register("longmemeval", "memgym.rewards.protocols.longmemeval:LONGMEMEVAL_JUDGE")


class LLMJudge:
    """Scores predictions 1.0 (correct) or 0.0 (wrong) with an LLM, batched and cached.

    Args:
        backend: Any generation backend; the judge model should be strong (Mem0's J uses
            GPT-4o-mini, LongMemEval's GPT-4o), a small local model only tests the plumbing.
        params: Sampling for the judge (default: the style's, greedy).
        cache: Verdicts are looked up by ``(question, gold, prediction)`` (with the style, task and
            abstention flag folded into the question key) and stored there. Only parsed verdicts are
            stored, so an unparsable reply is asked again next time.
        style: A name of :data:`JUDGE_STYLES` or a :class:`JudgeStyle` (default ``"memgym"``).

    Attributes:
        unparsable: How many replies held no verdict (each scored 0.0); cumulative.
        judged: How many items were sent to the model; cumulative.
    """

    def __init__(
        self,
        backend: GenerationBackend,
        params: SamplingParams | None = None,
        cache: AnswerCache | None = None,
        style: str | JudgeStyle = "memgym",
    ) -> None:
        self.backend = backend
        self.style = JUDGE_STYLES.get(style) if isinstance(style, str) else style
        self.params = params if params is not None else self.style.params
        self.cache = cache
        self.unparsable = 0
        self.judged = 0

    @property
    def name(self) -> str:
        """The style and the backend, for reports."""
        model = getattr(self.backend, "model_name", None) or getattr(self.backend, "model", None)
        return f"{self.style.name} judge on {model if isinstance(model, str) else type(self.backend).__name__}"

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
        return self.judge_items(
            [JudgeItem(str(q), _gold_text(g), str(p)) for q, g, p in zip(questions, gold, predictions, strict=True)]
        )

    def judge_items(self, items: Sequence[JudgeItem]) -> list[float]:
        """One score per :class:`JudgeItem`, in order; the uncached ones go to the backend in one call.

        Raises:
            MemgymError: the backend returned a different number of generations than prompts.
        """
        keys = [self._key(item) for item in items]
        scores: list[float | None] = [
            self.cache.get_verdict(*key) if self.cache is not None else None for key in keys
        ]
        todo = list(dict.fromkeys(item for item, s in zip(items, scores, strict=True) if s is None))
        if todo:
            verdicts = self._ask(todo)
            for i, item in enumerate(items):
                if scores[i] is None:
                    scores[i] = verdicts[item]
        return scores  # type: ignore[return-value]

    def _key(self, item: JudgeItem) -> tuple[str, str, str]:
        """The cache key: memgym's style keeps the plain question (verdicts cached before styles existed)."""
        if self.style.name == "memgym":
            return item.question, item.gold, item.prediction
        tag = f"[{self.style.name}|{item.task}|{'abs' if item.abstention else ''}] "
        return tag + item.question, item.gold, item.prediction

    def _ask(self, todo: list[JudgeItem]) -> dict[JudgeItem, float]:
        generations = self.backend.generate([self.style.prompt(item) for item in todo], self.params)
        if len(generations) != len(todo):
            raise MemgymError(
                f"judge backend returned {len(generations)} generations for {len(todo)} prompts"
            )
        self.judged += len(todo)
        verdicts = {}
        for item, generation in zip(todo, generations, strict=True):
            value = self.style.parse(generation.text)
            if value is None:
                self.unparsable += 1
                value = 0.0
            elif self.cache is not None:
                self.cache.put_verdict(*self._key(item), value)
            verdicts[item] = value
        return verdicts

    def __call__(
        self, questions: Sequence[str], gold: Sequence[str | Sequence[str]], predictions: Sequence[str]
    ) -> list[float]:
        return self.judge(questions, gold, predictions)
