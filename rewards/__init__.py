"""QA metrics, the LLM judge, shaping terms, the reward components and their composition.

The reward components environments pay are pure, named functions in one registry
(:data:`~memgym.rewards.components.REWARDS`, built on the metrics and shaping terms); a
:class:`~memgym.rewards.compose.RewardComposer` weighs them into the scalar reward and logs each one.
Importing this package is cheap: nltk and model backends load on first use.
"""

from memgym.rewards.components import REWARDS, StepOutcome, register_reward
from memgym.rewards.compose import RewardComposer
from memgym.rewards.judge import JUDGE_SYSTEM_PROMPT, LLMJudge, build_judge_prompt, parse_verdict
from memgym.rewards.metrics import (
    LOCOMO_CATEGORIES,
    METRICS,
    bleu1,
    exact_match,
    is_abstention,
    locomo_category,
    locomo_f1,
    normalize_answer,
    score_answers,
    token_f1,
)
from memgym.rewards.shaping import compression, format_validity, oracle_op_agreement, tool_call_success_rate

__all__ = [
    "JUDGE_SYSTEM_PROMPT",
    "LOCOMO_CATEGORIES",
    "METRICS",
    "REWARDS",
    "LLMJudge",
    "RewardComposer",
    "StepOutcome",
    "bleu1",
    "build_judge_prompt",
    "compression",
    "exact_match",
    "format_validity",
    "is_abstention",
    "locomo_category",
    "locomo_f1",
    "normalize_answer",
    "oracle_op_agreement",
    "parse_verdict",
    "register_reward",
    "score_answers",
    "token_f1",
    "tool_call_success_rate",
]
