"""PROD task (paper, section 5): the digits of a product of two integers."""

from __future__ import annotations

import numpy as np

from orderopt.errors import TaskConfigError
from orderopt.orders import Order, identity, reverse
from orderopt.tasks.base import Task

__all__ = ["ProdTask"]


class ProdTask(Task):
    """Input: two zero-padded ``n``-digit numbers ``a, b``, most-significant digit first
    (``2n`` tokens). Targets: the ``L = 2n`` digits of ``a*b``, zero-padded, canonical order
    least-significant digit first, so ``forward`` follows the carries and ``msd-first`` fights them."""

    name = "prod"

    def __init__(self, length: int = 8) -> None:
        length = int(length)
        if length < 2 or length % 2:
            raise TaskConfigError(f"prod needs an even length L = 2n (n digits per operand), got {length}")
        self.length = self.input_length = length
        self.digits = length // 2
        self.vocab_size = 10
        self.formula = (
            f"a, b uniform {self.digits}-digit (zero-padded, msd first); y = digits of a*b, lsd first"
        )

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        d = self.digits
        a = rng.integers(0, 10**d, size=n, dtype=np.int64)
        b = rng.integers(0, 10**d, size=n, dtype=np.int64)
        return self.encode(a, b)

    def encode(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Samples ``(x, y)`` for operand arrays ``a, b`` (each below ``10**digits``): for drawing
        operands from another distribution, e.g. a curriculum over digit counts."""
        d = self.digits
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        powers_msd = 10 ** np.arange(d - 1, -1, -1, dtype=np.int64)
        x = np.concatenate([(a[:, None] // powers_msd) % 10, (b[:, None] // powers_msd) % 10], axis=1)
        prod = a * b  # < 10**(2d) fits int64 for d <= 9
        y = (prod[:, None] // 10 ** np.arange(2 * d, dtype=np.int64)) % 10
        return x, y

    def known_orders(self) -> dict[str, Order]:
        return {"forward": identity(self.length), "lsd-first": identity(self.length),
                "msd-first": reverse(self.length), "reverse": reverse(self.length)}
