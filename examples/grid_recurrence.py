"""A two-dimensional recurrence, as dynamic-programming tables are filled: a dataset file (.npz).

A 4 x 4 grid of input digits ``x[i][j]``; each target is a cell of the table

    T[i][j] = ((T[i-1][j] + T[i][j-1] + x[i][j]) // 2) mod 10      (cells outside the table are 0)

stored in a shuffled numbering: target ``k`` is cell ``CELL_OF_TARGET[k]`` (row-major ``4 i + j``),
and the inputs are the grid row by row.

Friendly orders: any order that emits every cell after the cell above it and the cell to its
left, such as row by row (``friendly``); each cell is then a function of two cells already seen
and its own digit. Its reverse (``unfriendly``) must emit ``T[3][3]`` first, which folds all
sixteen digits through seven halvings and wraps. The table is how dynamic programming is filled
(Dziri et al., "Faith and Fate", NeurIPS 2023, use such tables to probe what transformers
compose); unlike a longest-common-subsequence table (tried first, see the README), every cell
here has a digit of its own, so the last cell is no short function of the inputs.

Write the file (120,000 rows) and use it:

    python examples/grid_recurrence.py examples/data/grid.npz
    orderopt train --task examples/data/grid.npz --order friendly --order unfriendly
    orderopt search --task examples/data/grid.npz --verify
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SIZE = 4
DATA_FILE = "examples/data/grid.npz"  # where the README's commands expect the file
CELL_OF_TARGET = np.random.default_rng(11).permutation(SIZE * SIZE)  # target k holds cell CELL_OF_TARGET[k]
FRIENDLY = [int(k) for k in np.argsort(CELL_OF_TARGET)]  # the cells row by row, as target indices


def table(x: np.ndarray) -> np.ndarray:
    """The table of each row of digits (``(n, SIZE * SIZE)``, row-major), cells row-major."""
    n = len(x)
    grid = x.reshape(n, SIZE, SIZE)
    t = np.zeros((n, SIZE + 1, SIZE + 1), dtype=np.int64)
    for i in range(1, SIZE + 1):
        for j in range(1, SIZE + 1):
            t[:, i, j] = ((t[:, i - 1, j] + t[:, i, j - 1] + grid[:, i - 1, j - 1]) // 2) % 10
    return t[:, 1:, 1:].reshape(n, SIZE * SIZE)


def generate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows: the sixteen digits and the sixteen cells in the shuffled numbering."""
    x = rng.integers(0, 10, size=(n, SIZE * SIZE))
    return x, table(x)[:, CELL_OF_TARGET]


generate.orders = {"friendly": FRIENDLY, "unfriendly": FRIENDLY[::-1]}


def write(path: str | Path, rows: int = 120_000, seed: int = 0) -> Path:
    """The dataset as .npz: arrays x, y and the named orders (order_friendly, order_unfriendly)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x, y = generate(rows, np.random.default_rng(seed))
    np.savez_compressed(path, x=x.astype(np.int8), y=y.astype(np.int8),
                        **{f"order_{name}": np.array(order) for name, order in generate.orders.items()})
    return path


if __name__ == "__main__":
    out = write(sys.argv[1] if len(sys.argv) > 1 else DATA_FILE, int(sys.argv[2]) if len(sys.argv) > 2 else 120_000)
    print(f"wrote {out}")
