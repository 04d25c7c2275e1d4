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

__all__ = ["Task", "Splits", "SPLIT_NAMES", "MAX_HELD_OUT", "MAX_LENGTH", "MAX_SEQUENCE", "MAX_VOCAB", "check_size"]

SPLIT_NAMES = ("train", "validation", "test")
MAX_LENGTH = 256  # targets L: the search space is L!, and a profile's validation grows with L
MAX_SEQUENCE = 2048  # input + targets: one model position each
MAX_VOCAB = 65_536  # distinct token values: one embedding row each
MAX_HELD_OUT = 10_000  # rows of a dataset's validation (and test) part at most: more only slows scoring


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
    """Train / validation / test data; no validation or test input also occurs in train.

    ``wanted`` is what the caller asked for (train, validation, test rows); a task with a fixed
    set of rows (a dataset file) may have fewer, and ``available`` then says how many it has."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    wanted: tuple[int, int, int] | None = None
    available: int | None = None  # rows of the dataset behind these splits (None: generated on demand)

    @property
    def sizes(self) -> tuple[int, int, int]:
        """Rows in (train, validation, test)."""
        return len(self.x_train), len(self.x_val), len(self.x_test)

    def short(self) -> bool:
        """True when some split holds fewer rows than were asked for."""
        return self.wanted is not None and any(have < want for have, want in zip(self.sizes, self.wanted))

    def shortfall_note(self, name: str, *, steps: int | None = None, batch_size: int | None = None,
                       has: str = "has {n:,} rows", remedy: str = "More rows: write a larger file.") -> str | None:
        """One paragraph when a dataset has fewer rows than asked for: how many it has, how many
        each split uses, and what that means for the numbers (``None`` when nothing is short).
        ``has`` and ``remedy`` word it for the source of the rows (a file, a generator)."""
        if not self.short() or self.wanted is None:
            return None
        (tr, va, te), (want_tr, want_va, want_te) = self.sizes, self.wanted
        parts = [f"{name} {has.format(n=self.available or tr + va + te)}, split once by input into {tr:,} training, "
                 f"{va:,} validation and {te:,} test rows (asked for {want_tr:,} / {want_va:,} / {want_te:,})."]
        if tr < want_tr and steps and batch_size:
            parts.append(f"Training sees each training row about {steps * batch_size / max(tr, 1):.0f} times, so a "
                         "model can memorise rows instead of learning the rule: low test success then says the data "
                         "are too few, not that the order is unfriendly.")
        if te < want_te:
            half = 100 * 1.96 * (0.25 / max(te, 1)) ** 0.5
            parts.append(f"Success is measured on {te:,} test rows (within about +-{half:.0f} points at 95%).")
        if va < want_va:
            parts.append(f"Validation losses average {va:,} rows.")
        parts.append(remedy)
        return " ".join(parts)


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
    token_hint: str = ""  # how to fix a token outside 0..vocab_size-1, for the error that reports one

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

    def portable(self) -> bool:
        """Whether another Python process can rebuild this task from its pickle (a generator
        defined in a notebook or as a lambda cannot): training pools run it in-process if not."""
        return True

    def rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The task's fixed rows ``(x, y)`` when it is a dataset (a file) rather than a
        generator; ``None`` (the default) for a task that draws new rows on demand."""
        return None

    def splits(self, n_train: int, n_val: int, n_test: int, seed: int = 0, *, profiling: bool = False) -> Splits:
        """Disjoint train / validation / test rows.

        A generator task draws each split from its own seed stream and redraws validation/test
        rows whose input also occurs in train (or test rows also in validation). Training rows
        come from :meth:`generate_train`; for loss profiling (``profiling=True``) training and
        validation rows come from :meth:`generate_profile` (a training distribution that helps a
        full training can blur the early loss differences a profile ranks by). Test rows always
        come from :meth:`generate`.

        A dataset task (:meth:`rows` is not ``None``) is partitioned once, by input, into fixed
        training / validation / test parts (:meth:`partition`): every command and seed sees the
        same held-out rows, profiles draw from the training and validation parts, and ``seed``
        only chooses which training rows are used when there are more than asked for."""
        wanted = (int(n_train), int(n_val), int(n_test))
        if self.rows() is not None:
            return self._dataset_splits(wanted, seed)
        streams = np.random.SeedSequence([int(seed), 0x0DE7]).spawn(3)
        train_draw, val_draw = (self.generate_profile,) * 2 if profiling else (self.generate_train, self.generate)
        x_tr, y_tr = self._check(*train_draw(n_train, np.random.default_rng(streams[0])), n_train)
        taken = set(_row_keys(x_tr).tolist())
        held: list[tuple[np.ndarray, np.ndarray]] = []
        for stream, n, source in zip(streams[1:], (n_val, n_test), (val_draw, self.generate)):
            held.append(self._draw_unseen(n, np.random.default_rng(stream), taken, source))
            taken.update(_row_keys(held[-1][0]).tolist())
        (x_va, y_va), (x_te, y_te) = held
        return Splits(x_tr, y_tr, x_va, y_va, x_te, y_te, wanted=wanted)

    def partition(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row indices of a dataset task's fixed (train, validation, test) parts.

        Rows are grouped by input, so no input is in two parts; each held-out part takes 10% of
        the distinct inputs (at least 1, at most :data:`MAX_HELD_OUT`), the training part the
        rest. The split is seeded by a constant: one partition per file."""
        cached = getattr(self, "_partition_cache", None)
        if cached is not None:
            return cached
        x, _ = self._fixed_rows()
        _, group = np.unique(_row_keys(x), return_inverse=True)
        n_groups = int(group.max()) + 1 if len(group) else 0
        if n_groups < 3:
            raise TaskConfigError(f"task {self.name} has {n_groups} distinct input(s); a train/validation/test split "
                                  "needs at least 3")
        held = min(max(1, n_groups // 10), MAX_HELD_OUT)
        role = np.zeros(n_groups, dtype=np.int64)
        perm = np.random.default_rng(0x5B117).permutation(n_groups)
        role[perm[:held]], role[perm[held:2 * held]] = 1, 2
        row_role = role[group]
        order = np.random.default_rng(0x5B118).permutation(len(x))  # a fixed shuffle inside each part
        parts = tuple(order[row_role[order] == r] for r in (0, 1, 2))
        self._partition_cache = parts
        return parts

    def data_note(self, n_train: int, n_val: int, n_test: int, *, steps: int | None = None,
                  batch_size: int | None = None) -> str | None:
        """For a dataset task with fewer rows than asked for, what that means (see
        :meth:`Splits.shortfall_note`); ``None`` for a generator or a dataset with enough rows."""
        if self.rows() is None:
            return None
        return self.splits(n_train, n_val, n_test).shortfall_note(self.name, steps=steps, batch_size=batch_size,
                                                                  **self.rows_wording())

    def rows_wording(self) -> dict[str, str]:
        """How :meth:`data_note` words this task's fixed rows (see :meth:`Splits.shortfall_note`)."""
        return {}

    def _draw_seen(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` of a dataset task's rows drawn with replacement from its training and validation
        parts: what reads "the task's data" (the dependency probe, the learnability check) never
        sees a test row."""
        train, val, _ = self.partition()
        seen = np.concatenate([train, val])
        x, y = self._fixed_rows()
        rows = seen[rng.integers(0, len(seen), size=n)]
        return x[rows], y[rows]

    def _fixed_rows(self) -> tuple[np.ndarray, np.ndarray]:
        rows = self.rows()
        if rows is None:
            raise TaskConfigError(f"task {self.name} generates its rows; it has no fixed partition")
        return rows

    def _dataset_splits(self, wanted: tuple[int, int, int], seed: int) -> Splits:
        x, y = self._fixed_rows()
        train, val, test = self.partition()
        if len(train) > wanted[0]:  # more training rows than asked: the seed picks which
            train = np.sort(np.random.default_rng([int(seed), 0x0DE7]).choice(train, wanted[0], replace=False))
        val, test = val[:wanted[1]], test[:wanted[2]]
        return Splits(x[train], y[train], x[val], y[val], x[test], y[test], wanted=wanted, available=len(x))

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
                    f"outside 0..{self.vocab_size - 1}{self.token_hint}"
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
