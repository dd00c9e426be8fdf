"""Training configs: YAML files and ``key=value`` overrides mapped one-to-one onto dataclasses.

A config has one section per purpose (``model``, ``env``, ``generation``, ``train``, ``grpo``, ``ppo``,
``sft``, ``rllib``, ``eval``, ``logging``) plus a few top-level fields. Every field is documented once, by
the string under it (``memgym train --help-config`` prints them). Unknown keys are errors that name close
matches; values are checked against the field types; ``__post_init__`` checks rules linking fields.

>>> cfg = load_config(None, ["algorithm=ppo", "train.learning_rate=1e-5"])
>>> cfg.algorithm, cfg.train.learning_rate
('ppo', 1e-05)
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import textwrap
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from memgym.errors import ConfigError
from memgym.trainers.grpo_config import GRPOConfig
from memgym.trainers.ppo_config import PPOConfig

Algorithm = Literal["grpo", "ppo", "sft", "rllib_ppo"]


@dataclass
class ModelConfig:
    """The policy model and its adapters."""

    name_or_path: str = "smollm2-135m"
    """``smollm2-135m`` (the offline SmolLM2-135M-Instruct), ``tiny`` (a random tiny Llama for tests), or a
    local model directory (e.g. a previous run's ``final`` folder)."""
    use_peft: bool = False
    """Train LoRA adapters (peft) instead of all weights."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scaling numerator (the update is scaled by ``lora_alpha / lora_r``)."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA input."""
    lora_target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    """Modules that get adapters; ``["all-linear"]`` means every linear layer but the output head."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about a third more time."""
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """Compute precision of training's forward and backward passes: ``bfloat16`` runs them under autocast
    (the weights and the optimizer stay float32); ``auto`` picks it where the machine computes bfloat16
    natively (measured on an AVX512-BF16 CPU: a training step 2x, prefill 1.8x faster), else float32."""
    trainable_layers: int | None = None
    """Train only the top N decoder blocks (and the final norm); the embeddings and lower blocks stay
    frozen, so the backward pass stops at block N from the top. With ``use_peft`` the adapters go on those
    blocks only. ``None``: every block trains."""


@dataclass
class EnvConfig:
    """Which environment produces the episodes, and how rollouts are grouped."""

    id: str = "memgym/MemoryManager-v0"
    """A registered environment id (``memgym.list_envs()``)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for ``memgym.make`` when building training environments."""
    eval_kwargs: dict[str, Any] = field(default_factory=dict)
    """Overlaid on ``kwargs`` for the held-out evaluation environments (e.g. another split or seed)."""
    group_by: Literal["episode", "state"] = "episode"
    """``episode``: a group is G rollouts of one whole episode (Mem-alpha, MemAgent). ``state``: a group is G
    single steps branched from one state of a bank (Memory-R1 tuples)."""
    num_train_episodes: int | None = None
    """How many episodes of the training split to draw from (``None``: all the environment has)."""
    max_episode_steps: int | None = None
    """Cut trajectories after this many steps (``None``: run episodes to their end)."""
    system_prompt: str | None = None
    """Replace the environment's system message in every prompt the policy sees (warm start, rollouts,
    evaluation); ``compact`` is a ~40-token MemoryManager instruction. Shorter prompts train faster."""
    skip_speakers: list[str] = field(default_factory=list)
    """MemoryManager only: speakers whose turns get no step (e.g. ``[Assistant]``: only user turns hold
    facts); applies to the baselines' evaluation too."""

    @property
    def system_prompt_text(self) -> str | None:
        if self.system_prompt == "compact":
            from memgym.trainers.prompting import COMPACT_MANAGER_PROMPT

            return COMPACT_MANAGER_PROMPT
        return self.system_prompt


@dataclass
class GenerationConfig:
    """How rollouts are sampled."""

    max_new_tokens: int = 96
    """Completion budget per environment step."""
    temperature: float = 1.0
    """Sampling temperature of rollouts (Memory-R1 uses 1.0); log-probs in the loss use the same one."""
    top_p: float = 1.0
    """Nucleus sampling threshold of rollouts."""
    eval_temperature: float = 0.0
    """Temperature in held-out evaluation (0: greedy)."""
    batch_size: int = 32
    """Most prompts sent to the backend in one call (rollouts of many environments are batched together)."""
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """Precision of the rollout and evaluation model: ``bfloat16`` generates with a bfloat16 copy of the
    policy, refreshed after every update (``auto``: where the machine computes bfloat16 natively)."""
    constrained: Literal["format", "choices"] | None = None
    """Grammar-constrained decoding of actions (rollouts, evaluation; llguidance): ``format`` samples only
    actions that parse, on the ids shown, with the model's own texts; ``choices`` also restricts texts to
    the step's candidate texts (the turn and its sentences). The loss then scores the constrained policy
    (log-softmax over the allowed tokens). ``None``: the model writes anything."""
    use_vllm: bool = False
    """Generate with vLLM (GPU only; install ``memgym[vllm]``). On CPU the transformers backend is used."""
    vllm_mode: Literal["colocate", "server"] = "colocate"
    """``colocate``: vLLM shares the training GPU in this process. ``server``: a separate ``trl vllm-serve``."""
    vllm_server_base_url: str | None = None
    """Base URL of the vLLM server in server mode (default ``http://localhost:8000``)."""
    vllm_gpu_memory_utilization: float = 0.3
    """Fraction of GPU memory vLLM may take in colocate mode."""
    vllm_importance_sampling_correction: bool = True
    """Correct for the vLLM/trainer log-prob mismatch with truncated importance weights (TRL's TIS)."""
    vllm_importance_sampling_cap: float = 3.0
    """Upper bound of those importance weights."""


@dataclass
class TrainLoopConfig:
    """The optimisation loop shared by GRPO and PPO, checkpoints included."""

    max_steps: int = 100
    """Number of training steps; each collects rollouts then updates the policy."""
    episodes_per_step: int = 2
    """Groups per step: distinct episodes (or states) each rolled out ``num_generations`` times."""
    num_generations: int = 4
    """G, the rollouts per group. GRPO needs at least 2; PPO uses them as plain extra samples."""
    learning_rate: float = 1e-6
    """Peak learning rate of the policy (Memory-R1 and Mem-alpha use 1e-6)."""
    lr_scheduler: Literal["constant", "linear", "cosine"] = "constant"
    """Learning-rate schedule after warm-up."""
    warmup_steps: int = 0
    """Optimizer steps of linear warm-up."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Clip the global gradient norm to this value."""
    num_iterations: int = 1
    """Passes over each batch of rollouts (GRPO's mu, PPO's epochs)."""
    num_minibatches: int = 1
    """Optimizer steps per pass: the batch of steps is split into this many shuffled minibatches."""
    micro_batch_size: int = 8
    """Rows per forward/backward pass; gradients accumulate over a minibatch (memory, not maths)."""
    beta: float = 0.0
    """Weight of the KL to the reference (the initial policy), k3 estimator as in TRL; 0 disables it and
    saves the reference forward pass."""
    save_steps: int = 0
    """Save a checkpoint every this many steps (0: only at the end)."""
    save_total_limit: int = 2
    """Keep only this many step checkpoints (older ones are deleted)."""
    resume: str = "auto"
    """``auto``: continue from the last checkpoint in the run folder if there is one; ``never``; or a path."""


@dataclass
class SFTConfig:
    """Memory-SFT: supervised warm start on oracle trajectories with TRL's ``SFTTrainer``."""

    enabled: bool = False
    """Run the warm start before RL (always runs when ``algorithm`` is ``sft``)."""
    teacher: str = "oracle"
    """Whom the warm start imitates: ``oracle`` (the synthetic labels), a registered policy's name (e.g.
    ``mem0_heuristic``: an imperfect teacher RL can improve on), or a ``.jsonl`` file of examples
    ``{"prompt": [messages], "completion": text}`` (any teacher's trajectories)."""
    num_episodes: int = 64
    """Training episodes whose oracle trajectories become examples."""
    epochs: float = 1.0
    """Passes over the examples."""
    learning_rate: float = 5e-5
    """Peak learning rate of the warm start."""
    batch_size: int = 8
    """Examples per optimizer step."""
    max_length: int = 1024
    """Longest example in tokens; longer ones are truncated."""
    op_balance: float = 0.0
    """Resample the examples toward equal shares of ADD / UPDATE / DELETE / NOOP: each kind's share is
    proportional to ``count ** (1 - op_balance)`` (0: as collected, 1: equal shares); same example count."""
    compact_actions: bool = True
    """Leave out of the oracle's Mem0 JSON the fields the parser ignores (``old_memory``, a DELETE's text)."""
    save_steps: int = 50
    """Checkpoint the warm start every this many optimizer steps (under the run's ``sft/``), so a run killed
    mid-SFT resumes it there instead of starting it again; 0: no checkpoints until it ends."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Overlaid on ``env.kwargs`` for collecting the oracle trajectories (e.g. ``{mode: episode}`` when RL
    trains on single-step tuples but the warm start replays whole episodes)."""


@dataclass
class RLlibConfig:
    """RLlib PPO for compact, non-LLM memory managers on the environment's structured action mode."""

    num_env_runners: int = 0
    """Ray workers that step environments (0: in the driver process)."""
    num_cpus: int = 2
    """CPUs the local Ray instance may use."""
    train_batch_size: int = 512
    """Environment steps per PPO update."""
    minibatch_size: int = 128
    """Steps per SGD minibatch."""
    num_epochs: int = 5
    """SGD passes per update."""
    learning_rate: float = 3e-4
    """Adam learning rate."""
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])
    """Hidden layer sizes of the policy and value networks."""
    iterations: int = 20
    """Training iterations (each collects ``train_batch_size`` steps)."""


@dataclass
class EvalConfig:
    """Held-out evaluation with the bench harness."""

    num_episodes: int = 16
    """Held-out episodes evaluated (from ``env.eval_kwargs``)."""
    eval_steps: int = 0
    """Evaluate every this many training steps (0: only before and after training)."""
    before: bool = True
    """Evaluate the starting policy too, for the before/after table."""
    after_sft: bool = True
    """Evaluate right after the SFT warm start too (a row of its own: what RL adds on top of it)."""
    metric: str = "em"
    """The QA metric of the held-out table (``em``, ``f1``, ``bleu1``, ``locomo_f1``)."""
    baselines: list[str] = field(default_factory=lambda: ["heuristic"])
    """Baseline policies in the report's table (names of the policy registry; ``heuristic`` = all of the
    registered heuristic baselines)."""


@dataclass
class LoggingConfig:
    """Where metrics go."""

    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])
    """Any of ``tensorboard``, ``wandb`` (when installed), or ``none``; a JSONL log is always written."""
    logging_steps: int = 1
    """Log every this many steps."""
    wandb_project: str = "memgym"
    """W&B project name."""


@dataclass
class TrainConfig:
    """A whole training run; ``load_config`` builds it from YAML and overrides."""

    algorithm: Algorithm = "grpo"
    """``grpo`` or ``ppo`` (LLM policy, same rollouts), ``sft`` (warm start only), or ``rllib_ppo``."""
    exp_name: str = "run"
    """Experiment name, part of the run name ``env__exp__seed__time``."""
    run_name: str | None = None
    """Folder name of the run under ``output_dir`` (``None``: derived; set it to resume a named run)."""
    output_dir: str = "runs"
    """Where run folders (checkpoints, logs, report) are written."""
    seed: int = 0
    """Seeds the data order, sampling and initialisation; a resumed run continues the same sequence."""
    model: ModelConfig = field(default_factory=ModelConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    train: TrainLoopConfig = field(default_factory=TrainLoopConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    rllib: RLlibConfig = field(default_factory=RLlibConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def __post_init__(self) -> None:
        check_ranges(self)
        if self.algorithm == "grpo" and self.train.num_generations < 2:
            raise ConfigError(
                "GRPO needs at least 2 rollouts per group to compare them; set train.num_generations >= 2 "
                "(or use algorithm=ppo, which learns a value baseline instead)."
            )
        if self.train.micro_batch_size < 1 or self.train.num_minibatches < 1:
            raise ConfigError("train.micro_batch_size and train.num_minibatches must be at least 1")
        if self.train.beta < 0:
            raise ConfigError(f"train.beta must be >= 0, got {self.train.beta}")
        unknown = set(self.logging.report_to) - {"tensorboard", "wandb", "none"}
        if unknown:
            raise ConfigError(f"logging.report_to accepts tensorboard, wandb, none; got {sorted(unknown)}")

    def resolved_run_name(self) -> str:
        """``env__exp__seed__time`` (CleanRL's convention), unless ``run_name`` is set."""
        if self.run_name:
            return self.run_name
        env = self.env.id.split("/")[-1]
        return f"{env}__{self.exp_name}__{self.seed}__{time.strftime('%Y%m%d-%H%M%S')}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# ---------------------------------------------------------------------------------------------- value ranges
#: The range of each numeric field, checked when a config is built: (lowest, highest, lowest allowed?).
#: ``None`` values (``trainable_layers``, ``max_episode_steps``, ...) are always allowed.
RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    **{f"train.{k}": (0, None, True) for k in ("max_steps", "warmup_steps", "weight_decay", "save_steps",
                                             "learning_rate")},
    **{f"train.{k}": (1, None, True) for k in ("episodes_per_step", "num_generations", "num_iterations",
                                             "save_total_limit")},
    "train.max_grad_norm": (0, None, False),
    **{f"generation.{k}": (1, None, True) for k in ("max_new_tokens", "batch_size")},
    **{f"generation.{k}": (0, None, True) for k in ("temperature", "eval_temperature")},
    "generation.top_p": (0, 1, False),
    "generation.vllm_gpu_memory_utilization": (0, 1, False),
    "generation.vllm_importance_sampling_cap": (0, None, False),
    **{f"sft.{k}": (1, None, True) for k in ("num_episodes", "batch_size", "max_length")},
    "sft.epochs": (0, None, False),
    "sft.save_steps": (0, None, True),
    "sft.learning_rate": (0, None, True),
    "sft.op_balance": (0, 1, True),
    **{f"model.{k}": (1, None, True) for k in ("lora_r", "trainable_layers")},
    "model.lora_alpha": (0, None, False),
    "model.lora_dropout": (0, 1, True),
    **{f"env.{k}": (1, None, True) for k in ("num_train_episodes", "max_episode_steps")},
    **{f"eval.{k}": (0, None, True) for k in ("num_episodes", "eval_steps")},
    "logging.logging_steps": (1, None, True),
    **{f"rllib.{k}": (1, None, True) for k in ("num_cpus", "train_batch_size", "minibatch_size", "num_epochs",
                                             "iterations")},
    "rllib.num_env_runners": (0, None, True),
    "rllib.learning_rate": (0, None, False),
}


def check_ranges(cfg: TrainConfig) -> None:
    """Refuse a value outside its field's :data:`RANGES` (a negative ``train.max_steps`` or learning rate)."""
    for key, (low, high, low_ok) in RANGES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if value is None:
            continue
        too_low = low is not None and (value < low or (value == low and not low_ok))
        if too_low or (high is not None and value > high) or value != value:  # value != value: NaN
            low_text = "" if low is None else f"{'>=' if low_ok else '>'} {low}"
            bound = " and ".join(b for b in (low_text, "" if high is None else f"<= {high}") if b)
            raise ConfigError(f"{key} must be {bound}, got {value!r}")


# ---------------------------------------------------------------------------------------------- loading
def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a YAML config (or the defaults when ``path`` is None) and apply ``a.b=value`` overrides.

    Override values are parsed as YAML scalars (``x=1e-5`` is a float, ``x=[a, b]`` a list).
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as err:
            raise ConfigError(f"config file {p} is not UTF-8 text ({err.reason} at byte {err.start})") from err
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {p} is not valid YAML: {_yaml_problem(err)}") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: a config must be a mapping of sections, got {type(loaded).__name__}")
        data = loaded
    for item in overrides:
        apply_override(data, item)
    return build_dataclass(TrainConfig, data, "")


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set ``data[a][b] = value`` from ``"a.b=value"``, creating sections as needed."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} must look like key=value (e.g. train.learning_rate=1e-6)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(
            f"override {item!r}: the value is not valid YAML ({_yaml_problem(err)}); quote it to pass text"
        ) from err
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _yaml_problem(err: Exception) -> str:
    """A YAML error as one line: what went wrong and where."""
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    what = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"{what}{where}"


def build_dataclass(cls: type, data: dict[str, Any], where: str) -> Any:
    """Build ``cls`` from a mapping, refusing unknown keys and values of the wrong type."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__} {data!r}")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), names, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        section = f"section {where!r}" if where else "the top level"
        raise ConfigError(f"unknown key {key!r} in {section}.{hint} Known: {', '.join(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:  # a required field is missing
        raise ConfigError(f"{where or 'config'}: {err}") from err


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check (and gently convert) one value against a field type; the error names the key."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {tp}")
    if origin is Literal:
        if value in get_args(tp):
            return value
        choices = ", ".join(repr(c) for c in get_args(tp))
        raise ConfigError(f"{where}: {value!r} is not one of {choices}")
    if dataclasses.is_dataclass(tp):
        return value if isinstance(value, tp) else build_dataclass(tp, value, where)  # type: ignore[arg-type]
    if origin is list:
        items = value if isinstance(value, list) else [value]  # report_to=wandb means [wandb]
        (item_type,) = get_args(tp) or (Any,)
        return [_coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(items)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    return _coerce_scalar(value, tp, where)


def _coerce_scalar(value: Any, tp: Any, where: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-6 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    else:
        return value
    raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")


# ---------------------------------------------------------------------------------------------- docs
def field_docs(cls: type) -> dict[str, str]:
    """The string under each field of a dataclass: the one place a field is documented."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def describe_config(cls: type = TrainConfig, prefix: str = "") -> str:
    """Every field with its type, default and documentation, for ``memgym train --help-config``."""
    lines: list[str] = []
    docs = field_docs(cls)
    hints = get_type_hints(cls)
    default = cls()
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            lines.append(f"\n[{prefix}{f.name}] {(tp.__doc__ or '').strip().splitlines()[0]}")
            lines.append(describe_config(tp, f"{prefix}{f.name}."))
            continue
        value = getattr(default, f.name)
        lines.append(f"  {prefix}{f.name} = {value!r}\n      {docs.get(f.name, '')}")
    return "\n".join(lines)
