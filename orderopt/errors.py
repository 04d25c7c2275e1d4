"""One exception family: every user-facing failure is an ``OrderoptError``.

Messages say what was wrong and how to fix it, in one line, because the CLI prints them as they
are and exits with code 2.
"""

from __future__ import annotations

__all__ = [
    "OrderoptError",
    "InvalidOrderError",
    "UnknownTaskError",
    "TaskConfigError",
    "DatasetError",
    "ConfigError",
    "StorageError",
]


class OrderoptError(Exception):
    """Base class of every error orderopt raises on purpose."""


class InvalidOrderError(OrderoptError, ValueError):
    """An order that is not a permutation of 0..L-1 (or has the wrong length)."""


class UnknownTaskError(OrderoptError, KeyError):
    """A task name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TaskConfigError(OrderoptError, ValueError):
    """Task options that do not fit the task (e.g. an odd length for ``prod``)."""


class DatasetError(OrderoptError, ValueError):
    """A dataset file that cannot be read as (input, target) integer sequences."""


class ConfigError(OrderoptError, ValueError):
    """Training, profiling or search options that are out of range."""


class StorageError(OrderoptError, RuntimeError):
    """A storage URL that is malformed or cannot be reached."""
