"""Chunking episodes by turn, session and token budget, and counting their tokens."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memgym.envs.data import chunk_episode, episode_tokens, generate_episode
from memgym.envs.data.chunking import render_turn, token_counter
from memgym.envs.episode import Episode, Session, Turn
from memgym.errors import ConfigError

EPISODE = generate_episode(0, 0)


def tiny_episode() -> Episode:
    return Episode(
        id="e",
        speakers=["Alice", "Bob"],
        sessions=[
            Session(
                "D1",
                "1:56 pm on 8 May, 2023",
                [Turn("D1:1", "Alice", "Hi Bob."), Turn("D1:2", "Bob", "Hello there Alice.")],
            ),
            Session("D2", "9:00 am on 9 May, 2023", []),
            Session("D3", None, [Turn("D3:1", "Alice", "No date here.")]),
        ],
    )


@pytest.fixture(scope="module")
def hf_tokenizer():
    """A real (tiny, locally trained) Hugging Face fast tokenizer: subword counts differ from words."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        [t.text for t in EPISODE.turns()], trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"])
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")


def test_session_chunks_render_the_date_on_the_first_line_and_skip_empty_sessions():
    chunks = chunk_episode(tiny_episode(), "session")
    assert [c.session_ids for c in chunks] == [["D1"], ["D3"]]
    assert chunks[0].text == "[1:56 pm on 8 May, 2023] Alice: Hi Bob.\nBob: Hello there Alice."
    assert chunks[1].text == "Alice: No date here." and chunks[1].date_time is None
    assert chunks[0].n_tokens == 13 and [c.index for c in chunks] == [0, 1]


def test_turn_chunks_each_carry_their_date():
    chunks = chunk_episode(tiny_episode(), "turn")
    assert [c.text for c in chunks] == [
        "[1:56 pm on 8 May, 2023] Alice: Hi Bob.",
        "[1:56 pm on 8 May, 2023] Bob: Hello there Alice.",
        "Alice: No date here.",
    ]


def test_token_chunks_cross_sessions_and_restate_the_date():
    [chunk] = chunk_episode(tiny_episode(), "tokens", max_tokens=100)
    assert chunk.session_ids == ["D1", "D3"]
    assert chunk.text.splitlines()[2] == "Alice: No date here."
    first, second, third = chunk_episode(tiny_episode(), "tokens", max_tokens=10)
    assert [first.n_tokens, second.n_tokens, third.n_tokens] == [9, 10, 4]
    assert second.text.startswith("[1:56 pm on 8 May, 2023] Bob:")  # a chunk opening mid-session is dated


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=400))
def test_token_chunks_keep_every_turn_in_order_under_the_budget(budget):
    chunks = chunk_episode(EPISODE, "tokens", max_tokens=budget)
    assert [t.id for c in chunks for t in c.turns] == [t.id for t in EPISODE.turns()]
    for c in chunks:
        assert c.n_tokens == len(c.text.split())
        assert c.n_tokens <= budget or len(c.turns) == 1  # only a single over-long turn may exceed it


def test_session_chunks_split_long_sessions_when_given_a_budget():
    whole = chunk_episode(EPISODE, "session")
    split = chunk_episode(EPISODE, "session", max_tokens=60)
    assert len(split) > len(whole)
    assert all(len(c.session_ids) == 1 for c in split)
    assert all(c.n_tokens <= 60 for c in split)


def test_episode_tokens_counts_whitespace_words_by_default_and_accepts_a_callable():
    assert episode_tokens(tiny_episode()) == 13 + 4
    assert episode_tokens(tiny_episode(), tokenizer=len) == sum(
        len(c.text) for c in chunk_episode(tiny_episode())
    )


def test_hf_tokenizer_counts_subword_tokens(hf_tokenizer):
    words = episode_tokens(EPISODE)
    subwords = episode_tokens(EPISODE, tokenizer=hf_tokenizer)
    assert subwords > words  # BPE with a tiny vocabulary splits words
    chunk = chunk_episode(EPISODE, "tokens", max_tokens=128, tokenizer=hf_tokenizer)[0]
    assert chunk.n_tokens == len(hf_tokenizer.encode(chunk.text, add_special_tokens=False))
    assert chunk.n_tokens <= 128 + 2 * len(chunk.turns)  # per-line packing: off by a joint per line at most


def test_errors_name_the_fix():
    with pytest.raises(ConfigError, match="needs max_tokens"):
        chunk_episode(EPISODE, "tokens")
    with pytest.raises(ConfigError, match="use one of turn, session, tokens"):
        chunk_episode(EPISODE, "sessions")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="tokenizer must be None"):
        token_counter(42)
    assert render_turn(Turn("D1:1", "A", "x")) == "A: x"
