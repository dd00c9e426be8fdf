"""memgym's environments in Gymnasium's registry, and discovery of third-party environments.

memgym's own ids (:data:`MEMGYM_ENVS`) are registered with lazy string entry points when
``memgym.envs`` is imported, so registering costs no import of the environment modules.

**Plugging in an environment.** Subclass :class:`memgym.envs.base.MemoryEnv`, then either call
:func:`register` yourself, or let memgym find it: declare an entry point in the group ``memgym.envs``
of your package's metadata, e.g. in ``pyproject.toml``::

    [project.entry-points."memgym.envs"]
    "acme/Diary-v0" = "acme_envs.diary:DiaryEnv"      # an env class: registered under the entry's name
    acme = "acme_envs:register_envs"                   # any other callable: called once, registers its ids

An entry point that loads a ``gymnasium.Env`` subclass is registered under the entry point's name, which
must therefore be a Gymnasium id (``[namespace/]Name-vN``); an entry point that loads any other callable
is called with no arguments and is expected to call :func:`register` (or ``gymnasium.register``) for
each of its ids. :func:`make` and :func:`list_envs` run the discovery once per process
(:func:`discover_plugins`); a plugin that fails to load is skipped with a warning naming it, so one broken
package cannot break the others.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import inspect
import warnings
from typing import Any

import gymnasium as gym

from memgym.errors import ConfigError, UnknownNameError

#: The entry-point group third-party packages declare their environments in.
ENTRY_POINT_GROUP = "memgym.envs"

#: memgym's own environments: id -> (entry point, default kwargs).
MEMGYM_ENVS: dict[str, tuple[str, dict[str, Any]]] = {
    "memgym/MemoryManager-v0": ("memgym.envs.manager:MemoryManagerEnv", {}),
    "memgym/MemoryConstruct-v0": ("memgym.envs.construct:MemoryConstructEnv", {}),
    "memgym/MemoryOverwrite-v0": ("memgym.envs.overwrite:MemoryOverwriteEnv", {}),
    "memgym/AnswerAgent-v0": ("memgym.envs.answer_agent_env:AnswerAgentEnv", {}),
    "memgym/MemoryConsolidate-v0": ("memgym.envs.consolidate:MemoryConsolidateEnv", {}),
}

_ids: dict[str, None] = {}  # ordered set of the ids registered through memgym (own and plugins)
_time_limits: dict[str, int] = {}  # id -> max_episode_steps given at registration
_loaded_entry_points: set[str] = set()


def register(
    id: str,
    entry_point: Any,
    *,
    kwargs: dict[str, Any] | None = None,
    override: bool = False,
    **spec_kwargs: Any,
) -> None:
    """Register an environment with Gymnasium (``gymnasium.register``) and list it in :func:`list_envs`.

    Args:
        id: ``[namespace/]Name-vN``; bump ``N`` whenever a change could alter learning results.
        entry_point: ``"package.module:Class"`` (lazy, preferred) or a callable returning an env.
        kwargs: default constructor arguments; ``make(id, **kw)`` overlays ``kw`` on them.
        override: replace an id that is already registered with a different entry point.
        **spec_kwargs: the rest of ``gymnasium.register`` (``nondeterministic``, ...). ``max_episode_steps``
            is applied by :func:`make` as :class:`memgym.envs.wrappers.TimeLimit`, which forwards batched
            stepping. Gymnasium's ``OrderEnforcing`` and passive checker are off by default: a
            ``MemoryEnv`` enforces reset-before-step itself and :func:`memgym.envs.check_env` checks it.

    Raises:
        ConfigError: ``id`` is registered already with another entry point and ``override`` is False.
    """
    spec_kwargs.setdefault("order_enforce", False)
    spec_kwargs.setdefault("disable_env_checker", True)
    limit = spec_kwargs.pop("max_episode_steps", None)
    existing = gym.registry.get(id)
    if existing is not None and not override:
        if existing.entry_point == entry_point and (existing.kwargs or {}) == (kwargs or {}):
            _ids[id] = None  # registering the same thing twice is harmless
            return
        raise ConfigError(
            f"environment {id!r} is already registered (entry point {existing.entry_point!r}); "
            "pick another id or version, or pass override=True"
        )
    gym.register(id=id, entry_point=entry_point, kwargs=dict(kwargs or {}), **spec_kwargs)
    _ids[id] = None
    if limit is not None:
        _time_limits[id] = int(limit)
    else:
        _time_limits.pop(id, None)


def register_envs() -> None:
    """Register memgym's own environments (idempotent)."""
    for env_id, (entry_point, kwargs) in MEMGYM_ENVS.items():
        register(env_id, entry_point, kwargs=kwargs)


def discover_plugins(*, reload: bool = False) -> list[str]:
    """Load the ``memgym.envs`` entry points of installed packages; return the ids they registered.

    Each entry point is loaded once per process unless ``reload`` is set.
    """
    new_ids: list[str] = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = f"{ep.name}={ep.value}"
        if key in _loaded_entry_points and not reload:
            continue
        _loaded_entry_points.add(key)
        before = set(gym.registry)
        try:
            target = ep.load()
            if isinstance(target, type) and issubclass(target, gym.Env):
                register(ep.name, ep.value, override=reload)
            elif callable(target):
                target()
            else:
                raise ConfigError(f"it loads a {type(target).__name__}, not an env class or a callable")
        except Exception as exc:  # a broken third-party package must not break memgym or other plugins
            warnings.warn(
                f"skipping memgym.envs plugin {ep.name!r} ({ep.value}): {type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        added = [i for i in gym.registry if i not in before]
        for env_id in added:
            _ids[env_id] = None
        new_ids.extend(added)
    return new_ids


def list_envs() -> list[str]:
    """The ids of memgym's environments and of those registered through memgym or its plugins."""
    register_envs()
    discover_plugins()
    return sorted(i for i in _ids if i in gym.registry)


def _unknown_id(id: str) -> UnknownNameError:
    close = difflib.get_close_matches(id, list(gym.registry), n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return UnknownNameError(f"unknown environment {id!r}.{hint} memgym environments: {', '.join(list_envs())}")


def accepted_kwargs(target: Any) -> set[str] | None:
    """The keyword arguments an environment class (or factory) takes, following ``**kwargs`` up its base
    classes; ``None`` when it takes any keyword."""
    names: set[str] = set()
    chain = [k for k in target.__mro__ if "__init__" in k.__dict__] if isinstance(target, type) else [target]
    for fn in chain:
        if fn is object or fn is gym.Env:  # the last **kwargs went nowhere we can see: accept anything
            return None
        try:
            params = inspect.signature(fn.__init__ if isinstance(fn, type) else fn).parameters.values()
        except (TypeError, ValueError):  # a builtin without a signature
            return None
        names.update(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names - {"self"}
    return None


def check_env_kwargs(id: str, kwargs: dict[str, Any]) -> None:
    """Check, without building it, that environment ``id`` exists and takes every argument in ``kwargs``.

    Raises:
        UnknownNameError: no environment has this id (close ids are suggested).
        ConfigError: an argument the environment does not take; the message lists close and accepted names.
    """
    register_envs()
    discover_plugins()
    spec = gym.registry.get(id)
    if spec is None:
        raise _unknown_id(id)
    target = spec.entry_point
    if isinstance(target, str):
        from memgym.registry import load_entry_point

        target = load_entry_point(target)
    accepted = accepted_kwargs(target)
    if accepted is None:
        return
    accepted |= set(inspect.signature(gym.make).parameters) | {"max_episode_steps"}
    unknown = sorted(k for k in kwargs if k not in accepted)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(accepted), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"{id} takes no argument {unknown[0]!r}.{hint} Its arguments: "
            f"{', '.join(sorted(accepted - set(inspect.signature(gym.make).parameters)))}"
        )


def make(id: str, *, max_episode_steps: int | None = None, **kwargs: Any) -> gym.Env:
    """``gymnasium.make`` after registering memgym's and the plugins' environments.

    memgym's environments come unwrapped (their specs turn Gymnasium's order enforcing and passive
    checker off); ``max_episode_steps`` (or one given at registration) adds
    :class:`memgym.envs.wrappers.TimeLimit`. Both keep batched stepping (:mod:`memgym.envs.stepping`).

    Raises:
        UnknownNameError: no environment has this id; the message suggests close ids and lists memgym's.
        ConfigError: an argument the environment does not take (:func:`check_env_kwargs`).
    """
    check_env_kwargs(id, kwargs)
    try:
        env = gym.make(id, **kwargs)
    except gym.error.UnregisteredEnv as exc:
        raise _unknown_id(id) from exc
    limit = max_episode_steps if max_episode_steps is not None else _time_limits.get(id)
    if limit is not None:
        from memgym.envs.wrappers import TimeLimit

        env = TimeLimit(env, limit)
    return env
