"""Train a memory manager on LoCoMo's conversation 26 with rewards from its annotations; compare on 30.

    .venv/bin/python experiments/locomo_recipe.py --data ../shared/data/locomo-dev --out runs/locomo_recipe

Memory-R1's claim is data efficiency: a manager trained on one conversation's questions generalises.
This runs the CPU version of that recipe (``configs/locomo_cpu.yaml``): GRPO on conversation 26 with
``evidence_kept - w x memory_cost`` (no model, no labels; optionally after an SFT warm start,
``sft.enabled=true``, imitating ``sft.teacher`` on conversation 26 in a run of its own), then every manager
on conversation 30 at the same memory budget (``--budgets 120,40``: one table each; default
``env.eval_kwargs.max_entries``), through the bench harness and the ``memory-r1`` protocol (category 5
excluded): evidence recall (LoCoMo's, fractional) and answer support of the memories retrieved for each
question, memory size and the invalid-action rate; ``evidence_oracle`` (told the evidence) is printed as
the ceiling. ``--answerer hf`` also answers with SmolLM2 (the transformers backend; ~3 s per question on
2 cores, so it is off by default) for LLM-answerer F1; ``--answerer openai --base-url URL --model NAME``
uses any OpenAI-compatible server. Overrides of the config go before ``--budgets`` or after ``--``.

Measured on 2 cores: 1,816-1,923 s end to end without the warm start (training 1,200-1,330 s; each LLM manager's 369-turn
episode on conversation 30 230-325 s: ``numbered_candidates`` keeps a choice to a few tokens and the
transformers backend feeds the grammar's forced tokens in one pass). The trained manager is not yet ahead
of the heuristics (tables and what each run taught: trainers/README.md, "Real conversations").

Writes ``report.md`` and ``results.json`` in ``--out``; the training runs are ``--out/warm`` (the warm
start, if any) and ``--out/train`` (re-running resumes them; a finished one is reused).

What the model-free rewards can and cannot measure: they see whether the memories hold the turns a
question's evidence cites (and the gold answer's words), not whether an answer agent would read them
right — a memory can hold the evidence and still mislead a reader.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from memgym.trainers.config import load_config

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "locomo_cpu.yaml"
BASELINES = ("salience", "long_turns", "mem0_heuristic", "full_context", "store_all", "noop", "evidence_oracle")


def train(data: Path, out: Path, overrides: list[str]) -> tuple[Path | None, Path]:
    """The warm start (``sft.enabled``: SFT alone, its own run ``--out/warm``) then GRPO from it
    (``--out/train``); each phase is skipped when its run has finished, resumed when it was cut off.
    Returns the warm-start model (``None`` without one) and the trained model."""
    from memgym.trainers.pipeline import run_training

    common = [f"env.kwargs.episodes={data / '26.json'}", f"output_dir={out}"]
    warm = None
    if load_config(CONFIG, overrides).sft.enabled:
        warm = out / "warm" / "final"
        if not (warm / "config.json").exists():
            run_training(load_config(CONFIG, [*common, "run_name=warm", *overrides, "algorithm=sft"]))
    run = out / "train"
    if not (run / "final" / "config.json").exists():
        start = [f"model.name_or_path={warm}", "sft.enabled=false"] if warm else []
        run_training(load_config(CONFIG, [*common, "run_name=train", *overrides, *start]))
    return warm, run / "final"


def _eval_env_kwargs(cfg) -> dict:
    """The environment every manager is evaluated in: the training env's, with ``env.eval_kwargs`` over it
    (the budget can differ from training's: training states may have none so that every ADD is paid), merged
    as the trainer merges them for its held-out environments."""
    from memgym.trainers.base import deep_merge

    merged = deep_merge(cfg.env.kwargs, cfg.env.eval_kwargs)
    # word_counts: the prompt the manager was trained on
    return {k: merged.get(k) for k in ("max_entries", "top_k", "numbered_candidates", "word_counts")}


def evaluate(data: Path, models: dict[str, Path | None], budget: int | None, cfg, args: argparse.Namespace) -> dict:
    """Every manager of ``models`` (a name -> model directory; ``None``: the untrained SmolLM2) and every
    baseline on conversation 30 at ``budget`` memories."""
    from memgym.policies.backends import SamplingParams, make_backend
    from memgym.policies.bench import run_bench
    from memgym.trainers.prompting import COMPACT_MANAGER_PROMPT, PromptedLLMPolicy

    params = SamplingParams(max_new_tokens=cfg.generation.max_new_tokens)
    managers = []
    for name, path in models.items():
        backend = make_backend("hf", model=str(path) if path else None, dtype="bfloat16" if args.bf16 else None)
        managers.append(PromptedLLMPolicy(backend, params, COMPACT_MANAGER_PROMPT, name=name, constrained="choices"))
    agent = "none"
    if args.answerer != "none":
        from memgym.policies.bench import AgentSpec, backend_spec

        agent = AgentSpec("llm", backend_spec(args.answerer, model=args.model, base_url=args.base_url))
    env_kwargs = {**_eval_env_kwargs(cfg), "max_entries": budget}
    folder = args.out / f"bench_{budget}"
    # the memory-r1 protocol finds conversation 30 (its validation part) among the data's conversations
    result = run_bench([*managers, *BASELINES], "memgym/MemoryManager-v0", str(data), split="validation",
                       answer_agent=agent, env_kwargs=env_kwargs, protocol="memory-r1", progress=True,
                       batch_size=1, resume_dir=folder)
    result.save(folder, plots=False)
    return result.summary()


def _table(summary: dict, metrics: list[str]) -> list[str]:
    head = "| manager | " + " | ".join(metrics) + " | memory (entries) | invalid actions |"
    rows = [head, "|---" * (len(metrics) + 3) + "|"]
    for name, s in summary.items():
        if s.get("skipped"):
            rows.append(f"| {name} | skipped: {s['skipped']} |")
            continue
        values = [s["overall"].get(m) for m in metrics]
        invalid = s["ops"].get("invalid_action", 0) / max(s["steps"], 1)
        label = f"{name} (told the evidence: a ceiling)" if name == "evidence_oracle" else name
        rows.append(f"| {label} | " + " | ".join("" if v is None else f"{100 * v:.1f}" for v in values)
                    + f" | {s['memory_entries']:.0f} | {100 * invalid:.1f}% |")
    return rows


def report(summaries: dict[int | None, dict], out: Path, seconds: float, args: argparse.Namespace) -> str:
    """``report.md`` and ``results.json``: one table per budget (``summaries``: budget -> bench summary)."""
    metrics = ["evidence_recall", "evidence_all", "answer_support"] + (["mem0_f1"] if args.answerer != "none" else [])
    first = next(iter(summaries.values()))
    n = next(iter(first.values()))["overall"].get("n", 0)
    lines = [
        "# LoCoMo on a CPU: trained on conversation 26, evaluated on conversation 30",
        "",
        f"{n} questions of conversation 30 (protocol `memory-r1`, category 5 excluded); scores in %. Answer "
        f"agent: {args.answerer}{' (QA not measured)' if args.answerer == 'none' else ''}. Wall time "
        f"{seconds:.0f} s. Every manager is compared at the same budget of memories (entries).",
    ]
    for budget, summary in summaries.items():
        lines += ["", f"## Budget: {budget} memories", "", *_table(summary, metrics)]
    lines += [
        "",
        "The model-free rewards and metrics see whether the memories hold the turns a question's evidence "
        "cites and the gold answer's words, not whether a reader would answer right: a memory can hold the "
        "evidence and still mislead an answer agent.",
    ]
    text = "\n".join(lines)
    (out / "report.md").write_text(text + "\n", encoding="utf-8")
    (out / "results.json").write_text(json.dumps({str(b): s for b, s in summaries.items()}, indent=1, default=str),
                                      encoding="utf-8")
    return text


def _budgets(text: str) -> list[int]:
    try:
        budgets = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers of memories, got {text!r}") from None
    if not budgets or min(budgets) < 1:
        raise argparse.ArgumentTypeError(f"expected positive numbers of memories, got {text!r}")
    return budgets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/locomo-dev"))
    parser.add_argument("--out", type=Path, default=Path("runs/locomo_recipe"))
    parser.add_argument("--budgets", type=_budgets, default=None,
                        help="memory budgets (entries) to compare at, comma-separated (e.g. 120,40); default: "
                        "env.eval_kwargs.max_entries")
    parser.add_argument("--answerer", default="none", choices=["none", "hf", "openai"])
    parser.add_argument("--model", default=None, help="the answerer's model (a directory, or the served name)")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="evaluate in float32")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of configs/locomo_cpu.yaml")
    args = parser.parse_args()
    for name in ("26.json", "30.json"):
        if not (args.data / name).is_file():
            print(f"locomo_recipe: {args.data / name} not found (LoCoMo conversations 26 and 30)", file=sys.stderr)
            return 2
    started = time.perf_counter()
    warm, trained = train(args.data, args.out, args.overrides)
    cfg = load_config(CONFIG, args.overrides)
    models: dict[str, Path | None] = {"start (SmolLM2-135M)": None}
    if warm is not None:
        models[f"warm start (SFT on {cfg.sft.teacher}, conversation 26)"] = warm
    models["trained on conversation 26"] = trained
    budgets = args.budgets or [_eval_env_kwargs(cfg)["max_entries"]]
    summaries = {b: evaluate(args.data, models, b, cfg, args) for b in budgets}
    print(report(summaries, args.out, time.perf_counter() - started, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
