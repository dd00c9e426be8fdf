"""One small registry type for the names users type: policies, backends, reward components, loaders."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from memgym.errors import UnknownNameError

T = TypeVar("T")


def lazy_module_attributes(module: str, names: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``names[attr]`` (a module path) on first access of ``attr``.

    Keeps a package's import light: ``__getattr__ = lazy_module_attributes(__name__, _LAZY, globals())``.
    """

    def getattr_(name: str) -> Any:
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return getattr_


def load_entry_point(path: str) -> object:
    """Import ``"package.module:attribute"`` lazily, so registering costs no import."""
    module_name, _, attr = path.partition(":")
    if not attr:
        raise ValueError(f"entry point {path!r} must look like 'package.module:attribute'")
    return getattr(importlib.import_module(module_name), attr)


class Registry(Generic[T]):
    """Maps a name to an object or to a lazy ``"module:attr"`` path; unknown names suggest close ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}

    def register(self, name: str, target: T | str, *, override: bool = False) -> None:
        if name in self._entries and not override:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = target

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@REGISTRY.decorator("name")`` registers a class or function where it is defined."""

        def wrap(obj: T) -> T:
            self.register(name, obj)
            return obj

        return wrap

    def get(self, name: str) -> T:
        if name not in self._entries:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._entries)) or '(none)'}"
            )
        target = self._entries[name]
        if isinstance(target, str):
            target = load_entry_point(target)  # type: ignore[assignment]
            self._entries[name] = target
        return target  # type: ignore[return-value]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
