"""Benchmark: batched vs one-at-a-time generation with the transformers backend on the default model.

The same work both ways: N chat prompts shaped like memory-manager steps (a system prompt, a few
memories, a new turn), greedy, M new tokens each. ``batch_size=B`` left-pads prompts into batches;
``batch_size=1`` decodes them one by one. Both runs are timed after one warm-up call, and the greedy
outputs are compared (padding can flip near-ties in float arithmetic, so the count is reported).

Run::

    .venv/bin/python experiments/bench_batched_generation.py --prompts 32 --max-new-tokens 48 --batch-size 16
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from memgym.policies.backends import ChatPrompt, SamplingParams  # noqa: E402
from memgym.policies.backends.hf import TransformersBackend  # noqa: E402
from memgym.policies.models import default_model_path  # noqa: E402

PEOPLE = ["Alice", "Bruno", "Chen", "Dana", "Emil", "Farah", "Goran", "Hana"]
EVENTS = [
    "moved to Lisbon",
    "adopted a dog",
    "started a new job",
    "ran a marathon",
    "learned to bake bread",
    "visited Kyoto",
    "sold the old car",
    "joined a chess club",
]


def make_prompts(n: int) -> list[ChatPrompt]:
    """Prompts of varied length (1 to 8 memories), so batches need real padding."""
    prompts = []
    for i in range(n):
        memories = "\n".join(
            f"[m{j}] {PEOPLE[(i + j) % len(PEOPLE)]} {EVENTS[(i * 3 + j) % len(EVENTS)]}."
            for j in range(1 + i % 8)
        )
        turn = f"{PEOPLE[i % len(PEOPLE)]}: Guess what, I {EVENTS[(i * 5) % len(EVENTS)]} last week!"
        prompts.append(
            [
                {
                    "role": "system",
                    "content": "You manage a memory bank. Reply with ADD, UPDATE, DELETE or NOOP "
                    "and the memory text.",
                },
                {"role": "user", "content": f"Memories:\n{memories}\n\nNew turn:\n{turn}"},
            ]
        )
    return prompts


def timed(
    backend: TransformersBackend, prompts: list[ChatPrompt], params: SamplingParams
) -> tuple[float, list]:
    started = time.perf_counter()
    out = backend.generate(prompts, params)
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    path = default_model_path()
    batched = TransformersBackend(path, batch_size=args.batch_size)
    single = TransformersBackend(batched.model, batched.tokenizer, batch_size=1)
    prompts = make_prompts(args.prompts)
    params = SamplingParams(max_new_tokens=args.max_new_tokens)
    single.generate(prompts[:2], SamplingParams(max_new_tokens=4))  # warm-up

    t_batched, out_batched = timed(batched, prompts, params)
    t_single, out_single = timed(single, prompts, params)
    same = sum(a.token_ids == b.token_ids for a, b in zip(out_batched, out_single, strict=True))
    new_tokens = sum(len(g.token_ids) for g in out_batched)
    prompt_tokens = [len(g.prompt_token_ids) for g in out_batched]

    print(
        f"model {path.name} | {platform.processor() or platform.machine()} | torch threads "
        f"{torch.get_num_threads()} | load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{args.prompts} prompts ({min(prompt_tokens)}-{max(prompt_tokens)} prompt tokens), greedy, "
        f"max {args.max_new_tokens} new tokens ({new_tokens} generated in the batched run)"
    )
    print(f"batched (batch_size={args.batch_size}): {t_batched:8.2f} s  {new_tokens / t_batched:7.1f} tok/s")
    print(
        f"one at a time (batch_size=1): {t_single:8.2f} s  "
        f"{sum(len(g.token_ids) for g in out_single) / t_single:7.1f} tok/s"
    )
    print(f"speed-up: {t_single / t_batched:.2f}x   identical greedy outputs: {same}/{len(prompts)}")
    print(f"sample: {out_batched[0].text[:120]!r}")


if __name__ == "__main__":
    main()
