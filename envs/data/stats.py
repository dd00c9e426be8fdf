"""Counts that describe a dataset: what ``memgym data stats`` prints."""

from __future__ import annotations

from collections import Counter
from typing import Any

from memgym.envs.data.chunking import episode_tokens
from memgym.envs.episode import Episode
from memgym.envs.operations import OP_KINDS


def dataset_stats(episodes: list[Episode], tokenizer: Any = None) -> dict[str, Any]:
    """Conversations, sessions, turns, tokens, questions (total, per category, mid-stream) and op labels."""
    tokens = [episode_tokens(ep, tokenizer) for ep in episodes]
    questions = [q for ep in episodes for q in ep.questions]
    labels = Counter(label.kind for ep in episodes for label in ep.op_labels)
    return {
        "conversations": len(episodes),
        "sessions": sum(len(ep.sessions) for ep in episodes),
        "turns": sum(len(s.turns) for ep in episodes for s in ep.sessions),
        "tokens": sum(tokens),
        "tokens_per_conversation": {
            "min": min(tokens, default=0),
            "mean": round(sum(tokens) / len(tokens), 1) if tokens else 0.0,
            "max": max(tokens, default=0),
        },
        "questions": len(questions),
        "questions_per_category": dict(sorted(Counter(q.category for q in questions).items())),
        "questions_mid_stream": sum(q.asked_after is not None for q in questions),
        "op_labels": {kind: labels.get(kind, 0) for kind in OP_KINDS} if labels else {},
        "sources": dict(sorted(Counter(ep.source for ep in episodes).items())),
    }


def format_stats(stats: dict[str, Any]) -> str:
    """A human-readable table of :func:`dataset_stats`."""
    per = stats["tokens_per_conversation"]
    lines = [
        f"conversations        {stats['conversations']:>12,}",
        f"sessions             {stats['sessions']:>12,}",
        f"turns                {stats['turns']:>12,}",
        f"tokens               {stats['tokens']:>12,}   (per conversation: min {per['min']:,}, "
        f"mean {per['mean']:,}, max {per['max']:,})",
        f"questions            {stats['questions']:>12,}   (asked mid-stream: {stats['questions_mid_stream']:,})",
    ]
    lines += [f"  {category:<18} {n:>12,}" for category, n in stats["questions_per_category"].items()]
    if stats["op_labels"]:
        lines.append(f"op labels            {sum(stats['op_labels'].values()):>12,}")
        lines += [f"  {kind:<18} {n:>12,}" for kind, n in stats["op_labels"].items()]
    else:
        lines.append("op labels                    none")
    lines.append("sources              " + ", ".join(f"{k} ({v})" for k, v in stats["sources"].items()))
    return "\n".join(lines)
