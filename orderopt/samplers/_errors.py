"""The errors the sampler package raises (one line each: what was wrong and how to fix it).

They live here so that the package needs nothing outside itself; :mod:`orderopt.errors` builds
orderopt's whole exception family on them.
"""

from __future__ import annotations

__all__ = ["OrderoptError", "InvalidOrderError", "ConfigError"]


class OrderoptError(Exception):
    """Base class of every error orderopt raises on purpose."""


class InvalidOrderError(OrderoptError, ValueError):
    """An order that is not a permutation of 0..L-1 (or has the wrong length)."""


class ConfigError(OrderoptError, ValueError):
    """Training, profiling, sampler or search options that are out of range."""
