"""MemoryAgentBench (Hu et al., 2025) rows: ``context``, ``questions``, ``answers``, ``metadata``.

Rows come as JSON lines, a JSON list, or the Hugging Face parquet files. The long ``context`` is cut
into user turns, all in one session ``D1`` (the benchmark gives no dates), by ``chunking``:

- ``"words"`` (the default): at most ``turn_tokens`` whitespace words (default 512) at paragraph, then
  sentence, then word boundaries (:func:`split_context`);
- ``"sentences"``: MemoryAgentBench's own chunking (``chunk_text_into_sentences`` in
  HUST-AI-HYZ/MemoryAgentBench ``utils/eval_other_utils.py``, what the ``memoryagentbench`` protocol
  uses with ``turn_tokens=4096``): Punkt sentences packed greedily into chunks of at most
  ``turn_tokens`` gpt-4o-mini tokens, joined by spaces; a sentence longer than that is a chunk of its
  own (:func:`split_context_sentences`; tokens and sentences as
  :mod:`memgym.rewards.tokenization` counts and splits them without downloads). The official code
  emits an empty chunk when the very first sentence is over the budget; memgym does not.

The category of every question is ``metadata["source"]`` (e.g. ``eventqa_full``); ``answers[i]`` may be
a string or a list of accepted strings. Other metadata keys are kept as JSON strings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from memgym.envs.data._common import RecordReader, answers_list, iter_jsonl, read_json
from memgym.envs.episode import Episode, Question, Session, Turn
from memgym.errors import ConfigError, DatasetError

DEFAULT_TURN_TOKENS = 512
CHUNKINGS: tuple[str, ...] = ("words", "sentences")


def _pieces(text: str, limit: int) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` words, preferring sentence then word boundaries."""
    if len(text.split()) <= limit:
        return [text]
    out: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        words = sentence.split()
        out += (
            [" ".join(words[i : i + limit]) for i in range(0, len(words), limit)]
            if len(words) > limit
            else [sentence]
        )
    return out


def split_context(context: str, turn_tokens: int = DEFAULT_TURN_TOKENS) -> list[str]:
    """Greedy packing of paragraphs (then sentences, then words) into turns of ``turn_tokens`` words."""
    turns: list[str] = []
    current: list[str] = []
    used = 0
    for paragraph in re.split(r"\n\s*\n", context):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        for piece in _pieces(paragraph, turn_tokens):
            size = len(piece.split())
            if current and used + size > turn_tokens:
                turns.append("\n\n".join(current))
                current, used = [], 0
            current.append(piece)
            used += size
    if current:
        turns.append("\n\n".join(current))
    return turns


def split_context_sentences(context: str, chunk_tokens: int = 4096, count: Any = None) -> list[str]:
    """MemoryAgentBench's chunks: sentences packed greedily while the chunk stays within ``chunk_tokens``.

    ``count`` maps a text to its token count (default: gpt-4o-mini tokens,
    :func:`memgym.rewards.tokenization.count_gpt4o_tokens`); each sentence is counted alone and a
    chunk's size is the sum of its sentences', as the official code counts.
    """
    from memgym.rewards.tokenization import count_gpt4o_tokens, sent_tokenize

    count = count or count_gpt4o_tokens
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for sentence in sent_tokenize(context):
        size = count(sentence)
        if used + size > chunk_tokens:
            if current:
                chunks.append(" ".join(current))
            current, used = [sentence], size
        else:
            current.append(sentence)
            used += size
    if current:
        chunks.append(" ".join(current))
    return chunks


def _episode(path: Path, index: int, row: Any, turn_tokens: int, chunking: str) -> Episode:
    reader = RecordReader(path, index)
    context = reader.text(row, "context", "context")
    questions = reader.get(row, "questions", list, "questions")
    answers = reader.get(row, "answers", list, "answers")
    if len(answers) != len(questions):
        raise reader.error(f"has {len(answers)} answers for {len(questions)} questions", "answers")
    meta = reader.get(row, "metadata", dict, "metadata", required=False, default={})
    source = str(meta.get("source") or "memoryagentbench")
    episode_id = f"{source}-{index}"
    ids = meta.get("qa_pair_ids") if isinstance(meta.get("qa_pair_ids"), list) else None
    turns = [
        Turn(id=f"D1:{j + 1}", speaker="user", text=t)
        for j, t in enumerate(
            split_context(context, turn_tokens) if chunking == "words" else split_context_sentences(context, turn_tokens)
        )
    ]
    qs = []
    for i, question in enumerate(questions):
        if not isinstance(question, str):
            raise reader.error(f"expected a string, got {type(question).__name__}", f"questions[{i}]")
        qid = str(ids[i]) if ids and i < len(ids) else f"{episode_id}:q{i + 1}"
        qs.append(Question(id=qid, question=question, answers=answers_list(answers[i]), category=source))
    metadata = {
        k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
        for k, v in meta.items()
    }
    return Episode(
        id=episode_id,
        speakers=["user"],
        sessions=[Session("D1", None, turns)],
        questions=qs,
        source="memoryagentbench",
        metadata=metadata,
    )


def _rows(path: Path) -> list[Any]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise DatasetError(f"cannot read parquet ({exc})", file=str(path)) from exc
    if path.suffix == ".jsonl":
        return [row for _, row in iter_jsonl(path)]
    data = read_json(path)
    return data if isinstance(data, list) else [data]


def load_memoryagentbench(
    path: str | Path, turn_tokens: int = DEFAULT_TURN_TOKENS, chunking: str = "words"
) -> list[Episode]:
    """One episode per row of a MemoryAgentBench file (``.jsonl``, ``.json`` or ``.parquet``).

    Raises:
        ConfigError: ``chunking`` is not ``"words"`` or ``"sentences"``, or ``turn_tokens`` < 1.
    """
    if chunking not in CHUNKINGS:
        raise ConfigError(f"chunking={chunking!r} is not one of {', '.join(CHUNKINGS)}")
    if turn_tokens < 1:
        raise ConfigError(f"turn_tokens must be at least 1, got {turn_tokens}")
    path = Path(path)
    return [_episode(path, i, row, turn_tokens, chunking) for i, row in enumerate(_rows(path))]
