"""How much of the synthetic oracle's facts the LLM fact extractor recovers (Mem0's prompt, SmolLM2).

    .venv/bin/python experiments/extractor_recall.py --episodes 4 [--model PATH] [--out runs/extractor_recall.json]

For each synthetic conversation, every turn goes through :class:`memgym.policies.extractors.LLMFactExtractor`
(one generation batch for all turns, greedy), and :func:`memgym.policies.extractors.fact_recall` counts
the oracle's ADD / UPDATE facts whose value words all appear in the facts extracted from their turn. The
model-free ``sentences`` extractor and the raw turn are measured on the same turns for reference.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", help="model directory (default: the prepared SmolLM2-135M-Instruct)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--speakers", nargs="*", help="extract only these speakers (default: every speaker)")
    p.add_argument("--constrained", action="store_true", help="sample under the facts grammar (always JSON)")
    p.add_argument("--out", default="runs/extractor_recall.json")
    args = p.parse_args()

    from memgym.envs.data.synthetic import SyntheticConfig, generate_synthetic
    from memgym.envs.extractors import extract_episode, make_extractor
    from memgym.policies.backends import SamplingParams
    from memgym.policies.backends.hf import TransformersBackend
    from memgym.policies.extractors import LLMFactExtractor, fact_recall
    from memgym.policies.models import default_model_path

    config = SyntheticConfig(n_entities=2, facts_per_entity=2, n_sessions=3, turns_per_session=8)
    episodes = generate_synthetic(args.episodes, seed=args.seed, config=config)
    backend = TransformersBackend(args.model or default_model_path(), batch_size=16)
    llm = LLMFactExtractor(backend, SamplingParams(max_new_tokens=args.max_new_tokens, temperature=0.0),
                           speakers=args.speakers, constrained=args.constrained,
                           cache_path=Path(args.out).with_suffix(".facts.json"))
    start = time.perf_counter()
    llm.prefetch(episodes)  # one batched call for every turn
    seconds = time.perf_counter() - start
    rows = {"llm": fact_recall(episodes, llm), "sentences": fact_recall(episodes, make_extractor("sentences")),
            "turn": fact_recall(episodes, make_extractor("turn"))}
    rows["llm"]["seconds"] = round(seconds, 1)
    n_turns = sum(len(ep.turns()) for ep in episodes)
    first = extract_episode(llm, episodes[0])  # from the cache
    examples = [(t.speaker, t.text, facts) for t, facts in list(zip(episodes[0].turns(), first, strict=True))[:10]]
    report = {"model": str(args.model or "smollm2-135m-instruct"), "constrained": args.constrained, "episodes": len(episodes), "turns": n_turns,
              "results": rows, "examples": examples}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    for name, row in rows.items():
        print(name, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
    for speaker, text, facts in examples:
        print(f"  {speaker}: {text}\n    -> {facts}")


if __name__ == "__main__":
    main()
