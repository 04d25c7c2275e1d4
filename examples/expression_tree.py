"""Evaluating an expression tree bottom-up: a dataset file in JSON lines.

Sixteen digits ``x_0 .. x_15`` are the leaves of a balanced binary tree; each of its fifteen inner
nodes holds ``(left + right) // 2``, the rounded-down mean of its two children, up to the root.
The file stores the nodes in a shuffled numbering, as data often comes: target ``j`` is node
``NODE_OF_TARGET[j]``, so neither ``forward`` nor ``reverse`` means anything here.

Friendly orders: any order that emits every node after its two children, such as level by level
from the leaves up (``friendly``); each node is then a function of two tokens already seen. Its
reverse (``unfriendly``) must emit the root first: a nested rounding of sixteen digits, which the
model can approximate from the leaves (their mean) but not get exactly right every time.
Chain-of-thought work on arithmetic expressions (e.g. Feng et al., NeurIPS 2023) uses this kind of
task: the intermediate values are the computation's steps. (A sum mod 10 at every node, tried
first, learned in no order: a sum mod 10 tells nothing until both children are known.)

Every inner node is a function of two earlier tokens, so orderopt's dependency probe reads the
tree from the data and hands the search a friendly order: an example of a user task the probe
explains. Write the file (120,000 rows, ~14 MB) and use it:

    python examples/expression_tree.py examples/data/tree.jsonl
    orderopt train --task examples/data/tree.jsonl --order friendly --order unfriendly
    orderopt search --task examples/data/tree.jsonl --verify
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

LEAVES = 16
NODES = LEAVES - 1
# node k in level order from the leaves up: nodes 0-7 join leaf pairs, 8-11 join nodes 0-7, 12-13, then 14 (root)
DATA_FILE = "examples/data/tree.jsonl"  # where the README's commands expect the file
NODE_OF_TARGET = np.random.default_rng(2026).permutation(NODES)  # target j holds node NODE_OF_TARGET[j]
TARGET_OF_NODE = np.argsort(NODE_OF_TARGET)
FRIENDLY = [int(TARGET_OF_NODE[k]) for k in range(NODES)]  # nodes bottom-up, as target indices


def nodes(x: np.ndarray) -> np.ndarray:
    """The fifteen inner nodes of each row of leaves, bottom-up (level order): each the
    rounded-down mean of its two children."""
    level, out = x, []
    while level.shape[1] > 1:
        level = (level[:, 0::2] + level[:, 1::2]) // 2
        out.append(level)
    return np.concatenate(out, axis=1)


def generate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows: sixteen leaf digits and the fifteen nodes in the file's shuffled numbering."""
    x = rng.integers(0, 10, size=(n, LEAVES))
    return x, nodes(x)[:, NODE_OF_TARGET]


generate.orders = {"friendly": FRIENDLY, "unfriendly": FRIENDLY[::-1]}


def write(path: str | Path, rows: int = 120_000, seed: int = 0) -> Path:
    """The dataset as JSON lines: a header naming the orders, then one row per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x, y = generate(rows, np.random.default_rng(seed))
    with path.open("w") as f:
        f.write(json.dumps({"orders": generate.orders}) + "\n")
        for xi, yi in zip(x.tolist(), y.tolist()):
            f.write(json.dumps({"input": xi, "target": yi}) + "\n")
    return path


if __name__ == "__main__":
    out = write(sys.argv[1] if len(sys.argv) > 1 else "examples/data/tree.jsonl",
                int(sys.argv[2]) if len(sys.argv) > 2 else 120_000)
    print(f"wrote {out}")
