"""Multi-digit addition with its digits at shuffled positions: a dataset file (.npz).

Two six-digit numbers ``a`` and ``b`` and their seven-digit sum ``s``. Half the work of addition
is the carry, so the operands are drawn to make carries travel: each digit of ``b`` is
``9 - a_i`` (which passes an incoming carry on) with probability 0.6, else uniform. The file
stores the twelve operand digits and the seven sum digits in shuffled positions, as a user's
data may: input ``k`` is operand digit ``INPUT_DIGITS[k]`` and target ``j`` is sum digit
``SUM_DIGIT_OF_TARGET[j]`` (0 = least significant).

Friendly order: least significant digit first (``lsd-first``): each sum digit needs its two
operand digits and the carry out of the digit before it, which that digit's own tokens give.
Most significant first (``msd-first``, its reverse) needs every carry before it is known, which
a long run of ``9 - a_i`` digits pushes across the whole number. A digit depends on five tokens
(its operands, and the previous digit with its operands, for the carry), more than the dependency
probe's three, so loss profiling has to find the order.

Write the file (120,000 rows) and use it:

    python examples/addition.py examples/data/addition.npz
    orderopt train --task examples/data/addition.npz --order lsd-first --order msd-first
    orderopt search --task examples/data/addition.npz --verify
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

DIGITS = 6
CARRY_SHARE = 0.6  # chance that b_i = 9 - a_i (a carry into digit i passes on)
_shuffle = np.random.default_rng(7)
INPUT_DIGITS = _shuffle.permutation(2 * DIGITS)  # input k holds digit INPUT_DIGITS[k] of (a lsd-first, then b)
SUM_DIGIT_OF_TARGET = _shuffle.permutation(DIGITS + 1)  # target j holds sum digit SUM_DIGIT_OF_TARGET[j]
LSD_FIRST = [int(j) for j in np.argsort(SUM_DIGIT_OF_TARGET)]  # target indices, least significant digit first


def generate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows: the shuffled operand digits and the shuffled sum digits."""
    a = rng.integers(0, 10, size=(n, DIGITS))
    b = np.where(rng.random((n, DIGITS)) < CARRY_SHARE, 9 - a, rng.integers(0, 10, size=(n, DIGITS)))
    s = np.zeros((n, DIGITS + 1), dtype=np.int64)
    carry = np.zeros(n, dtype=np.int64)
    for i in range(DIGITS):  # least significant digit first
        total = a[:, i] + b[:, i] + carry
        s[:, i], carry = total % 10, total // 10
    s[:, DIGITS] = carry
    return np.concatenate([a, b], axis=1)[:, INPUT_DIGITS], s[:, SUM_DIGIT_OF_TARGET]


generate.orders = {"lsd-first": LSD_FIRST, "msd-first": LSD_FIRST[::-1]}


def write(path: str | Path, rows: int = 120_000, seed: int = 0) -> Path:
    """The dataset as .npz: arrays x, y and the named orders (order_lsd-first, order_msd-first)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x, y = generate(rows, np.random.default_rng(seed))
    np.savez_compressed(path, x=x.astype(np.int8), y=y.astype(np.int8),
                        **{f"order_{name}": np.array(order) for name, order in generate.orders.items()})
    return path


if __name__ == "__main__":
    out = write(sys.argv[1] if len(sys.argv) > 1 else "examples/data/addition.npz",
                int(sys.argv[2]) if len(sys.argv) > 2 else 120_000)
    print(f"wrote {out}")
