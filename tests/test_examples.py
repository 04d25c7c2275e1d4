"""The example user tasks in examples/: their data, named orders and files load as the README says."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from orderopt.tasks import from_file, resolve_task

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_recurrence4_states_need_four_tokens():
    rec = load("recurrence4")
    x, y = rec.generate(500, np.random.default_rng(0))
    assert x.shape == y.shape == (500, 10) and y.max() <= 9
    assert np.array_equal(y[:, 3], ((x[:, 3] + y[:, 2] + y[:, 1] + y[:, 0]) // 2) % 10)
    task = resolve_task(f"{EXAMPLES / 'recurrence4.py'}:generate")
    assert task.name == "recurrence4" and task.parse_order("friendly") == tuple(range(10))
    assert task.parse_order("unfriendly") == tuple(range(9, -1, -1))


def test_expression_tree_file_and_friendly_order(tmp_path):
    tree = load("expression_tree")
    x, y = tree.generate(300, np.random.default_rng(1))
    nodes = tree.nodes(x)
    assert np.array_equal(y, nodes[:, tree.NODE_OF_TARGET]) and np.array_equal(nodes[:, 0], (x[:, 0] + x[:, 1]) // 2)
    assert np.array_equal(nodes[:, 14], (nodes[:, 12] + nodes[:, 13]) // 2)  # the root, from its two children
    # friendly: every node after both of its children (nodes k < 8 join leaves; node 8 + i joins nodes 2i, 2i + 1, ...)
    position = {int(tree.NODE_OF_TARGET[j]): t for t, j in enumerate(tree.FRIENDLY)}
    children = {8 + i: (2 * i, 2 * i + 1) for i in range(4)} | {12: (8, 9), 13: (10, 11), 14: (12, 13)}
    assert all(position[c] < position[k] for k, pair in children.items() for c in pair)
    path = tree.write(tmp_path / "tree.jsonl", rows=400)
    task = from_file(path)
    assert (task.length, task.input_length) == (15, 16)
    assert task.parse_order("friendly") == tuple(tree.FRIENDLY)


def test_grid_recurrence_cells_and_friendly_order(tmp_path):
    grid = load("grid_recurrence")
    x, y = grid.generate(200, np.random.default_rng(2))
    cells = np.empty_like(y)
    cells[:, grid.CELL_OF_TARGET] = y  # back to row-major cells
    t = cells.reshape(-1, 4, 4)
    assert np.array_equal(t[:, 0, 0], (x[:, 0] // 2) % 10)
    assert np.array_equal(t[:, 2, 3], ((t[:, 1, 3] + t[:, 2, 2] + x[:, 11]) // 2) % 10)
    position = {int(grid.CELL_OF_TARGET[k]): step for step, k in enumerate(grid.FRIENDLY)}
    for i in range(4):
        for j in range(4):
            before = [4 * p + q for p, q in ((i - 1, j), (i, j - 1)) if p >= 0 and q >= 0]
            assert all(position[c] < position[4 * i + j] for c in before)
    task = from_file(grid.write(tmp_path / "grid.npz", rows=500))
    assert (task.length, task.input_length) == (16, 16) and task.parse_order("friendly") == tuple(grid.FRIENDLY)
