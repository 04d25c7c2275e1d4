"""One exception family: every user-facing failure is an ``OrderoptError``.

Messages say what was wrong and how to fix it, in one line, because the CLI prints them as they
are and exits with code 2.
"""

from __future__ import annotations

from orderopt.samplers._errors import ConfigError, InvalidOrderError, OrderoptError

__all__ = [
    "OrderoptError",
    "InvalidOrderError",
    "UnknownTaskError",
    "TaskConfigError",
    "DatasetError",
    "ConfigError",
    "StorageError",
    "MissingExtraError",
]


class UnknownTaskError(OrderoptError, KeyError):
    """A task name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TaskConfigError(OrderoptError, ValueError):
    """Task options that do not fit the task (e.g. an odd length for ``prod``)."""


class DatasetError(OrderoptError, ValueError):
    """A dataset file that cannot be read as (input, target) integer sequences."""



class StorageError(OrderoptError, RuntimeError):
    """A storage URL that is malformed or cannot be reached."""


class MissingExtraError(OrderoptError, ImportError):
    """An optional package is not installed; the message names the install extra."""
