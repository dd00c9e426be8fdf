"""QA metrics, the LLM judge, shaping terms and their composition.

Rewards are pure, named functions (see ``metrics`` and ``shaping``); a
:class:`~memgym.rewards.compose.RewardComposer` weighs them into the scalar reward and logs each one.
Importing this package is cheap: nltk and model backends load on first use.
"""

from memgym.rewards.cache import AnswerCache, question_key
from memgym.rewards.compose import REWARD_COMPONENTS, RewardComposer
from memgym.rewards.judge import JUDGE_SYSTEM_PROMPT, LLMJudge, build_judge_prompt, parse_verdict
from memgym.rewards.metrics import (
    LOCOMO_CATEGORIES,
    METRICS,
    bleu1,
    exact_match,
    is_abstention,
    locomo_category,
    locomo_f1,
    make_qa_reward,
    normalize_answer,
    score_answers,
    token_f1,
)
from memgym.rewards.shaping import compression, format_validity, oracle_op_agreement, tool_call_success_rate

__all__ = [
    "JUDGE_SYSTEM_PROMPT",
    "LOCOMO_CATEGORIES",
    "METRICS",
    "REWARD_COMPONENTS",
    "AnswerCache",
    "LLMJudge",
    "RewardComposer",
    "bleu1",
    "build_judge_prompt",
    "compression",
    "exact_match",
    "format_validity",
    "is_abstention",
    "locomo_category",
    "locomo_f1",
    "make_qa_reward",
    "normalize_answer",
    "oracle_op_agreement",
    "parse_verdict",
    "question_key",
    "score_answers",
    "token_f1",
    "tool_call_success_rate",
]
