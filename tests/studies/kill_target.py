"""A worker that stalls for ``pause`` seconds (then goes on) at one point of a mixture round:
``profile`` (the round's trials exist and beat; training has not begun) or ``plan`` (the round's
orders are planned under the planning lock; no trial exists yet). The tests SIGKILL it there, or
let it outlive the heartbeat grace period while alive."""

from __future__ import annotations

import sys
import time

import optuna

import orderopt.studies._search as search_module
from orderopt.studies import load_study, search

if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, name, pause, n_trials = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    where = sys.argv[5] if len(sys.argv) > 5 else "profile"
    if where == "profile":
        real_profile = search_module.profile

        def slow_profile(*args, **kwargs):
            time.sleep(pause)
            return real_profile(*args, **kwargs)

        search_module.profile = slow_profile
    else:
        real_create = search_module._bulk.create_trials

        def slow_create(*args, **kwargs):
            print("planned", flush=True)
            time.sleep(pause)
            return real_create(*args, **kwargs)

        search_module._bulk.create_trials = slow_create
    study = load_study(name, storage=url, heartbeat_interval=1, grace_period=3)
    search(study, n_trials=n_trials, progress=False)
