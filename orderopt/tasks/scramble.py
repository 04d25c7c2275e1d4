"""Scrambled tasks: the canonical target indices relabelled by a seeded random permutation.

A search that starts from structured orders (forward, reverse, their blocks) or is judged by how
close it gets to ``forward`` is helped by the task's canonical order. Scrambling takes that hint
away: the scrambled task stores ``y'_j = y_{sigma[j]}`` for a random permutation ``sigma`` drawn
from the scramble seed, so its canonical order is arbitrary, while its data and its learnable
structure are those of the original task. The original task's friendly order maps to the
scrambled order ``friendly = sigma^-1[forward]``: it produces, token for token, the same
sequences as ``forward`` on the original task. Testing a search on scrambled tasks is the honest
way to see whether it finds an order nobody told it about.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from orderopt.errors import InvalidOrderError, TaskConfigError
from orderopt.orders import Order, compose, invert, parse_order, random_order
from orderopt.tasks.base import Task

__all__ = ["ScrambledTask", "scrambled"]


class ScrambledTask(Task):
    """``base`` with its targets relabelled: ``y'[:, j] = y[:, relabel[j]]``."""

    def __init__(self, base: Task, seed: int) -> None:
        if isinstance(base, ScrambledTask):
            raise TaskConfigError("this task is scrambled already; scramble the original task once")
        self.base, self.scramble_seed = base, int(seed)
        self.relabel: Order = random_order(base.length, self.scramble_seed)
        self._to_scrambled = invert(self.relabel)  # original index i -> scrambled index
        self.name = f"{base.name}-scrambled{self.scramble_seed}"
        self.length, self.input_length = base.length, base.input_length
        self.vocab_size, self.offset, self.token_hint = base.vocab_size, base.offset, base.token_hint
        self.formula = f"{base.formula} [targets relabelled by scramble seed {self.scramble_seed}]"

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self._relabelled(*self.base.generate(n, rng))

    def generate_train(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self._relabelled(*self.base.generate_train(n, rng))

    def generate_profile(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self._relabelled(*self.base.generate_profile(n, rng))

    def values(self, tokens: np.ndarray) -> np.ndarray:
        return self.base.values(tokens)

    def rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        rows = self.base.rows()
        return None if rows is None else self._relabelled(*rows)

    def portable(self) -> bool:
        return self.base.portable()

    def rows_wording(self) -> dict[str, str]:
        return self.base.rows_wording()

    def _relabelled(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x, np.asarray(y)[:, list(self.relabel)]

    # ---------------------------------------------------------------- orders
    def from_original(self, order: Order) -> Order:
        """The scrambled order that emits the same targets as ``order`` does on the original task."""
        return compose(self._to_scrambled, order)

    def known_orders(self) -> dict[str, Order]:
        """The original task's named orders, relabelled; ``friendly`` is the original's own
        ``friendly`` when it names one (a user's file or generator), else the relabelled forward."""
        out = {name: self.from_original(o) for name, o in self.base.known_orders().items()}
        out.setdefault("friendly", out["forward"])
        return out

    def parse_order(self, text: str) -> Order:
        """Lists and ``random:SEED`` are orders of the scrambled task itself; names (``forward``,
        ``friendly``, ``lsd-first``, ``topological:SEED``, ...) are the original task's, relabelled."""
        key = text.strip().lower()
        if not key or key[0].isdigit() or key[0] in "-[(" or key.startswith("random:"):
            return parse_order(text, self.length)
        if key == "friendly":
            return self.known_orders()["friendly"]
        try:
            return self.from_original(self.base.parse_order(text))
        except InvalidOrderError as exc:
            raise InvalidOrderError(f"{exc} (or 'friendly': the relabelled friendly order)") from None

    # ------------------------------------------------------------ identity
    def spec(self) -> dict[str, Any]:
        return {**self.base.spec(), "scramble": self.scramble_seed}

    def options(self) -> dict[str, Any]:
        return {**self.base.options(), "scramble": self.scramble_seed}

    def describe(self) -> str:
        return f"{self.base.describe()}, targets scrambled by seed {self.scramble_seed}"


def scrambled(task: Task, seed: int) -> ScrambledTask:
    """``task`` with its target indices relabelled by the permutation drawn from ``seed``."""
    return ScrambledTask(task, seed)
