"""A dynamic-programming table: the longest common subsequence of two strings, as an .npz file.

Two strings ``a`` and ``b`` of four letters from a five-letter alphabet; the targets are the 16
cells ``T[i][j]`` of the LCS table (the length of the longest common subsequence of ``a[:i+1]``
and ``b[:j+1]``), stored in a shuffled numbering: target ``k`` is cell ``CELL_OF_TARGET[k]``
(row-major index ``4 i + j``).

    T[i][j] = T[i-1][j-1] + 1          if a[i] == b[j]
            = max(T[i-1][j], T[i][j-1]) otherwise          (cells outside the table are 0)

Friendly orders: any order that emits every cell after its upper, left and diagonal neighbours,
such as row by row (``friendly``); each cell is then a function of three cells already seen and
two letters. Its reverse (``unfriendly``) must emit ``T[3][3]``, the whole problem's answer,
first. Each cell depends on five tokens, more than the dependency probe's three, so loss
profiling has to find the order. Dynamic programming is a standard probe of what transformers
compose (e.g. Dziri et al., "Faith and Fate", NeurIPS 2023).

Write the file (120,000 rows) and use it:

    python examples/lcs_table.py examples/data/lcs.npz
    orderopt train --task examples/data/lcs.npz --order friendly --order unfriendly
    orderopt search --task examples/data/lcs.npz --verify
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SIZE, ALPHABET = 4, 5
DATA_FILE = "examples/data/lcs.npz"  # where the README's commands expect the file
CELL_OF_TARGET = np.random.default_rng(11).permutation(SIZE * SIZE)  # target k holds cell CELL_OF_TARGET[k]
FRIENDLY = [int(k) for k in np.argsort(CELL_OF_TARGET)]  # the cells row by row, as target indices


def table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The LCS table of each row's strings, cells row-major ``(n, SIZE * SIZE)``."""
    n = len(a)
    t = np.zeros((n, SIZE + 1, SIZE + 1), dtype=np.int64)
    for i in range(1, SIZE + 1):
        for j in range(1, SIZE + 1):
            match = a[:, i - 1] == b[:, j - 1]
            t[:, i, j] = np.where(match, t[:, i - 1, j - 1] + 1, np.maximum(t[:, i - 1, j], t[:, i, j - 1]))
    return t[:, 1:, 1:].reshape(n, SIZE * SIZE)


def generate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows: the two strings (8 letters) and the 16 table cells in the shuffled numbering."""
    a, b = rng.integers(0, ALPHABET, size=(2, n, SIZE))
    return np.concatenate([a, b], axis=1), table(a, b)[:, CELL_OF_TARGET]


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
