"""QA metrics, benchmark protocols, the LLM judge, memory metrics, shaping terms, the reward components.

The reward components environments pay are pure, named functions in one registry
(:data:`~memgym.rewards.components.REWARDS`, built on the metrics and shaping terms); a
:class:`~memgym.rewards.compose.RewardComposer` weighs them into the scalar reward and logs each one.
Importing this package is cheap: nltk and model backends load on first use.
"""

from memgym.rewards.components import REWARDS, StepOutcome, register_reward
from memgym.rewards.compose import RewardComposer
from memgym.rewards.judge import (
    JUDGE_STYLES,
    JUDGE_SYSTEM_PROMPT,
    LLMJudge,
    build_judge_prompt,
    parse_verdict,
)
from memgym.rewards.memory_metrics import answer_support, evidence_all, evidence_recall
from memgym.rewards.metrics import (
    LOCOMO_CATEGORIES,
    METRICS,
    bleu1,
    exact_match,
    is_abstention,
    locomo_category,
    locomo_em,
    locomo_f1,
    normalize_answer,
    score_answers,
    token_f1,
)
from memgym.rewards.protocols import PROTOCOLS, Protocol, get_protocol
from memgym.rewards.shaping import compression, format_validity, oracle_op_agreement, tool_call_success_rate

__all__ = [
    "JUDGE_STYLES",
    "JUDGE_SYSTEM_PROMPT",
    "LOCOMO_CATEGORIES",
    "METRICS",
    "PROTOCOLS",
    "REWARDS",
    "LLMJudge",
    "Protocol",
    "RewardComposer",
    "StepOutcome",
    "answer_support",
    "bleu1",
    "build_judge_prompt",
    "compression",
    "evidence_all",
    "evidence_recall",
    "exact_match",
    "format_validity",
    "get_protocol",
    "is_abstention",
    "locomo_category",
    "locomo_em",
    "locomo_f1",
    "normalize_answer",
    "oracle_op_agreement",
    "parse_verdict",
    "register_reward",
    "score_answers",
    "token_f1",
    "tool_call_success_rate",
]
