"""Benchmark: constrained decoding of one prompt at a time, fast-forward against ``model.generate``.

A memory-manager evaluation steps one conversation turn by turn, so its prompts come one at a time; most
tokens of a Mem0 JSON action are forced by the grammar (keys, braces, the chosen id's quotes). The
transformers backend's fast-forward path feeds each forced run in one forward pass; ``fast_forward=False``
decodes token by token with ``generate`` and the grammar's logits processor. The same prompts and
grammars both ways (real MemoryManager steps: LoCoMo conversation 30 when ``--data`` has it, else the
synthetic generator; ``numbered_candidates``, 40-entry budget, the ``choices`` grammar), greedy; prints
the wall time of each, the ratio, and how many completions are identical.

Run::

    .venv/bin/python experiments/bench_fast_forward.py --steps 30
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def prompts_and_grammars(data: Path, steps: int) -> tuple[list, list[str]]:
    import memgym
    from memgym.trainers.prompting import COMPACT_MANAGER_PROMPT, SystemPrompt

    episodes = str(data / "30.json") if (data / "30.json").is_file() else "synthetic"
    env = memgym.make("memgym/MemoryManager-v0", episodes=episodes, numbered_candidates=True, max_entries=40,
                      top_k=3, answer_agent="none").unwrapped
    obs, _ = env.reset(seed=0, options={"episode_index": 0})
    prompts, grammars = [], []
    system = SystemPrompt(COMPACT_MANAGER_PROMPT)
    for k in range(steps):
        prompts.append(system(obs["messages"]))
        grammars.append(env.action_grammar("choices", 64))
        obs, *_ = env.step('{"memory": [{"id": "new", "text": "#1", "event": "ADD"}]}' if k % 3 == 0 else
                           '{"memory": []}')
        if env.current_unit is None:
            break
    return prompts, grammars


def main() -> None:
    import torch

    from memgym.policies.backends import SamplingParams
    from memgym.policies.backends.hf import TransformersBackend
    from memgym.policies.models import default_model_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/locomo-dev"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args()
    prompts, grammars = prompts_and_grammars(args.data, args.steps)
    results = {}
    for fast in (True, False):
        backend = TransformersBackend(default_model_path(), dtype=args.dtype, batch_size=1, fast_forward=fast)
        backend.generate(prompts[:1], SamplingParams(max_new_tokens=64, grammar=grammars[0]))  # warm-up
        start = time.perf_counter()
        gens = [backend.generate([p], SamplingParams(max_new_tokens=64, grammar=g))[0]
                for p, g in zip(prompts, grammars, strict=True)]
        results[fast] = (time.perf_counter() - start, gens)
    (t_fast, fast), (t_slow, slow) = results[True], results[False]
    tokens = sum(len(g.token_ids) for g in slow)
    same = sum(a.token_ids == b.token_ids for a, b in zip(fast, slow, strict=True))
    print(f"{len(prompts)} prompts, {tokens} tokens, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.dtype}")
    print(f"generate (token by token): {t_slow:.1f} s   fast-forward: {t_fast:.1f} s   ratio {t_slow / t_fast:.2f}x")
    print(f"identical completions: {same}/{len(prompts)}")


if __name__ == "__main__":
    main()
