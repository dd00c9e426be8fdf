"""Checkpoints that let a killed run continue exactly: weights, optimizer, scheduler, data order, RNG.

A checkpoint is a folder ``checkpoints/step-000012`` holding the trainable parameters
(``trainable.safetensors``: all weights, or only the LoRA adapters), extra modules such as PPO's value head,
``optimizer.pt``, ``scheduler.pt`` and ``trainer_state.json``. It is written to a temporary folder and
renamed, so a run killed while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from memgym.errors import MemgymError

STATE_FILE = "trainer_state.json"


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that train (tied weights appear once, under their first name)."""
    return {n: p.detach().contiguous().clone() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(
    folder: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
    extra_modules: dict[str, torch.nn.Module] | None = None,
) -> Path:
    """Write a checkpoint atomically (temporary folder, then rename)."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(trainable_state(model), str(tmp / "trainable.safetensors"))
    for name, module in (extra_modules or {}).items():
        save_file(
            {k: v.contiguous() for k, v in module.state_dict().items()}, str(tmp / f"{name}.safetensors")
        )
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    full_state = {**state, "rng": _rng_state()}
    (tmp / STATE_FILE).write_text(json.dumps(full_state, indent=1), encoding="utf-8")
    old = folder.with_name(folder.name + ".old")  # re-saving a step: set the previous one aside, never delete
    shutil.rmtree(old, ignore_errors=True)       # it before the new one is in place
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def load_checkpoint(
    folder: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    extra_modules: dict[str, torch.nn.Module] | None = None,
) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` wrote into live objects; returns the trainer state."""
    folder = Path(folder)
    if not (folder / STATE_FILE).exists():
        raise MemgymError(f"{folder} is not a checkpoint (no {STATE_FILE})")
    try:
        weights = load_file(str(folder / "trainable.safetensors"))
    except (OSError, RuntimeError, ValueError) as err:  # missing or not safetensors
        raise MemgymError(f"checkpoint {folder}: trainable.safetensors cannot be read ({err})") from err
    params = dict(model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        raise MemgymError(f"checkpoint {folder} does not fit this model: unknown parameters {missing[:3]}")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    for name, module in (extra_modules or {}).items():
        module.load_state_dict(load_file(str(folder / f"{name}.safetensors")))
    optimizer.load_state_dict(_load_tensors(folder / "optimizer.pt"))
    scheduler.load_state_dict(_load_tensors(folder / "scheduler.pt"))
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise MemgymError(f"checkpoint {folder}: {STATE_FILE} cannot be read ({err})") from err
    _set_rng_state(state.pop("rng", None))
    return state


def _load_tensors(path: Path) -> Any:
    """A state dict saved by ``torch.save``, loaded with ``weights_only=True``: tensors and plain values
    only, so resuming from a folder of unknown origin never runs code hidden in a pickle."""
    import pickle

    try:
        return torch.load(path, weights_only=True)
    except FileNotFoundError as err:
        raise MemgymError(f"checkpoint {path.parent} is incomplete: {path.name} is missing") from err
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MemgymError(
            f"refusing to load {path}: it is not a plain state dict of tensors ({first})"
        ) from err


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.exists():
        return []
    found = {p.name: p for p in root.glob("step-*") if p.is_dir() and (p / STATE_FILE).exists()}
    done = [p for name, p in found.items() if "." not in name]
    # a kill between the two renames of a re-save leaves only the step set aside: it still counts
    done += [p for name, p in found.items() if name.endswith(".old") and name[:-4] not in found]
    return sorted(done, key=lambda p: p.name)


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def _rng_state() -> dict[str, Any]:
    return {
        "python": repr(random.getstate()),
        "numpy": [
            int(x) if isinstance(x, (int, np.integer)) else x.tolist() if hasattr(x, "tolist") else x
            for x in np.random.get_state()
        ],
        "torch": torch.get_rng_state().tolist(),
    }


def _set_rng_state(state: dict[str, Any] | None) -> None:
    if not state:
        return
    import ast

    random.setstate(ast.literal_eval(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
