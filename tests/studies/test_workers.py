"""Several worker processes on one real PostgreSQL study."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from orderopt.studies import create_study, load_study, search
from orderopt.tasks import make_task

ROOT = Path(__file__).resolve().parents[2]
TASK = make_task("square", 5)


@pytest.fixture
def pg_study(postgres_url, study_name):
    yield postgres_url, study_name
    try:
        optuna.delete_study(study_name=study_name, storage=postgres_url)
    except KeyError:
        pass


def test_three_workers_complete_the_search_without_repeats(pg_study):
    url, name = pg_study
    create_study(make_task("square", 6), storage=url, study_name=name, preset="tiny", levels=2)
    procs = [subprocess.Popen([sys.executable, "-m", "orderopt", "worker", "--study", name, "--storage", url, "--quiet"],
                              cwd=ROOT, stdout=subprocess.DEVNULL) for _ in range(3)]
    assert [p.wait(timeout=600) for p in procs] == [0, 0, 0]
    study = load_study(name, storage=url)
    trials = study.trials
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    orders = Counter(tuple(t.user_attrs["order"]) for t in trials)
    assert max(orders.values()) == 1, "an order was evaluated twice"
    stages = {t.user_attrs["stage"] for t in trials}
    assert {"global-1", "global-2"} <= stages and any(s.startswith("local-") for s in stages)
    status = study.sampler.stage_status(study)
    assert status.stage == "explore"  # the whole schedule was evaluated


def test_killed_worker_loses_nothing(pg_study):
    url, name = pg_study
    create_study(TASK, storage=url, study_name=name, preset="tiny", levels=2, heartbeat_interval=1, grace_period=3)
    victim = subprocess.Popen([sys.executable, "-m", "tests.studies.kill_target", url, name], cwd=ROOT)
    study = load_study(name, storage=url, heartbeat_interval=1, grace_period=3)
    deadline = time.time() + 120

    def running_orders():
        live = [t for t in study.get_trials() if t.state == TrialState.RUNNING]
        return [tuple(t.user_attrs["order"]) for t in live] if live and all("order" in t.user_attrs for t in live) else []

    while time.time() < deadline and len(running_orders()) < 6:
        time.sleep(0.5)
    running = running_orders()
    assert len(running) == 6, "the victim never started its round"
    time.sleep(2.0)  # inside the round's training
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    time.sleep(4)  # longer than the grace period: the victim's trials are now stale
    search(study, n_trials=len(running), progress=False)
    trials = load_study(name, storage=url).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    failed = {tuple(t.user_attrs["order"]) for t in trials if t.state == TrialState.FAIL}
    assert failed == set(running)  # the killed worker's trials were failed by heartbeat ...
    redone = {tuple(t.user_attrs["order"]) for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}
    assert set(running) <= redone  # ... and their orders re-run by the other worker
