"""What the benchmark runs, as picklable specs: a policy, an answer agent or a backend by name.

Worker processes and Ray tasks get specs, not objects, and build each one once per process
(:func:`build`), so a model policy loads its weights once per worker however many chunks it runs.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass
from typing import Any

from memgym.errors import ConfigError
from memgym.policies.managers import MemoryPolicy, make_policy


@dataclass(frozen=True)
class BackendSpec:
    """A generation backend by name (:func:`memgym.policies.backends.make_backend`), built once per process."""

    name: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    def build(self) -> Any:
        return _shared_backend(self)


@functools.cache
def _shared_backend(spec: BackendSpec) -> Any:
    from memgym.policies.backends import make_backend

    return make_backend(spec.name, **dict(spec.kwargs))


def backend_spec(name: str, **kwargs: Any) -> BackendSpec:
    """A :class:`BackendSpec` (keyword arguments with ``None`` values are left out)."""
    return BackendSpec(name, tuple(sorted((k, v) for k, v in kwargs.items() if v is not None)))


@dataclass(frozen=True)
class PolicySpec:
    """A policy by registry name, with keyword arguments and, for model policies, a backend to build."""

    name: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    backend: BackendSpec | None = None
    label: str | None = None  # the name reports show (default: ``name``)

    def build(self) -> MemoryPolicy:
        kwargs = dict(self.kwargs)
        if self.backend is not None:
            kwargs["backend"] = self.backend.build()
        policy = make_policy(self.name, **kwargs)
        if self.label:
            policy.name = self.label
        return policy

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class AgentSpec:
    """An answer agent by its name in :data:`memgym.envs.answering.ANSWER_AGENTS` (``"extractive"``,
    ``"llm"``, or a plugin's), with keyword arguments and, for model agents, a backend; built once per
    process."""

    kind: str = "extractive"
    backend: BackendSpec | None = None
    kwargs: tuple[tuple[str, Any], ...] = ()

    def build(self) -> Any:
        from memgym.envs.answering import make_answer_agent

        kwargs = dict(self.kwargs)
        if self.backend is not None:
            kwargs["backend"] = self.backend.build()
        elif self.kind == "llm":
            raise ConfigError("the llm answer agent needs a backend (e.g. --backend hf --model PATH)")
        return make_answer_agent(self.kind, **kwargs)


_BUILT: dict[bytes, Any] = {}  # per process: what specs built (workers reuse models across chunks)


def build(spec: Any) -> Any:
    """Build a :class:`PolicySpec` / :class:`AgentSpec` once per process; other objects pass through."""
    if not isinstance(spec, (PolicySpec, AgentSpec)):
        return spec
    key = pickle.dumps(spec)
    if key not in _BUILT:
        _BUILT[key] = spec.build()
    return _BUILT[key]
