"""A worker that the kill test SIGKILLs in the middle of a mixture round (slowed down on purpose)."""

from __future__ import annotations

import sys
import time

import optuna

import orderopt.studies._search as search_module
from orderopt.studies import load_study, search

if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, name = sys.argv[1], sys.argv[2]
    beat = search_module._heartbeat

    def slow_heartbeat(study, trials):  # the round stalls here until the test kills this process
        beat(study, trials)
        time.sleep(120)

    search_module._heartbeat = slow_heartbeat
    study = load_study(name, storage=url, heartbeat_interval=1, grace_period=3)
    search(study, n_trials=6, progress=False)
