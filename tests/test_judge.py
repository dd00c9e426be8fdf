"""The LLM judge: its prompt, verdict parsing, batching and caching, and one run on a real tiny model."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from memgym.envs.answering import AnswerCache
from memgym.errors import ConfigError, MemgymError
from memgym.policies.backends import ChatPrompt, Generation, GenerationBackend, SamplingParams
from memgym.rewards import JUDGE_SYSTEM_PROMPT, LLMJudge, build_judge_prompt, parse_verdict


class ScriptedBackend:
    """Stands in for the LLM: parsing and batching can only be tested with replies we control.

    Replies with ``replies[user message]`` (default: a JSON CORRECT) and records every batch of prompts.
    """

    def __init__(self, replies: dict[str, str] | None = None, drop_last: bool = False) -> None:
        self.replies = replies or {}
        self.drop_last = drop_last
        self.calls: list[tuple[list[ChatPrompt], SamplingParams | None]] = []

    def generate(self, prompts: list[ChatPrompt], params: SamplingParams | None = None) -> list[Generation]:
        self.calls.append((prompts, params))
        out = [Generation(self.replies.get(p[-1]["content"], '{"label": "CORRECT"}')) for p in prompts]
        return out[:-1] if self.drop_last else out


def _user(question: str, gold: str, prediction: str) -> str:
    return build_judge_prompt(question, gold, prediction)[-1]["content"]


def test_scripted_backend_is_a_generation_backend():
    assert isinstance(ScriptedBackend(), GenerationBackend)


def test_prompt_holds_the_rules_and_the_item():
    prompt = build_judge_prompt("When did Ana move?", "7 May 2023", "May 7th")
    assert [m["role"] for m in prompt] == ["system", "user"]
    assert prompt[0]["content"] == JUDGE_SYSTEM_PROMPT
    for rule in ("CORRECT or WRONG", "generous", "same date", '{"label": "CORRECT"}'):
        assert rule in JUDGE_SYSTEM_PROMPT
    assert prompt[1]["content"] == (
        "Question: When did Ana move?\nGold answer: 7 May 2023\nGenerated answer: May 7th\n\nLabel:"
    )


def test_parse_verdict():
    replies = [
        '{"label": "CORRECT"}',  # the asked-for JSON
        '{"label": "wrong"}',  # lower case value
        'Reasoning: same city.\n```json\n{"label": "CORRECT"}\n```',  # JSON inside prose and a fence
        '{"Label": "INCORRECT"}',  # key case, INCORRECT
        "CORRECT",  # bare word
        "The answer mentions Lisbon, which is correct. WRONG",  # shouted label beats prose
        "The generated answer is correct.",  # prose only
        "It is not correct.",  # negated
        "incorrect",  # INCORRECT is not CORRECT
        '{"label": "maybe"} wrong',  # JSON without a verdict falls back to words
        "I cannot decide.",  # nothing
        "",  # nothing
        '{"label": 1}',  # not a label
    ]
    assert [parse_verdict(r) for r in replies] == [
        1.0,
        0.0,
        1.0,
        0.0,
        1.0,
        0.0,
        1.0,
        0.0,
        0.0,
        0.0,
        None,
        None,
        None,
    ]


def test_judge_batches_parses_and_counts_unparsable():
    items = [
        ("Where does Ana live?", "Lisbon", "She lives in Lisbon"),
        ("When did Ana move?", "7 May 2023", "in June"),
        ("What is Ana's job?", "nurse", "hmm"),
    ]
    backend = ScriptedBackend(
        {
            _user(*items[0]): 'Same city. {"label": "CORRECT"}',
            _user(*items[1]): "WRONG",
            _user(*items[2]): "I am not sure what to say.",  # no verdict -> 0.0, counted
        }
    )
    judge = LLMJudge(backend)
    scores = judge.judge(*map(list, zip(*items, strict=True)))
    assert scores == [1.0, 0.0, 0.0]
    assert (judge.unparsable, judge.judged) == (1, 3)
    assert len(backend.calls) == 1  # one batched generate call
    prompts, params = backend.calls[0]
    assert [p[-1]["content"] for p in prompts] == [_user(*item) for item in items]
    assert params.temperature == 0.0 and params.max_new_tokens == 48


def test_judge_cache_and_duplicates_cost_nothing():
    cache = AnswerCache()
    backend = ScriptedBackend({_user("q2", "b", "x"): "WRONG", _user("q3", "c", "?"): "no idea"})
    judge = LLMJudge(backend, cache=cache)
    questions, gold, preds = ["q1", "q2", "q1", "q3"], ["a", "b", "a", "c"], ["a!", "x", "a!", "?"]

    assert judge(questions, gold, preds) == [1.0, 0.0, 1.0, 0.0]
    assert len(backend.calls[0][0]) == 3  # the repeated item was asked once
    assert judge(questions, gold, preds) == [1.0, 0.0, 1.0, 0.0]
    # Second round: only the unparsable item (never cached) goes back to the model.
    assert [p[-1]["content"] for p in backend.calls[1][0]] == [_user("q3", "c", "?")]
    assert (judge.judged, judge.unparsable) == (4, 2)
    assert (cache.judge_hits, cache.judge_misses) == (3, 5)


def test_judge_shows_several_gold_answers_as_alternatives():
    backend = ScriptedBackend()
    LLMJudge(backend).judge(["Where?"], [["Lisbon", "Lisboa"]], ["Lisbon"])
    assert "Gold answer: Lisbon OR Lisboa\n" in backend.calls[0][0][0][-1]["content"]


def test_judge_rejects_mismatched_input():
    with pytest.raises(
        ConfigError, match=re.escape("judge got 2 questions, 1 gold answers and 2 predictions")
    ):
        LLMJudge(ScriptedBackend()).judge(["a", "b"], ["x"], ["p", "q"])
    with pytest.raises(MemgymError, match=re.escape("returned 1 generations for 2 prompts")):
        LLMJudge(ScriptedBackend(drop_last=True)).judge(["a", "b"], ["x", "y"], ["p", "q"])


# ----------------------------------------------------------------------------- a real tiny model


def _wire_to_say(model, tokenizer, text: str) -> None:
    """Set a tiny Llama's weights so that greedy decoding after the generation prompt emits ``text``.

    Attention and MLP outputs are zeroed, so each position's hidden state is its own token's embedding;
    the tokens of the chain (the prompt's last token, ``text``'s tokens, EOS) get orthogonal embeddings
    and a separate (untied) output head maps each one to the next. The model still runs its real
    forward pass and ``generate``.
    """
    import torch

    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "x"}], tokenize=False, add_generation_prompt=True
    )
    prompt_end = tokenizer(chat, add_special_tokens=False)["input_ids"][-1]
    chain = [prompt_end, *tokenizer(text, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    hidden = model.config.hidden_size
    assert len(set(chain[:-1])) == len(chain) - 1 <= hidden
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.lm_head.weight = torch.nn.Parameter(torch.zeros_like(model.lm_head.weight))  # untie
        for i, (token, following) in enumerate(pairwise(chain)):
            model.model.embed_tokens.weight[token] = torch.nn.functional.one_hot(
                torch.tensor(i), hidden
            ).float()
            model.lm_head.weight[following, i] = 10.0


ITEMS = (["Where does Ana live?", "When did Ana move?"], ["Lisbon", "7 May 2023"], ["Lisbon", "May 7th"])


@pytest.mark.slow
def test_judge_end_to_end_on_a_real_tiny_model():
    from memgym.policies.backends.hf import TransformersBackend
    from memgym.policies.models import tiny_model

    model, tokenizer = tiny_model(seed=0, hidden_size=32)
    _wire_to_say(model, tokenizer, '{"label": "CORRECT"}')
    backend = TransformersBackend(model, tokenizer)
    judge = LLMJudge(backend, SamplingParams(max_new_tokens=12), cache=AnswerCache())

    assert judge.judge(*ITEMS) == [1.0, 1.0]
    assert (judge.unparsable, judge.judged) == (0, 2)
    assert judge.judge(*ITEMS) == [1.0, 1.0] and judge.judged == 2  # the second round came from the cache


class RecordingBackend:
    """Wraps a real backend to keep the texts it produced (to check the judge's count against them)."""

    def __init__(self, inner: GenerationBackend) -> None:
        self.inner, self.texts = inner, []

    def generate(self, prompts: list[ChatPrompt], params: SamplingParams | None = None) -> list[Generation]:
        out = self.inner.generate(prompts, params)
        self.texts.extend(g.text for g in out)
        return out


@pytest.mark.slow
def test_judge_counts_unparsable_replies_of_an_untrained_model():
    from memgym.policies.backends.hf import TransformersBackend
    from memgym.policies.models import tiny_model

    backend = RecordingBackend(TransformersBackend(*tiny_model(seed=0, hidden_size=32)))
    judge = LLMJudge(backend, SamplingParams(max_new_tokens=8))

    scores = judge.judge(*ITEMS)
    assert len(backend.texts) == 2 and set(scores) <= {0.0, 1.0}
    # Untrained weights say anything: whatever they said, the judge's count must agree with the parser.
    parsed = [parse_verdict(t) for t in backend.texts]
    assert judge.unparsable == sum(v is None for v in parsed) >= 1  # seed 0 says gibberish
    assert scores == [0.0 if v is None else v for v in parsed]


def test_judge_styles_change_the_prompt_the_parser_and_the_cache_key():
    from memgym.rewards.judge import JUDGE_STYLES, JudgeItem

    assert set(JUDGE_STYLES) == {"memgym", "mem0", "longmemeval"}
    backend = ScriptedBackend()  # replies {"label": "CORRECT"} to everything
    cache = AnswerCache()
    mem0 = LLMJudge(backend, cache=cache, style="mem0")
    lme = LLMJudge(backend, cache=cache, style="longmemeval")
    item = JudgeItem("How many days?", "18", "19 days", "temporal-reasoning")
    assert mem0.judge_items([item]) == [1.0]
    assert lme.judge_items([item]) == [0.0]  # no "yes" in the reply
    mem0_prompt, lme_prompt = backend.calls[0][0][0], backend.calls[1][0][0]
    assert [m["role"] for m in mem0_prompt] == ["user"] and "Gold answer: 18" in mem0_prompt[0]["content"]
    assert "off-by-one" in lme_prompt[0]["content"] and backend.calls[1][1].max_new_tokens == 10
    assert mem0.judge_items([item]) == [1.0] and len(backend.calls) == 2  # each style has its own cache entries
    assert LLMJudge(backend).judge(["How many days?"], ["18"], ["19 days"]) == [1.0] and len(backend.calls) == 3
