"""The sampler folder is an OptunaHub package: self-contained, documented, with a runnable example."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

import orderopt.samplers

PACKAGE = Path(orderopt.samplers.__file__).resolve().parent
BLOCK_ORDEROPT = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "orderopt" or name.startswith("orderopt."):
            raise ImportError("the hub package must not import " + name)
sys.meta_path.insert(0, Block())
"""


def test_example_runs_from_its_own_folder_without_orderopt(tmp_path):
    folder = tmp_path / "hierarchical_permutation"
    shutil.copytree(PACKAGE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    code = BLOCK_ORDEROPT + "import runpy; sys.argv = ['example.py', '150']; runpy.run_path('example.py', run_name='__main__')"
    out = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "nug12: best cost" in out.stdout and "after 150 trials" in out.stdout


def test_example_data_is_nug12():
    sys.path.insert(0, str(PACKAGE))
    try:
        import example
    finally:
        sys.path.remove(str(PACKAGE))
    values = np.array(example.NUG12.split(), dtype=np.int64)
    a, b = values[:144].reshape(12, 12), values[144:].reshape(12, 12)
    p = np.array([12, 7, 9, 3, 4, 8, 11, 1, 5, 6, 10, 2]) - 1  # QAPLIB's nug12.sln
    assert (a * b[np.ix_(p, p)]).sum() == example.OPTIMUM == 578


def test_registry_files_and_front_matter():
    assert {"__init__.py", "README.md", "LICENSE", "example.py", "requirements.txt"} <= {
        p.name for p in PACKAGE.iterdir()}
    text = (PACKAGE / "README.md").read_text()
    front = text.split("---")[1]
    keys = {line.split(":", 1)[0] for line in front.strip().splitlines()}
    assert keys == {"author", "title", "description", "tags", "optuna_versions", "license"}
    assert "sampler" in front.split("tags:")[1].splitlines()[0]
    assert "MIT" in (PACKAGE / "LICENSE").read_text()


def test_orderopt_uses_the_same_code():
    import orderopt.errors
    import orderopt.orders
    from orderopt.samplers import _errors, _orders

    assert orderopt.orders.validate_order is _orders.validate_order
    assert orderopt.errors.InvalidOrderError is _errors.InvalidOrderError
