"""The built-in protocols (:data:`memgym.rewards.protocols.PROTOCOLS`) and LoCoMo's question hints."""

from __future__ import annotations

import json

from memgym.envs.episode import Episode, Question
from memgym.rewards.protocols import Hint, Protocol, stable_coin
from memgym.rewards.protocols.longmemeval import (
    is_longmemeval_abstention,
    longmemeval_hint,
    longmemeval_judge_item,
)
from memgym.rewards.protocols.memoryagentbench import MAB_CHUNK_TOKENS

__all__ = ["LOCOMO", "LONGMEMEVAL", "MEM0", "MEMGYM", "MEMORYAGENTBENCH", "MEMORY_R1", "locomo_hint"]

#: LoCoMo's hint for temporal (category 2) questions (``task_eval/evaluate_gpts.py``).
LOCOMO_DATE_HINT = " Use DATE of CONVERSATION to answer with an approximate date."
#: LoCoMo's multiple choice for adversarial (category 5) questions, and its "not mentioned" option.
LOCOMO_CHOICE = " Select the correct answer: (a) {} (b) {}. "
LOCOMO_NOT_MENTIONED = "Not mentioned in the conversation"


def locomo_hint(question: Question, episode: Episode) -> Hint | None:
    """The question as LoCoMo's evaluation asks it (snap-research/locomo ``task_eval/evaluate_gpts.py``).

    Temporal questions get :data:`LOCOMO_DATE_HINT`; an adversarial question becomes a choice between
    "Not mentioned in the conversation" and its adversarial answer (the released
    ``adversarial_answer``), in an order fixed by the question id (the official order is an unseeded
    coin); a reply naming only a letter is mapped back to the option (:meth:`Hint.resolve`).
    """
    if question.category == "temporal":
        return Hint(question.question + LOCOMO_DATE_HINT)
    if question.category != "adversarial":
        return None
    try:
        wrong = json.loads(episode.metadata.get("adversarial_answers", "{}")).get(question.id)
    except ValueError:
        wrong = None
    if not wrong:
        return None
    options = (LOCOMO_NOT_MENTIONED, wrong) if stable_coin(question.id) else (wrong, LOCOMO_NOT_MENTIONED)
    return Hint(question.question + LOCOMO_CHOICE.format(*options), (("a", options[0]), ("b", options[1])))


MEMGYM = Protocol(
    name="memgym",
    title="memgym's own figures: SQuAD-style EM and F1, BLEU-1 on SQuAD words, memgym's abstention rule",
    source="memgym rewards/metrics.py",
    metrics=("em", "f1", "bleu1"),
    primary="em",
    judge="memgym",
    natural_for=("synthetic", "cri", "jsonl", ""),
    notes=("not a published protocol: compare these figures only with other memgym runs",),
)

LOCOMO = Protocol(
    name="locomo",
    title="LoCoMo's QA evaluation: LoCoMo F1 per category 1-5 (category 5 by its phrase rule)",
    source="snap-research/locomo task_eval/evaluation.py (eval_question_answering), task_eval/evaluate_gpts.py",
    metrics=("locomo_f1",),
    primary="locomo_f1",
    hint=locomo_hint,
    natural_for=("locomo",),
    notes=(
        "the answering prompt is memgym's answer agent's, not LoCoMo's QA_PROMPT; the hints are LoCoMo's",
        "evidence recall follows evaluation.py (no-evidence questions count 1)",
    ),
)

MEM0 = Protocol(
    name="mem0",
    title="Mem0's evaluation of LoCoMo: F1 and BLEU-1 as Mem0 computes them, J with Mem0's judge; category 5 excluded",
    source="mem0ai/mem0 evaluation/metrics/utils.py, evaluation/metrics/llm_judge.py, evaluation/evals.py",
    metrics=("mem0_f1", "mem0_bleu1"),
    primary="mem0_f1",
    judge="mem0",
    excluded_categories=("adversarial",),
    notes=("Mem0's judge is GPT-4o-mini in JSON mode; BLEU-1 tokenises with memgym's Punkt substitute",),
)

MEMORY_R1 = Protocol(
    name="memory-r1",
    title="Memory-R1's LoCoMo figures: Mem0's F1, BLEU-1 and J on the Memory-R1 split; category 5 excluded",
    source="Memory-R1 (arXiv 2508.19828) with mem0ai/mem0 evaluation/metrics",
    metrics=("mem0_f1", "mem0_bleu1"),
    primary="mem0_f1",
    judge="mem0",
    excluded_categories=("adversarial",),
    split="memory-r1",
    notes=("split: train conv-26, validation conv-30, test the other eight (152 / 81 / 1,307 questions)",),
)


def _longmemeval_hint(question: Question, episode: Episode) -> Hint | None:
    text = longmemeval_hint(question, episode)
    return Hint(text) if text else None


LONGMEMEVAL = Protocol(
    name="longmemeval",
    title="LongMemEval: its judge per question type; accuracy per type, overall, task-averaged, abstention",
    source="xiaowu0162/LongMemEval src/evaluation/evaluate_qa.py, print_qa_metrics.py, src/generation/run_generation.py",
    metrics=(),
    primary="j",
    judge="longmemeval",
    judge_required=True,
    task_average=True,
    abstention=is_longmemeval_abstention,
    loader_options={"longmemeval": {"session_order": "date"}},
    hint=_longmemeval_hint,
    judge_item=longmemeval_judge_item,
    natural_for=("longmemeval",),
    notes=("the official judge is GPT-4o (gpt-4o-2024-08-06)",),
)

MEMORYAGENTBENCH = Protocol(
    name="memoryagentbench",
    title="MemoryAgentBench: each sub-task's metric (substring EM, EM, recall), averaged over sub-tasks",
    source="HUST-AI-HYZ/MemoryAgentBench utils/eval_other_utils.py and README (metric table)",
    metrics=("mab_accuracy", "mab_substring_em", "mab_em", "mab_f1"),
    primary="mab_accuracy",
    judge="longmemeval",
    averaging="categories",
    loader_options={"memoryagentbench": {"chunking": "sentences", "turn_tokens": MAB_CHUNK_TOKENS}},
    judge_item=longmemeval_judge_item,
    natural_for=("memoryagentbench",),
    notes=(
        "chunks: sentences packed into 4,096 gpt-4o-mini tokens (approximate without a cached tiktoken)",
        "the LongMemEval and InfBench-summary sub-tasks need the judge (--judge); Recsys needs its entity list",
    ),
)
