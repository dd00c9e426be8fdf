"""Every ``>>>`` example in memgym's docstrings runs, one test per module (the docstrings cannot drift)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import memgym
from memgym.errors import DependencyNotInstalled

ROOT = Path(memgym.__file__).resolve().parent  # the repository root is the package
SKIP_PREFIXES = ("memgym.tests", "memgym.experiments", "memgym.build")
#: Modules whose examples fail today (module -> why), for files this test's author could not edit; they
#: xfail, and a listed module whose examples pass fails the test until its entry is removed. Empty now.
KNOWN_FAILING: dict[str, str] = {}


def modules_with_examples() -> list[str]:
    """memgym's modules whose source holds a ``>>>`` (found without importing them), and any package
    that fails to import (its submodules cannot be listed, so its own case fails with the error)."""
    broken: list[str] = []
    sources = {"memgym": ROOT / "__init__.py"}
    for info in pkgutil.walk_packages(memgym.__path__, "memgym.", onerror=broken.append):
        if info.name.startswith(SKIP_PREFIXES) or info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # __main__ would run the CLI on import
        spec = info.module_finder.find_spec(info.name)  # type: ignore[call-arg]
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            sources[info.name] = Path(spec.origin)
    found = {name for name, path in sources.items() if ">>>" in path.read_text(encoding="utf-8")}
    return sorted(found | {name for name in broken if not name.startswith(SKIP_PREFIXES)})


def import_or_skip(name: str) -> ModuleType:
    """Import ``name``; skip when an optional dependency is missing (other import errors fail the test)."""
    try:
        return importlib.import_module(name)
    except DependencyNotInstalled as err:
        pytest.skip(f"{name} needs an optional dependency: {err}")
    except ModuleNotFoundError as err:
        if err.name is None or err.name.split(".")[0] == "memgym":
            raise
        pytest.skip(f"{name} needs {err.name}, which is not installed")


@pytest.fixture
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Some examples read ``configs/...`` relative to the repository root."""
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples(name: str, at_repo_root: None) -> None:
    module = import_or_skip(name)
    tests = [t for t in doctest.DocTestFinder().find(module, name) if t.examples]
    if not tests:
        pytest.skip("no examples")
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    failed = runner.summarize(verbose=False).failed
    if name in KNOWN_FAILING:
        if failed:
            pytest.xfail(KNOWN_FAILING[name])
        pytest.fail(f"{name}'s examples pass now: remove it from KNOWN_FAILING")
    assert failed == 0, "".join(report)
