"""LongMemEval's evaluation, exactly: a judge prompt per question type, accuracy per type, overall,
task-averaged and on abstention questions; its answer prompt's current date; sessions by date.

Written from xiaowu0162/LongMemEval ``src/evaluation/evaluate_qa.py`` (``get_anscheck_prompt``: one
template per ``question_type``, another for ``_abs`` questions whatever their type; the judge is asked
with the prompt as one user message, temperature 0, at most 10 tokens, and the answer is correct when
its reply contains "yes", case-insensitively), ``src/evaluation/print_qa_metrics.py`` (accuracy per
type, the task-averaged accuracy = the mean of the six type accuracies, the overall accuracy = the mean
over questions, the abstention accuracy = the mean over ``_abs`` questions, which also count in their
own type) and ``src/generation/run_generation.py`` (the history sorted by session date, then
``Current Date: {question_date}`` before the question).

How memgym applies it: the loader keeps each question's ``question_type`` as its category (``_abs``
questions included) and sorts the sessions by date (:mod:`memgym.envs.data.longmemeval`); the answer
agent sees the question followed by ``Current Date: ...`` (:func:`longmemeval_hint`); the judge sees the
original question, the released answer (for ``_abs`` questions: the released explanation) and the
prediction. The official judge is GPT-4o (``gpt-4o-2024-08-06``); the figures are only comparable with
that judge.

MemoryAgentBench's LongMemEval subset is judged with the same prompts
(``llm_based_eval/longmem_qa_evaluate.py`` of HUST-AI-HYZ/MemoryAgentBench); there the question types
come from the row's ``metadata["question_types"]``.
"""

from __future__ import annotations

from memgym.envs.episode import Episode, Question
from memgym.policies.backends import ChatPrompt, SamplingParams
from memgym.rewards.judge import JudgeItem, JudgeStyle

__all__ = [
    "LONGMEMEVAL_JUDGE",
    "LONGMEMEVAL_TYPES",
    "build_longmemeval_judge_prompt",
    "is_longmemeval_abstention",
    "longmemeval_hint",
    "longmemeval_judge_item",
    "parse_longmemeval_verdict",
]

#: The six question types, in the order ``print_qa_metrics.py`` reports them.
LONGMEMEVAL_TYPES: tuple[str, ...] = (
    "single-session-user",
    "single-session-preference",
    "single-session-assistant",
    "multi-session",
    "temporal-reasoning",
    "knowledge-update",
)

# The official templates, verbatim (str.format fields: question, answer / rubric / explanation, response).
_LME_FACT = 'I will give you a question, a correct answer, and a response from a model. Please answer yes if the response contains the correct answer. Otherwise, answer no. If the response is equivalent to the correct answer or contains all the intermediate steps to get the correct answer, you should also answer yes. If the response only contains a subset of the information required by the answer, answer no. \n\nQuestion: {}\n\nCorrect Answer: {}\n\nModel Response: {}\n\nIs the model response correct? Answer yes or no only.'
_LME_TEMPORAL = "I will give you a question, a correct answer, and a response from a model. Please answer yes if the response contains the correct answer. Otherwise, answer no. If the response is equivalent to the correct answer or contains all the intermediate steps to get the correct answer, you should also answer yes. If the response only contains a subset of the information required by the answer, answer no. In addition, do not penalize off-by-one errors for the number of days. If the question asks for the number of days/weeks/months, etc., and the model makes off-by-one errors (e.g., predicting 19 days when the answer is 18), the model's response is still correct. \n\nQuestion: {}\n\nCorrect Answer: {}\n\nModel Response: {}\n\nIs the model response correct? Answer yes or no only."
_LME_UPDATE = 'I will give you a question, a correct answer, and a response from a model. Please answer yes if the response contains the correct answer. Otherwise, answer no. If the response contains some previous information along with an updated answer, the response should be considered as correct as long as the updated answer is the required answer.\n\nQuestion: {}\n\nCorrect Answer: {}\n\nModel Response: {}\n\nIs the model response correct? Answer yes or no only.'
_LME_PREFERENCE = "I will give you a question, a rubric for desired personalized response, and a response from a model. Please answer yes if the response satisfies the desired response. Otherwise, answer no. The model does not need to reflect all the points in the rubric. The response is correct as long as it recalls and utilizes the user's personal information correctly.\n\nQuestion: {}\n\nRubric: {}\n\nModel Response: {}\n\nIs the model response correct? Answer yes or no only."
_LME_ABSTENTION = 'I will give you an unanswerable question, an explanation, and a response from a model. Please answer yes if the model correctly identifies the question as unanswerable. The model could say that the information is incomplete, or some other information is given but the asked information is not.\n\nQuestion: {}\n\nExplanation: {}\n\nModel Response: {}\n\nDoes the model correctly identify the question as unanswerable? Answer yes or no only.'

_TEMPLATES: dict[str, str] = {
    "single-session-user": _LME_FACT,
    "single-session-assistant": _LME_FACT,
    "multi-session": _LME_FACT,
    "temporal-reasoning": _LME_TEMPORAL,
    "knowledge-update": _LME_UPDATE,
    "single-session-preference": _LME_PREFERENCE,
}


def is_longmemeval_abstention(question_id: str) -> bool:
    """LongMemEval's rule: a question is an abstention one when ``"_abs"`` is in its id."""
    return "_abs" in question_id


def build_longmemeval_judge_prompt(item: JudgeItem) -> ChatPrompt:
    """The official prompt for the item's question type (``task``), or the abstention one.

    A type outside the six falls back to the single-session template (the official raises).
    """
    if item.abstention:
        template = _LME_ABSTENTION
    else:
        template = _TEMPLATES.get(item.task, _LME_FACT)
    return [{"role": "user", "content": template.format(item.question, item.gold, item.prediction)}]


def parse_longmemeval_verdict(text: str) -> float:
    """1.0 when the stripped reply contains "yes" (any case), else 0.0: the official rule, never unparsable.

    >>> parse_longmemeval_verdict("Yes."), parse_longmemeval_verdict("no"), parse_longmemeval_verdict("eyes")
    (1.0, 0.0, 1.0)
    """
    return 1.0 if "yes" in text.strip().lower() else 0.0


#: LongMemEval's judge: per-type prompts, the "yes" rule, greedy with at most 10 tokens.
LONGMEMEVAL_JUDGE = JudgeStyle(
    "longmemeval",
    build_longmemeval_judge_prompt,
    parse_longmemeval_verdict,
    SamplingParams(max_new_tokens=10, temperature=0.0),
    "xiaowu0162/LongMemEval src/evaluation/evaluate_qa.py",
)


def _question_index(question: Question, episode: Episode) -> int:
    return next(i for i, q in enumerate(episode.questions) if q.id == question.id)


def longmemeval_judge_item(question: Question, episode: Episode, prediction: str) -> JudgeItem:
    """What the official judge sees for one question: its type, the abstention flag and the gold text
    (the released explanation for an abstention question, kept in ``metadata["original_answer"]``)."""
    import json

    abstention = is_longmemeval_abstention(question.id)
    task = question.category
    if episode.source == "memoryagentbench":  # MemoryAgentBench rows list a type per question
        try:
            types = json.loads(episode.metadata.get("question_types", "[]"))
            task = str(types[_question_index(question, episode)])
        except (ValueError, IndexError, StopIteration, TypeError):
            task = question.category
    gold = episode.metadata.get("original_answer") if abstention else None
    return JudgeItem(question.question, gold or " OR ".join(question.answers), prediction, task, abstention)


def longmemeval_hint(question: Question, episode: Episode) -> str | None:
    """The question as the official answer prompt follows it with the current date, or ``None``."""
    date = episode.metadata.get("question_date")
    return f"{question.question}\nCurrent Date: {date}" if date else None
