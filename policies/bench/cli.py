"""``memgym bench``: run memory-manager policies on an environment and a dataset, write a report.

Defaults: the synthetic suite (:data:`memgym.envs.data.SYNTHETIC_SUITE`), every baseline,
``memgym/MemoryManager-v0`` with a capacity of 40 entries, the model-free extractive answer agent (an
LLM on data without answer candidates, said so on stderr), and the data's natural protocol (``memgym``:
SQuAD-style EM / F1 and BLEU-1 on synthetic data; ``locomo``, ``longmemeval``, ``memoryagentbench`` on
those benchmarks' files); ``--protocol`` picks another (``mem0``, ``memory-r1``, ...). Examples::

    memgym bench --out runs/bench
    memgym bench --env memgym/MemoryConstruct-v0 --policies mem0_heuristic llm --model ./my-model
    memgym bench --data locomo10.json --protocol mem0 --backend openai --model gpt-4o-mini \\
        --base-url https://api.openai.com/v1 --judge --policies heuristic
    memgym bench --data ../shared/data/locomo-dev --protocol memory-r1 --split validation
    memgym bench --policies full_context:budget_tokens=512 store_all --ray-address auto
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

DEFAULT_CAPACITY = 40


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bench`` to the ``memgym`` command."""
    p = subparsers.add_parser(
        "bench",
        help="benchmark memory-manager policies (tables, JSON, plots)",
        description=__doc__.split("\n\n")[0].replace("``", ""),
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--env", default="memgym/MemoryManager-v0", help="environment id (default: %(default)s)")
    p.add_argument(
        "--policies",
        nargs="+",
        default=["baselines"],
        metavar="NAME[:k=v,...]",
        help="policies (registry names; 'baselines' = all baselines, 'heuristic' = all but oracle); "
        "arguments after a colon, e.g. full_context:budget_tokens=512 (default: baselines)",
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--data",
        default="synthetic",
        help="'synthetic' (the suite), 'cri', or a LoCoMo / LongMemEval / MemoryAgentBench / JSONL "
        "file or folder (default: %(default)s)",
    )
    data.add_argument("--format", dest="data_format", help="format of --data (default: detected)")
    data.add_argument(
        "--episodes", type=int, help="episodes per length of the synthetic suite, or the first N of --data"
    )
    data.add_argument(
        "--seed", type=int, default=0, help="seeds the suite and every reset (default: %(default)s)"
    )
    data.add_argument(
        "--protocol",
        help="the benchmark protocol the figures follow: memgym, locomo, mem0, memory-r1, longmemeval, "
        "memoryagentbench (default: the data's own; see memgym.rewards.protocols)",
    )
    data.add_argument(
        "--split", help="the part of the protocol's split (memory-r1: train, validation, test, all)"
    )
    env = p.add_argument_group("environment")
    env.add_argument(
        "--max-entries",
        type=int,
        help=f"bank capacity in entries (default: {DEFAULT_CAPACITY}, none on MemoryOverwrite; 0 = unlimited)",
    )
    env.add_argument("--max-tokens", type=int, help="bank capacity in whitespace tokens (default: unlimited)")
    env.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other environment argument, e.g. retriever=dense or answer_top_k=20 (repeatable)",
    )
    models = p.add_argument_group("models (answer agent, LLM policy, judge)")
    models.add_argument(
        "--answer-agent",
        choices=("extractive", "llm", "none"),
        help="extractive (model-free; default on synthetic data), llm (default otherwise) or none (no "
        "answering: only the memory metrics, evidence recall and answer support)",
    )
    models.add_argument(
        "--backend", default="hf", choices=("hf", "vllm", "openai"), help="(default: %(default)s)"
    )
    models.add_argument("--model", help="model directory or name (hf default: the prepared SmolLM2)")
    models.add_argument("--base-url", help="OpenAI-compatible endpoint (backend openai)")
    models.add_argument("--judge", action="store_true", help="add the LLM judge's J score")
    models.add_argument("--judge-backend", choices=("hf", "vllm", "openai"), help="(default: --backend)")
    models.add_argument("--judge-model", help="(default: --model)")
    models.add_argument(
        "--max-new-tokens", type=int, default=512, help="LLM policy budget (default: %(default)s)"
    )
    run = p.add_argument_group("running")
    run.add_argument(
        "--metrics", nargs="+", help="QA metrics (default: the protocol's; memgym: em f1 bleu1)"
    )
    run.add_argument(
        "--batch-size", type=int, default=8, help="environments stepped together (default: %(default)s)"
    )
    run.add_argument("--workers", type=int, default=1, help="local processes (default: %(default)s)")
    run.add_argument(
        "--ray", action="store_true", help="spread episodes over Ray (a local instance unless --ray-address)"
    )
    run.add_argument("--ray-address", help="address of a Ray cluster (implies --ray)")
    run.add_argument("--out", default="bench_out", help="report folder (default: %(default)s)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=main)
    return p


def parse_value(text: str) -> Any:
    """A command-line value as YAML reads it (``12`` -> int, ``none`` -> None, ``a`` -> str)."""
    import yaml

    return yaml.safe_load(text) if text.strip() else ""


def parse_pairs(items: list[str], what: str) -> dict[str, Any]:
    """``["k=v", ...]`` -> ``{"k": v}``."""
    from memgym.errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{what} {item!r} must look like KEY=VALUE")
        out[key.strip()] = parse_value(value)
    return out


def policy_specs(names: list[str], args: argparse.Namespace) -> list[Any]:
    """``NAME[:k=v,...]`` strings -> :class:`~memgym.policies.bench.PolicySpec` s (``llm`` gets the backend)."""
    from memgym.policies.backends import SamplingParams
    from memgym.policies.bench import PolicySpec
    from memgym.policies.managers import POLICIES, expand_policy_names

    specs = []
    for item in names:
        name, _, rest = item.partition(":")
        for expanded in expand_policy_names([name]):
            POLICIES.get(expanded)  # unknown names fail here, with suggestions
            kwargs = parse_pairs([kv for kv in rest.split(",") if kv], f"policy argument of {name}")
            backend = None
            if expanded == "llm":
                kwargs.setdefault(
                    "params", SamplingParams(max_new_tokens=args.max_new_tokens, seed=args.seed)
                )
                backend = _backend(args.backend, args.model, args.base_url)
            _check_policy_arguments(item, expanded, kwargs)
            label = item if rest else None
            specs.append(PolicySpec(expanded, tuple(sorted(kwargs.items())), backend, label))
    return specs


def _check_policy_arguments(item: str, name: str, kwargs: dict[str, Any]) -> None:
    """Build the policy once (a model policy: check its argument names) so a wrong argument fails now,
    as a one-line error naming it, not as a traceback or a skipped row."""
    from memgym.envs.registration import accepted_kwargs
    from memgym.errors import ConfigError
    from memgym.policies.managers import POLICIES, make_policy

    if name == "llm":
        accepted = accepted_kwargs(POLICIES.get(name))
        unknown = sorted(set(kwargs) - accepted - {"params"}) if accepted is not None else []
        if unknown:
            raise ConfigError(f"--policies {item}: llm takes no argument {unknown[0]!r}; it takes {sorted(accepted)}")
        return
    try:
        make_policy(name, **kwargs)
    except (TypeError, ValueError) as err:  # an unknown keyword, a value of the wrong kind (ConfigError too)
        raise ConfigError(f"--policies {item}: {err}") from err


def _backend(name: str, model: str | None, base_url: str | None) -> Any:
    from memgym.errors import ConfigError
    from memgym.policies.bench import backend_spec

    if name == "openai":
        if not model or not base_url:
            raise ConfigError("the openai backend needs --model (the served model's name) and --base-url")
        return backend_spec("openai", model=model, base_url=base_url)
    return backend_spec(name, model=model)


def env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The environment arguments the flags describe (the default capacity where it applies)."""
    kwargs = parse_pairs(args.env_arg, "--env-arg")
    overwrite = "Overwrite" in args.env
    capacity = args.max_entries if args.max_entries is not None else (None if overwrite else DEFAULT_CAPACITY)
    if capacity:
        kwargs.setdefault("max_entries", capacity)
    if args.max_tokens:
        kwargs.setdefault("max_tokens", args.max_tokens)
    return kwargs


def main(args: argparse.Namespace) -> int:
    """Run the benchmark the flags describe, write the report, print the overall table."""
    from memgym.errors import MemgymError
    from memgym.policies.bench import AgentSpec, run_bench

    try:
        synthetic = args.data == "synthetic"
        kind = args.answer_agent or ("extractive" if synthetic else "llm")
        if args.answer_agent is None and not synthetic:
            print(
                f"memgym bench: answering with the llm agent on {args.backend} "
                f"({args.model or 'the default model'}): the extractive agent cannot answer data without "
                "answer candidates (pass --answer-agent to choose)",
                file=sys.stderr,
            )
        agent = "none" if kind == "none" else AgentSpec(
            kind,
            _backend(args.backend, args.model, args.base_url) if kind == "llm" else None,
            (("top_k", 100_000),) if kind == "llm" else (),
        )  # the env's answer_top_k decides
        judge = _judge(args) if args.judge else None
        specs = policy_specs(args.policies, args)
        _check_env(args.env, env_kwargs(args))
        result = run_bench(
            specs,
            args.env,
            args.data,
            answer_agent=agent,
            env_kwargs=env_kwargs(args),
            n_episodes=args.episodes,
            data_format=args.data_format,
            seed=args.seed,
            batch_size=args.batch_size,
            metrics=args.metrics,
            judge=judge,
            protocol=args.protocol,
            split=args.split,
            workers=args.workers,
            ray=args.ray,
            ray_address=args.ray_address,
            progress=not args.no_progress,
            command=command_line(args),
            resume_dir=args.out,  # a killed bench re-run with the same command reuses its finished policies
        )
        paths = result.save(args.out, plots=not args.no_plots)
    except MemgymError as exc:
        print(f"memgym bench: error: {exc}", file=sys.stderr)
        return 2
    if all(p.skipped for p in result.policies):
        reasons = "; ".join(f"{p.name}: {p.skipped}" for p in result.policies)
        print(f"memgym bench: error: no policy ran ({reasons})", file=sys.stderr)
        return 1
    report = result.markdown()
    print(report.split("\n## ", 2)[1].split("\n", 1)[1].strip())  # the overall table
    protocol = result.config["protocol"]
    part = f", part {protocol['part']}" if protocol.get("part") else ""
    print(f"\nprotocol {protocol['name']}{part}: {protocol['title']}")
    print(
        f"wall time {result.wall_time_s:.1f} s; report in {paths['report.md'].parent}/ ({', '.join(paths)})"
    )
    return 0


def _check_env(env_id: str, kwargs: dict[str, Any]) -> None:
    """Build the environment once on one small episode, so an unknown id, an argument it does not take
    or a value it refuses (``--env-arg top_k=-1``) fails now, naming it, instead of skipping every policy."""
    import memgym.envs
    from memgym.errors import ConfigError

    probe = {**kwargs, "episodes": "synthetic", "episode_kwargs": {"n_episodes": 1}}
    try:
        memgym.envs.make(env_id, **probe).close()
    except (TypeError, ValueError) as err:  # ConfigError is a ValueError
        raise ConfigError(f"--env {env_id} / --env-arg: {err}") from err


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run: every option with its resolved value."""
    parts = ["memgym", "bench"]
    for key, value in sorted(vars(args).items()):
        if key in ("func", "command") or value is None or value is False or value == []:
            continue
        flag = "--" + {"data_format": "format"}.get(key, key).replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, list):
            if key == "env_arg":
                parts += [p for v in value for p in (flag, str(v))]
            else:
                parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return shlex.join(parts)


def _judge(args: argparse.Namespace) -> Any:
    from memgym.policies.bench import BackendSpec
    from memgym.rewards.judge import LLMJudge

    spec: BackendSpec = _backend(
        args.judge_backend or args.backend, args.judge_model or args.model, args.base_url
    )
    return LLMJudge(spec.build())
