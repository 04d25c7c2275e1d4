"""A worker process for the multi-process test: joins a study and runs trials."""

from __future__ import annotations

import sys
import time

import optuna

from orderopt.orders import kendall_tau_distance
from orderopt.samplers import HierarchicalOrderSampler, suggest_order

SECRET = (5, 2, 7, 0, 3, 6, 1, 4)


def objective(trial: optuna.Trial) -> float:
    order = suggest_order(trial, len(SECRET))
    time.sleep(0.01)  # let the workers interleave
    return kendall_tau_distance(order, SECRET)


if __name__ == "__main__":
    url, name, n_trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=url, sampler=HierarchicalOrderSampler(seed=7))
    study.optimize(objective, n_trials=n_trials)
