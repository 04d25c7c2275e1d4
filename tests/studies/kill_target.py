"""A worker whose mixture round stalls inside its profile for ``pause`` seconds (then goes on):
the tests SIGKILL it mid-round, or let it outlive the heartbeat grace period while alive."""

from __future__ import annotations

import sys
import time

import optuna

import orderopt.studies._search as search_module
from orderopt.studies import load_study, search

if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, name, pause, n_trials = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    real_profile = search_module.profile

    def slow_profile(*args, **kwargs):  # the round's trials exist and beat; the training has not begun
        time.sleep(pause)
        return real_profile(*args, **kwargs)

    search_module.profile = slow_profile
    study = load_study(name, storage=url, heartbeat_interval=1, grace_period=3)
    search(study, n_trials=n_trials, progress=False)
