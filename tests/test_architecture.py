"""The house rules that keep memgym's layering, read from the source itself (so they cannot drift)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "policies", "rewards", "trainers")
#: The batched step protocol is implemented here and called only by the stepping engine.
STEP_PROTOCOL_HOMES = {"envs/base.py", "envs/stepping.py", "envs/wrappers.py"}
MAX_MODULE_LINES = 530


def _sources() -> list[Path]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    return sorted(files + [ROOT / "__init__.py", ROOT / "cli.py", ROOT / "registry.py", ROOT / "errors.py"])


def _imports(path: Path) -> set[str]:
    """Every module an ``import`` statement in ``path`` names (lazy imports inside functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_envs_import_nothing_from_policies_or_trainers():
    bad = {
        str(p.relative_to(ROOT)): sorted(m for m in _imports(p) if m.startswith(("memgym.policies", "memgym.trainers")))
        for p in (ROOT / "envs").rglob("*.py")
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_rewards_import_nothing_from_trainers():
    bad = {str(p.relative_to(ROOT)): sorted(m for m in _imports(p) if m.startswith("memgym.trainers"))
           for p in (ROOT / "rewards").rglob("*.py")}
    assert {k: v for k, v in bad.items() if v} == {}


def test_only_the_stepping_engine_calls_the_step_halves():
    callers = []
    for path in _sources():
        rel = str(path.relative_to(ROOT))
        if rel in STEP_PROTOCOL_HOMES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Attribute) and node.attr in ("begin_step", "end_step")):
                continue
            extends = isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "super"
            if not extends:  # an environment extending its own halves (super().begin_step) is no caller
                callers.append(f"{rel}:{node.lineno}")
    assert callers == []


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_the_size_limit(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {n} lines; split it (limit ~500)"


def test_import_memgym_loads_no_heavy_library():
    code = (
        "import sys, memgym, memgym.envs, memgym.policies, memgym.rewards, memgym.trainers; "
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'ray', 'vllm', 'sentence_transformers') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
