"""A user's own task for the end-to-end tests: ``--task tests.user_task:generate`` (a generator
named by import path) and ``tests.user_task:broken`` (one that fails)."""

from __future__ import annotations

import numpy as np


def generate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums mod 10 of five digits, stored in a shuffled numbering."""
    x = rng.integers(0, 10, size=(n, 5))
    return x, (np.cumsum(x, axis=1) % 10)[:, [3, 0, 4, 1, 2]]


generate.orders = {"friendly": [1, 3, 4, 0, 2]}  # the prefix sums in their own order


def broken(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    raise ValueError("no data today")
