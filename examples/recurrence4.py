"""A recurrence in which every state depends on four earlier tokens: a generator task.

    y_i = ((x_i + y_{i-1} + y_{i-2} + y_{i-3}) // 2) mod 10,   y_{-1} = y_{-2} = y_{-3} = 0,

with ``x_i`` uniform digits, ``L = 10``. Each state needs its input digit and the three states
before it, four tokens in all, so orderopt's dependency probe (which tries sets of at most three)
cannot read the structure from the data; loss profiling has to find it. The halving keeps the
target informative before all four tokens are known (a plain sum mod 10 of four uniform digits
would tell nothing until the last one is seen, and did not learn in any order; see the README).

Friendly order: ``forward`` (each state after the three it reads); ``unfriendly`` is its reverse,
which must emit ``y_9`` first, a function of all ten inputs.

Use it by import path (run from the repository root):

    orderopt train --task examples/recurrence4.py:generate --order friendly --order unfriendly
    orderopt search --task examples/recurrence4.py:generate --scramble 1 --verify
"""

from __future__ import annotations

import numpy as np

LENGTH = 10
FRIENDLY = list(range(LENGTH))


def generate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows: ten input digits and the ten states, in their natural order."""
    x = rng.integers(0, 10, size=(n, LENGTH))
    y = np.zeros((n, LENGTH), dtype=np.int64)
    for i in range(LENGTH):
        earlier = sum(y[:, i - k] for k in (1, 2, 3) if i - k >= 0)
        y[:, i] = ((x[:, i] + earlier) // 2) % 10
    return x, y


generate.orders = {"friendly": FRIENDLY, "unfriendly": FRIENDLY[::-1]}  # named orders for --order
