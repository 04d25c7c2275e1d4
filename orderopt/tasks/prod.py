"""PROD task (paper, section 5): the digits of a product of two integers."""

from __future__ import annotations

from typing import Any

import numpy as np

from orderopt.errors import TaskConfigError
from orderopt.orders import Order, identity, reverse
from orderopt.tasks.base import Task

__all__ = ["ProdTask", "SPARSE_DIGIT_ZERO", "DEFAULT_SPARSE_OPERANDS", "DEFAULT_SPARSE_PROFILES"]

# In a sparse training row every operand digit is 0 with this probability: zeroed digits give
# partial products the model can learn first, and 0.3 trained best among the rates tried
# (benchmarks/results/orders/training_recipe.md).
SPARSE_DIGIT_ZERO = 0.3
DEFAULT_SPARSE_OPERANDS = 0.5  # share of training rows drawn sparse
# Share of loss-profiling rows (training and validation) drawn sparse: on sparse rows a partly
# learned middle digit already lowers the loss, so profiles rank lsd-first first more often than
# on uniform rows (benchmarks/results/profiling/profile_prod_uniform.md, profile_prod_sparse_profiles.md).
DEFAULT_SPARSE_PROFILES = 1.0


class ProdTask(Task):
    """Input: two zero-padded ``n``-digit numbers ``a, b``, most-significant digit first
    (``2n`` tokens). Targets: the ``L = 2n`` digits of ``a*b``, zero-padded, canonical order
    least-significant digit first, so ``forward`` follows the carries and ``msd-first`` fights them.

    Full-training rows: a share ``sparse_operands`` of them has operands whose digits are zeroed
    at random (each with probability ``sparse_zero``, default ``SPARSE_DIGIT_ZERO``); the rest and
    all validation and test rows are uniform. A middle digit of a product is a sum of several
    digit products mod 10: a model that has learned some of them still predicts it at chance, so
    uniform rows give no partial credit and training sits on a plateau; rows where the other
    products vanish give it.
    With sparse rows the ``cpu`` model learns 3- and 4-digit products in lsd-first order, which it
    does not on uniform rows (``benchmarks/results/orders/training_recipe.md``). For the same reason loss profiles train and validate on a share ``sparse_profiles`` of sparse
    rows (default all): there the early losses show which order helps the carries."""

    name = "prod"

    def __init__(self, length: int = 8, sparse_operands: float = DEFAULT_SPARSE_OPERANDS,
                 sparse_profiles: float = DEFAULT_SPARSE_PROFILES, sparse_zero: float = SPARSE_DIGIT_ZERO) -> None:
        length = int(length)
        if length < 2 or length % 2:
            raise TaskConfigError(f"prod needs an even length L = 2n (n digits per operand), got {length}")
        sparse_operands, sparse_profiles, sparse_zero = float(sparse_operands), float(sparse_profiles), float(sparse_zero)
        if not 0.0 <= sparse_operands <= 1.0:
            raise TaskConfigError(f"prod's sparse_operands is a share of training rows in 0..1, got {sparse_operands}")
        if not 0.0 <= sparse_profiles <= 1.0:
            raise TaskConfigError(f"prod's sparse_profiles is a share of loss-profiling rows in 0..1, got {sparse_profiles}")
        if not 0.0 <= sparse_zero < 1.0:
            raise TaskConfigError(f"prod's sparse_zero is the chance a sparse row's digit is 0, in 0..1 (1 excluded), got {sparse_zero}")
        self.sparse_operands, self.sparse_profiles, self.sparse_zero = sparse_operands, sparse_profiles, sparse_zero
        self.length = self.input_length = length
        self.digits = length // 2
        self.vocab_size = 10
        self.formula = (
            f"a, b uniform {self.digits}-digit (zero-padded, msd first); y = digits of a*b, lsd first"
            + (f"; full training: {self.sparse_operands:g} of rows with digits zeroed at rate {self.sparse_zero:g}"
               if self.sparse_operands else "")
            + ("; loss profiles: " + ("all" if self.sparse_profiles == 1.0 else f"{self.sparse_profiles:g} of")
               + " rows sparse" if self.sparse_profiles else "")
        )

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        d = self.digits
        a = rng.integers(0, 10**d, size=n, dtype=np.int64)
        b = rng.integers(0, 10**d, size=n, dtype=np.int64)
        return self.encode(a, b)

    def generate_train(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self._draw(n, rng, self.sparse_operands)

    def generate_profile(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self._draw(n, rng, self.sparse_profiles)

    def _draw(self, n: int, rng: np.random.Generator, sparse_share: float) -> tuple[np.ndarray, np.ndarray]:
        """``n`` rows, a share ``sparse_share`` of them with operand digits zeroed at random."""
        if sparse_share == 0.0:
            return self.generate(n, rng)
        d = self.digits
        digits = rng.integers(0, 10, size=(2, n, d), dtype=np.int64)  # least significant first
        sparse_rows = rng.random(n) < sparse_share
        digits[(rng.random((2, n, d)) < self.sparse_zero) & sparse_rows[None, :, None]] = 0
        a, b = (digits * 10 ** np.arange(d, dtype=np.int64)).sum(axis=-1)
        return self.encode(a, b)

    def options(self) -> dict[str, Any]:
        # left out at its default, so specs stored before the option existed name the same task
        out = {}
        if self.sparse_operands != DEFAULT_SPARSE_OPERANDS:
            out["sparse_operands"] = self.sparse_operands
        if self.sparse_profiles != DEFAULT_SPARSE_PROFILES:
            out["sparse_profiles"] = self.sparse_profiles
        if self.sparse_zero != SPARSE_DIGIT_ZERO:
            out["sparse_zero"] = self.sparse_zero
        return out

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
