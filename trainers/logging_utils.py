"""Metric logging: a JSONL file always, TensorBoard by default, Weights & Biases when asked."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memgym.errors import DependencyNotInstalled


class MetricLogger:
    """Writes ``{"step": n, **metrics}`` lines to ``metrics.jsonl`` and mirrors them to the chosen sinks.

    The JSONL file is what reports and resumed runs read back; TensorBoard (``SummaryWriter``) and W&B are
    views of the same numbers. A resumed run appends to the same file.
    """

    def __init__(
        self,
        run_dir: str | Path,
        report_to: list[str],
        *,
        run_name: str = "",
        config: Mapping[str, Any] | None = None,
        wandb_project: str = "memgym",
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / "metrics.jsonl"
        self._tb = None
        self._wandb = None
        sinks = {s for s in report_to if s != "none"}
        if "tensorboard" in sinks:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))
        if "wandb" in sinks:
            try:
                import wandb
            except ImportError as err:
                raise DependencyNotInstalled("wandb", "wandb", "to log to Weights & Biases") from err
            self._wandb = wandb.init(
                project=wandb_project,
                name=run_name,
                config=dict(config or {}),
                dir=str(self.run_dir),
                resume="allow",
            )

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        clean = {k: _plain(v) for k, v in metrics.items()}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, **clean}) + "\n")
        for key, value in clean.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                if self._tb is not None:
                    self._tb.add_scalar(key, value, step)
        if self._wandb is not None:
            self._wandb.log({k: v for k, v in clean.items() if isinstance(v, (int, float))}, step=step)

    def truncate_after(self, step: int) -> None:
        """Drop lines logged after ``step`` (a killed run may have logged past its last checkpoint)."""
        if not self.path.exists():
            return
        kept = [
            line
            for line in self.path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step
        ]
        self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def close(self) -> None:
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file, in order."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (ValueError, RuntimeError):
            return str(value)
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)
