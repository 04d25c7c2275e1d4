"""HierarchicalOrderSampler on a QAPLIB instance (nug12, optimum 578).

Run from this folder: ``python example.py``. It loads this folder as a package the way
``optunahub.load_local_module`` does, so it needs only optuna and numpy; once published it is
``optunahub.load_module("samplers/hierarchical_permutation")``.

nug12 (Nugent, Vollmann and Ruml 1968) as distributed by QAPLIB (Burkard, Karisch, Rendl):
cost(p) = sum_ij A[i, j] * B[p[i], p[j]].
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import optuna

NUG12 = """
0 1 2 3 1 2 3 4 2 3 4 5  1 0 1 2 2 1 2 3 3 2 3 4  2 1 0 1 3 2 1 2 4 3 2 3  3 2 1 0 4 3 2 1 5 4 3 2
1 2 3 4 0 1 2 3 1 2 3 4  2 1 2 3 1 0 1 2 2 1 2 3  3 2 1 2 2 1 0 1 3 2 1 2  4 3 2 1 3 2 1 0 4 3 2 1
2 3 4 5 1 2 3 4 0 1 2 3  3 2 3 4 2 1 2 3 1 0 1 2  4 3 2 3 3 2 1 2 2 1 0 1  5 4 3 2 4 3 2 1 3 2 1 0
0 5 2 4 1 0 0 6 2 1 1 1  5 0 3 0 2 2 2 0 4 5 0 0  2 3 0 0 0 0 0 5 5 2 2 2  4 0 0 0 5 2 2 10 0 0 5 5
1 2 0 5 0 10 0 0 0 5 1 1  0 2 0 2 10 0 5 1 1 5 4 0  0 2 0 2 0 5 0 10 5 2 3 3  6 0 5 10 0 1 10 0 0 0 5 0
2 4 5 0 0 1 5 0 0 0 10 10  1 5 2 0 5 5 2 0 0 0 5 0  1 0 2 5 1 4 3 5 10 5 0 2  1 0 2 5 1 0 3 0 10 0 2 0
"""
OPTIMUM = 578


def load_package():
    here = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location("hierarchical_permutation", here / "__init__.py",
                                                  submodule_search_locations=[str(here)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(n_trials: int = 1000) -> float:
    hub = load_package()
    values = np.array(NUG12.split(), dtype=np.int64)
    a, b = values[:144].reshape(12, 12), values[144:].reshape(12, 12)

    def objective(trial: optuna.Trial) -> float:
        p = np.asarray(hub.suggest_order(trial, 12))
        return float((a * b[np.ix_(p, p)]).sum())

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=hub.HierarchicalOrderSampler(seed=0))
    study.optimize(objective, n_trials=n_trials)
    gap = 100 * (study.best_value - OPTIMUM) / OPTIMUM
    print(f"nug12: best cost {study.best_value:.0f} after {n_trials} trials (optimum {OPTIMUM}, gap {gap:.2f}%)")
    print("best permutation:", study.best_trial.user_attrs["order"])
    return study.best_value


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
