"""The repository root is the `memgym` package: every subpackage must ship, nothing as a top-level name."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", "tests", "build", "dist", ".git", "experiments", "configs"}


def package_dirs() -> set[str]:
    found = {"memgym"}
    for init in ROOT.rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT)
        if rel.parts and (rel.parts[0] in SKIP or rel.parts[0].startswith(".")):
            continue
        if rel.parts and "egg-info" not in rel.parts[0]:
            found.add(".".join(("memgym", *rel.parts)))
    return found


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    missing = package_dirs() - listed
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"


@pytest.mark.slow
def test_wheel_holds_memgym_and_no_top_level_subpackages(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    wheel = next(tmp_path.glob("memgym-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "memgym/envs/memory_bank.py" in names
    assert "memgym/__init__.py" in names
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top_level == {"memgym"}, f"unexpected top-level names in the wheel: {sorted(top_level - {'memgym'})}"
