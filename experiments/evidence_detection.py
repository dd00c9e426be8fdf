"""How well a manager model tells LoCoMo's evidence turns from the others, beside length and salience.

    .venv/bin/python experiments/evidence_detection.py --model runs/locomo_recipe/train/final   # ~2 min
    .venv/bin/python experiments/evidence_detection.py                                          # no model

The LoCoMo recipe asks a manager to keep, within a budget, the turns questions will need. Whatever the
reward, a manager can only be as selective as its *detector*: how its wish to ADD ranks evidence turns
above the others. This measures that ranking on one conversation (default 30, the validation one) as a
ROC AUC (0.5: chance, 1.0: perfect): for the turn's word count, the ``salience`` heuristic's best-sentence
score, and, with ``--model``, the model's probability of opening an operation list rather than an empty
one (``{"memory": [{`` vs ``{"memory": []``, the first token where ADD and NOOP part), read from the
prompt the recipe's manager sees (the compact system prompt, numbered candidates) over an empty bank.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def roc_auc(scores: list[float], positive: list[bool]) -> float:
    """The probability that a random positive scores above a random negative (ties count half)."""
    ranked = sorted(zip(scores, positive, strict=True), key=lambda pair: pair[0])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        rank_sum += sum(1 for _, p in ranked[i:j] if p) * (i + j + 1) / 2  # average 1-based rank of the tie
        i = j
    n_pos = sum(positive)
    n_neg = len(positive) - n_pos
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def model_add_probabilities(model_path: str, env) -> list[float]:
    """P(the first operation-list token opens an item) at each turn, stepping NOOP (the bank stays empty)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from memgym.envs.stepping import step_envs
    from memgym.trainers.prompting import COMPACT_MANAGER_PROMPT, SystemPrompt

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, torch_dtype=torch.bfloat16).eval()
    prefix = '{"memory":'
    base = tokenizer(prefix, add_special_tokens=False).input_ids
    add = tokenizer(prefix + " [{", add_special_tokens=False).input_ids
    empty = tokenizer(prefix + " []", add_special_tokens=False).input_ids
    if add[: len(base)] != base or empty[: len(base)] != base or len(add) != len(base) + 1:
        raise SystemExit(f"evidence_detection: {model_path}'s tokenizer splits the action differently")
    fmt = SystemPrompt(COMPACT_MANAGER_PROMPT)
    obs, _ = env.reset(seed=0)
    probabilities, done = [], False
    while not done:
        text = tokenizer.apply_chat_template(fmt(obs["messages"]), tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text + prefix, return_tensors="pt", add_special_tokens=False).input_ids
        with torch.no_grad():
            logp = model(ids).logits[0, -1].float().log_softmax(-1)
        a, e = logp[add[-1]].item(), logp[empty[-1]].item()
        probabilities.append(1.0 / (1.0 + math.exp(e - a)))
        [step] = step_envs([env], ['{"memory": []}'])
        obs, done = step.observation, step.done
    return probabilities


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/locomo-dev"))
    parser.add_argument("--conversation", default="30")
    parser.add_argument("--model", action="append", default=[], help="a model directory (repeatable)")
    parser.add_argument("--word-counts", action="store_true",
                        help="the prompt says the message's word count (the env's word_counts, as the model was trained)")
    args = parser.parse_args()
    from memgym.envs import make
    from memgym.policies.salience_heuristic import _SENTENCE, salience

    env = make("memgym/MemoryManager-v0", episodes=str(args.data / f"{args.conversation}.json"),
               answer_agent="none", numbered_candidates=True, top_k=3, word_counts=args.word_counts)
    episode = env.unwrapped.episodes[0]
    cited = episode.evidence_ids()
    turns = episode.turns()
    positive = [t.id in cited for t in turns]
    rows = {
        "word count": [float(len(t.text.split())) for t in turns],
        "salience (best sentence)": [max(salience(s) for s in _SENTENCE.split(t.text.strip())) for t in turns],
    }
    for path in args.model:
        rows[f"P(ADD) of {path}"] = model_add_probabilities(path, env)
    print(f"Conversation {args.conversation}: {len(turns)} turns, {sum(positive)} cited as evidence.\n")
    print("| detector | ROC AUC | mean score |\n|---|---:|---:|")
    for name, scores in rows.items():
        print(f"| {name} | {roc_auc(scores, positive):.3f} | {sum(scores) / len(scores):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
