"""Metric logging: a JSONL file always, TensorBoard by default, Weights & Biases when asked."""

from __future__ import annotations

import json
import math
import os
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
        """Drop lines logged after ``step`` (a killed run may have logged past its last checkpoint), and a
        line a kill cut short. The file is rewritten atomically (a temporary file renamed over it), so a
        kill during the rewrite leaves the old file or the new one, never a part of either."""
        if not self.path.exists():
            return
        kept = [line for line, record in _records(self.path) if record is not None and record.get("step", 0) <= step]
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in kept))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file, in order (a line a kill cut short is left out)."""
    p = Path(path)
    if not p.exists():
        return []
    return [record for _, record in _records(p) if record is not None]


def _records(path: Path) -> list[tuple[str, dict[str, Any] | None]]:
    """Each non-empty line with its record (``None`` for a line that is no JSON object)."""
    out: list[tuple[str, dict[str, Any] | None]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        out.append((line, record if isinstance(record, dict) else None))
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (ValueError, RuntimeError):
            return str(value)
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)
