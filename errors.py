"""The small error hierarchy of memgym: every error a user can trigger says what to fix."""

from __future__ import annotations


class MemgymError(Exception):
    """Base class of every error memgym raises on purpose.

    Every subclass can be rebuilt from its message alone (``type(err)(str(err))``): Gymnasium's
    ``AsyncVectorEnv`` re-raises a worker's error that way, and pickling (multiprocessing, Ray) too.
    """


class DatasetError(MemgymError):
    """A dataset file does not match its format; names the file, the record and the field."""

    def __init__(self, message: str, *, file: str | None = None, record: str | int | None = None,
                 field: str | None = None) -> None:
        where = ", ".join(
            part for part in (
                f"file {file}" if file is not None else "",
                f"record {record}" if record is not None else "",
                f"field {field!r}" if field is not None else "",
            ) if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.record, self.field = file, record, field


class DependencyNotInstalled(MemgymError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = "") -> None:
        why = f" {purpose}" if purpose else ""
        message = (
            str(package) if extra is None  # rebuilt from its message (see MemgymError)
            else f"{package} is needed{why} but is not installed. Install it with `pip install 'memgym[{extra}]'`."
        )
        super().__init__(message)
        self.package, self.extra = package, extra


class UnknownNameError(MemgymError, KeyError):
    """A name looked up in a registry does not exist; the message lists close matches and all names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ConfigError(MemgymError, ValueError):
    """A configuration value is invalid or fields contradict each other."""


class DatasetWarning(UserWarning):
    """A dataset loads, but something in it is suspect (a cut character, evidence naming no turn)."""
