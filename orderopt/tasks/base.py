"""The ``Task`` interface: deterministic (input, target) generators with disjoint splits.

A task emits integer *token ids*: inputs ``x`` of shape ``(n, input_length)`` and targets ``y``
of shape ``(n, length)`` in canonical order, every id in ``0..vocab_size-1``. Tasks that think in
signed values (``-9..9``) shift them by :attr:`Task.offset`; :meth:`Task.values` undoes it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from orderopt.errors import TaskConfigError
from orderopt.orders import Order, identity, parse_order, reverse

__all__ = ["Task", "Splits", "SPLIT_NAMES", "MAX_LENGTH", "MAX_SEQUENCE", "MAX_VOCAB", "check_size"]

SPLIT_NAMES = ("train", "validation", "test")
MAX_LENGTH = 256  # targets L: the search space is L!, and a profile's validation grows with L
MAX_SEQUENCE = 2048  # input + targets: one model position each
MAX_VOCAB = 65_536  # distinct token values: one embedding row each


def check_size(name: str, length: int, input_length: int, vocab_size: int) -> None:
    """Refuse sizes no model here can hold, in one line that says the limit."""
    if length > MAX_LENGTH:
        raise TaskConfigError(f"task {name} has L={length} targets, above orderopt's limit of {MAX_LENGTH}; "
                              "use fewer targets")
    if length + input_length > MAX_SEQUENCE:
        raise TaskConfigError(f"task {name} has sequences of {input_length} inputs + {length} targets, above "
                              f"orderopt's limit of {MAX_SEQUENCE} positions")
    if vocab_size > MAX_VOCAB:
        raise TaskConfigError(f"task {name} needs {vocab_size} distinct tokens, above orderopt's limit of "
                              f"{MAX_VOCAB}; map the values to a smaller range")


@dataclass(frozen=True)
class Splits:
    """Train / validation / test data; no validation or test input also occurs in train."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _row_keys(x: np.ndarray) -> np.ndarray:
    """One hashable key per row (the row's bytes), for set membership."""
    x = np.ascontiguousarray(x, dtype=np.int64)
    return x.view(np.dtype((np.void, x.dtype.itemsize * x.shape[1]))).ravel()


class Task(ABC):
    """A sequential computation: input tokens -> intermediate states ``y_0..y_{L-1}``.

    Subclasses set ``name``, ``length`` (L), ``input_length``, ``vocab_size``, ``formula`` and
    implement :meth:`generate`. Everything is deterministic given a seed.
    """

    name: str
    length: int
    input_length: int
    vocab_size: int
    formula: str = ""
    offset: int = 0

    @abstractmethod
    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` samples ``(x, y)`` as int64 token ids, ``y`` in canonical order."""

    def generate_train(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` training samples. The same distribution as :meth:`generate` unless a task
        trains better on another one (``prod``: operands with zeroed digits); validation and test
        always come from :meth:`generate`, so scores and success measure the task itself."""
        return self.generate(n, rng)

    def generate_profile(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` rows for loss profiling (its training and validation rows). The same
        distribution as :meth:`generate` unless a task's early losses tell orders apart only on
        another one (``prod``: operands with zeroed digits, where a partly learned middle digit
        already scores better than chance)."""
        return self.generate(n, rng)

    # ------------------------------------------------------------------ data
    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples, the same for the same seed."""
        x, y = self.generate(int(n), np.random.default_rng(seed))
        return self._check(x, y, n)

    def splits(self, n_train: int, n_val: int, n_test: int, seed: int = 0, *, profiling: bool = False) -> Splits:
        """Disjoint splits: each split has its own seed stream; validation/test rows whose input
        also occurs in train (or test rows also in validation) are redrawn. Training rows come
        from :meth:`generate_train`; for loss profiling (``profiling=True``) training and
        validation rows come from :meth:`generate_profile`: a training distribution that helps a
        full training can blur the early loss differences a profile ranks by, and one that shows
        partial progress can sharpen them (``prod`` L = 6, lsd-first among 1 + 127 random orders:
        3rd, 48th and 74th when profiles trained on the full training's mix and validated on
        uniform operands; 1st, 65th and 4th on uniform operands throughout; 1st, 1st and 2nd on
        sparse operands throughout). Test rows always come from :meth:`generate`."""
        streams = np.random.SeedSequence([int(seed), 0x0DE7]).spawn(3)
        train_draw, val_draw = (self.generate_profile,) * 2 if profiling else (self.generate_train, self.generate)
        x_tr, y_tr = self._check(*train_draw(n_train, np.random.default_rng(streams[0])), n_train)
        taken = set(_row_keys(x_tr).tolist())
        held: list[tuple[np.ndarray, np.ndarray]] = []
        for stream, n, source in zip(streams[1:], (n_val, n_test), (val_draw, self.generate)):
            held.append(self._draw_unseen(n, np.random.default_rng(stream), taken, source))
            taken.update(_row_keys(held[-1][0]).tolist())
        (x_va, y_va), (x_te, y_te) = held
        return Splits(x_tr, y_tr, x_va, y_va, x_te, y_te)

    def _draw_unseen(self, n: int, rng: np.random.Generator, taken: set,
                     source: Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys, have = [], [], 0
        for _ in range(50):
            if have >= n:
                break
            x, y = self._check(*source(max(n - have, 16) * 2, rng), None)
            keys = _row_keys(x)
            keep = np.array([k not in taken for k in keys.tolist()], dtype=bool)
            # also drop duplicates inside the new draw
            _, first = np.unique(keys, return_index=True)
            uniq = np.zeros(len(keys), bool)
            uniq[first] = True
            keep &= uniq
            x, y = x[keep][: n - have], y[keep][: n - have]
            taken.update(_row_keys(x).tolist())
            xs.append(x)
            ys.append(y)
            have += len(x)
        if have < n:
            raise TaskConfigError(
                f"task {self.name} (L={self.length}) has too few distinct inputs for "
                f"{n} held-out samples; use a larger length or fewer samples"
            )
        return np.concatenate(xs), np.concatenate(ys)

    def _check(self, x: Any, y: Any, n: int | None) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.int64)
        y = np.asarray(y, dtype=np.int64)
        if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
            raise TaskConfigError(
                f"task {self.name} produced x{x.shape}, y{y.shape}; expected 2-D arrays with the same number of rows"
            )
        if y.shape[1] != self.length or x.shape[1] != self.input_length:
            raise TaskConfigError(
                f"task {self.name} produced rows of length {x.shape[1]}/{y.shape[1]}; "
                f"expected input {self.input_length} and target {self.length}"
            )
        if n is not None and x.shape[0] != n:
            raise TaskConfigError(f"task {self.name} produced {x.shape[0]} samples, asked for {n}")
        for arr, what in ((x, "input"), (y, "target")):
            if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
                raise TaskConfigError(
                    f"task {self.name} produced {what} token {int(arr.min() if arr.min() < 0 else arr.max())} "
                    f"outside 0..{self.vocab_size - 1}"
                )
        return x, y

    def values(self, tokens: np.ndarray) -> np.ndarray:
        """Token ids back to the task's own values (e.g. ``-9..9``)."""
        return np.asarray(tokens) - self.offset

    # ---------------------------------------------------------------- orders
    def known_orders(self) -> dict[str, Order]:
        """Named orders of this task; ``forward`` is the canonical order."""
        return {"forward": identity(self.length), "reverse": reverse(self.length)}

    def parse_order(self, text: str) -> Order:
        """Parse a list (``"3,1,0,2"``), ``random:SEED`` or one of :meth:`known_orders`."""
        return parse_order(text, self.length, self.known_orders())

    # ------------------------------------------------------------ identity
    def spec(self) -> dict[str, Any]:
        """JSON-able description from which :func:`orderopt.tasks.make_task` rebuilds the task."""
        return {"name": self.name, "length": self.length, **self.options()}

    def options(self) -> dict[str, Any]:
        """Task-specific options (besides name and length) needed to rebuild it."""
        return {}

    def describe(self) -> str:
        """One line naming the task and its options, for logs and tables."""
        return f"{self.name} (L={self.length}, input {self.input_length}, vocab {self.vocab_size})"

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}(length={self.length}{', ' + opts if opts else ''})"
