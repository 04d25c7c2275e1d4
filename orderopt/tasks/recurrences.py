"""First-order recurrences ``y_0 = x_0, y_i = f(x_i, y_{i-1})`` over inputs ``x_i in {-9..9}``.

``forward`` (``y_0`` first) needs one application of ``f`` per step; any other order makes the
model invert or skip through ``f``, which is hard because every ``f`` here except ``relu`` is
non-injective (and ``relu`` loses information at 0).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from orderopt.errors import TaskConfigError
from orderopt.tasks.base import Task

__all__ = [
    "RecurrenceTask",
    "ReluTask",
    "SquareTask",
    "CubicTask",
    "TriangleTask",
    "SineTask",
    "MlpTask",
    "balanced_mod",
    "triangle_wave",
]

X_MIN, X_MAX = -9, 9
N_VALUES = X_MAX - X_MIN + 1  # 19


def balanced_mod(z: np.ndarray, p: int = 19) -> np.ndarray:
    """Residue of ``z`` mod ``p`` in ``{-(p//2)..p//2}`` (balanced residues)."""
    r = np.mod(z, p)
    return np.where(r > p // 2, r - p, r)


def triangle_wave(z: np.ndarray) -> np.ndarray:
    """Fold integers onto ``{0..9}``: 0,1,..,9,8,..,1,0,1,.. (period 18)."""
    return np.abs(np.mod(z, 18) - 9)


class RecurrenceTask(Task):
    """Shared machinery; subclasses define :meth:`step` on value arrays."""

    formula_step = ""

    def __init__(self, length: int = 8) -> None:
        if int(length) < 2:
            raise TaskConfigError(f"{self.name} needs length >= 2, got {length}")
        self.length = int(length)
        self.input_length = self.length
        self.offset = -X_MIN
        self.vocab_size = self.max_value() - X_MIN + 1
        self.formula = f"x_i in {{-9..9}}; y_0 = x_0, {self.formula_step}"

    def max_value(self) -> int:
        """Largest absolute state value (sets the vocabulary)."""
        return X_MAX

    def step(self, x: np.ndarray, prev: np.ndarray) -> np.ndarray:
        """The next state from the input and the previous state (vectorised over samples)."""
        raise NotImplementedError

    def targets(self, x_values: np.ndarray) -> np.ndarray:
        """Canonical targets (values, not tokens) for input values ``(n, L)``."""
        x_values = np.atleast_2d(np.asarray(x_values, dtype=np.int64))
        y = np.empty_like(x_values)
        y[:, 0] = x_values[:, 0]
        for i in range(1, x_values.shape[1]):
            y[:, i] = self.step(x_values[:, i], y[:, i - 1])
        return y

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x = rng.integers(X_MIN, X_MAX + 1, size=(n, self.length))
        return x + self.offset, self.targets(x) + self.offset


class ReluTask(RecurrenceTask):
    """The paper's RELU recurrence: running sums clipped at zero."""
    name = "relu"
    formula_step = "y_i = max(x_i + y_{i-1}, 0)"

    def max_value(self) -> int:
        return X_MAX * self.length

    def step(self, x: np.ndarray, prev: np.ndarray) -> np.ndarray:
        return np.maximum(x + prev, 0)


class SquareTask(RecurrenceTask):
    """The paper's SQUARE-19 recurrence."""
    name = "square"
    formula_step = "y_i = x_i^2 + y_{i-1}^2 mod 19 (balanced residues -9..9)"

    def step(self, x: np.ndarray, prev: np.ndarray) -> np.ndarray:
        return balanced_mod(x**2 + prev**2)


class CubicTask(RecurrenceTask):
    """As ``square`` with cubes (ours)."""
    name = "cubic"
    formula_step = "y_i = x_i^3 + y_{i-1}^3 mod 19 (balanced residues -9..9)"

    def step(self, x: np.ndarray, prev: np.ndarray) -> np.ndarray:
        return balanced_mod(x**3 + prev**3)


class TriangleTask(RecurrenceTask):
    """A triangle-wave recurrence (ours)."""
    name = "triangle"
    formula_step = "y_i = tri(x_i + y_{i-1}), tri(z) = |(z mod 18) - 9| in {0..9}"

    def step(self, x: np.ndarray, prev: np.ndarray) -> np.ndarray:
        return triangle_wave(x + prev)


class SineTask(RecurrenceTask):
    """A rounded-sine recurrence (ours)."""
    name = "sine"
    formula_step = "y_i = round(9 sin(x_i + y_{i-1})) (radians, half to even)"

    def step(self, x: np.ndarray, prev: np.ndarray) -> np.ndarray:
        return np.rint(9.0 * np.sin((x + prev).astype(np.float64))).astype(np.int64)


class MlpTask(RecurrenceTask):
    """``f`` is a fixed random MLP; its scalar output over the 19 x 19 grid is cut into 19
    equal-frequency bins, so every value in ``-9..9`` occurs about equally often."""

    name = "mlp"
    formula_step = (
        "y_i = bin19(MLP(x_i/9, y_{i-1}/9)), MLP 2-16-1 tanh with N(0,1) weights by mlp_seed, "
        "bin19 = equal-frequency bins over the 19x19 grid mapped to -9..9"
    )

    def __init__(self, length: int = 8, mlp_seed: int = 0) -> None:
        self.mlp_seed = int(mlp_seed)
        super().__init__(length)
        rng = np.random.default_rng(self.mlp_seed)
        w1, b1, w2 = rng.normal(size=(2, 16)), rng.normal(size=16), rng.normal(size=16)
        values = np.arange(X_MIN, X_MAX + 1)
        grid = np.stack(np.meshgrid(values, values, indexing="ij"), -1) / 9.0
        out = (np.tanh(grid @ w1 + b1) @ w2).ravel()
        ranks = np.argsort(np.argsort(out, kind="stable"), kind="stable")
        self.table = (ranks * N_VALUES // out.size + X_MIN).reshape(N_VALUES, N_VALUES)  # [x+9, y+9]

    def step(self, x: np.ndarray, prev: np.ndarray) -> np.ndarray:
        return self.table[x - X_MIN, prev - X_MIN]

    def options(self) -> dict[str, Any]:
        return {"mlp_seed": self.mlp_seed}


RECURRENCES: dict[str, Callable[..., RecurrenceTask]] = {
    cls.name: cls for cls in (ReluTask, SquareTask, CubicTask, TriangleTask, SineTask, MlpTask)
}
