import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One torch thread for the whole suite (and the servers it starts): on 2 cores, two spinning threads next to
# the test process's other work made tiny-model generation ~10x slower. Set before torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def load_experiment():
    """Import a script of ``experiments/`` (not a package) by its file name, e.g. ``load_experiment("x")``."""

    def load(name: str) -> ModuleType:
        path = Path(__file__).resolve().parents[1] / "experiments" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
