"""INDEX task (paper, section 5): each state points into the input by the sum of recent states."""

from __future__ import annotations

from typing import Any

import numpy as np

from orderopt.errors import TaskConfigError
from orderopt.tasks.base import Task

__all__ = ["IndexTask"]


class IndexTask(Task):
    """``x_i in {0..L-1}``; ``y_0 = x_0``, ``y_i = x_p`` with ``p = (sum of the previous
    min(d, i) y's) mod L``. Forward needs one lookup per step; reverse must undo the lookups."""

    name = "index"

    def __init__(self, length: int = 8, window: int = 2) -> None:
        if int(length) < 2:
            raise TaskConfigError(f"index needs length >= 2, got {length}")
        if int(window) < 1:
            raise TaskConfigError(f"index needs window d >= 1, got {window}")
        self.length = self.input_length = self.vocab_size = int(length)
        self.window = int(window)
        self.formula = (
            f"x_i in {{0..L-1}}; y_0 = x_0, y_i = x_p with p = (y_(i-1) + .. + y_(i-min(d,i))) mod L, d={self.window}"
        )

    def targets(self, x: np.ndarray) -> np.ndarray:
        """All targets from the inputs, in canonical order."""
        x = np.atleast_2d(np.asarray(x, dtype=np.int64))
        n, L = x.shape
        y = np.empty_like(x)
        y[:, 0] = x[:, 0]
        rows = np.arange(n)
        for i in range(1, L):
            p = y[:, max(0, i - self.window):i].sum(axis=1) % L
            y[:, i] = x[rows, p]
        return y

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x = rng.integers(0, self.length, size=(n, self.length))
        return x, self.targets(x)

    def options(self) -> dict[str, Any]:
        return {"window": self.window}
