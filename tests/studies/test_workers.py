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


SMALL = {"preset": "tiny", "levels": 2, "population": 12, "round_size": 12, "tournament_size": 4, "learnability": "none"}


def test_three_workers_complete_the_search_without_repeats(pg_study):
    url, name = pg_study
    create_study(make_task("square", 6), storage=url, study_name=name, **SMALL)
    procs = [subprocess.Popen([sys.executable, "-m", "orderopt", "worker", "--study", name, "--storage", url, "--quiet"],
                              cwd=ROOT, stdout=subprocess.DEVNULL) for _ in range(3)]
    assert [p.wait(timeout=600) for p in procs] == [0, 0, 0]
    study = load_study(name, storage=url)
    trials = study.trials
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    candidates = Counter(tuple(t.user_attrs["order"]) for t in trials
                         if t.system_attrs["orderopt:role"] in ("candidate", "explore"))
    assert max(candidates.values()) == 1, "an order was evaluated twice"
    stages = {t.system_attrs["orderopt:stage"] for t in trials}
    # a middle stage may hold no trial of its own: its candidates can all have been evaluated
    # already by workers exploring while another held the stage (they count as done)
    assert {"global-1", "tournament-1", "tournament-2"} <= stages
    assert any(s.startswith("local-") for s in stages)
    status = study.sampler.stage_status(study)
    assert status.stage == "explore"  # the whole schedule was evaluated
    # one verdict trial between the three workers, and it is Optuna's best trial and the report's found #1
    from orderopt.report import report_data
    from orderopt.studies import is_verdict

    assert sum(is_verdict(t) for t in trials) == 1 and is_verdict(study.best_trial)
    assert report_data(study)["best"][0]["trial"] == study.best_trial.number


def _start_worker(url, name, pause, n_trials, where="profile"):
    return subprocess.Popen([sys.executable, "-m", "tests.studies.kill_target", url, name, str(pause), str(n_trials),
                             where], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def _running_orders(study):
    live = [t for t in study.get_trials() if t.state == TrialState.RUNNING]
    return [tuple(t.user_attrs["order"]) for t in live] if live and all("order" in t.user_attrs for t in live) else []


def test_killed_worker_loses_nothing(pg_study):
    url, name = pg_study
    create_study(TASK, storage=url, study_name=name, heartbeat_interval=1, grace_period=3, **SMALL)
    victim = _start_worker(url, name, pause=120, n_trials=12)
    study = load_study(name, storage=url, heartbeat_interval=1, grace_period=3)
    deadline = time.time() + 120
    while time.time() < deadline and len(_running_orders(study)) < 12:
        time.sleep(0.5)
    running = _running_orders(study)
    assert len(running) == 12, "the victim never started its round"
    time.sleep(2.0)  # inside the round
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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_then_an_immediate_rerun_recovers_at_once(backend, pg_study, tmp_path):
    """The killed run's lease dies with it: the re-run fails its trials and re-runs their orders at
    once, with the default 90 s heartbeat grace nowhere near over."""
    from orderopt.studies import recover_dead_runs

    url, name = pg_study if backend == "postgresql" else (f"sqlite:///{tmp_path / 'o.db'}", "killed")
    create_study(TASK, storage=url, study_name=name, **SMALL)
    victim = _start_worker(url, name, pause=300, n_trials=12)
    study = load_study(name, storage=url)  # default heartbeat settings: 20 s beats, 90 s grace
    deadline = time.time() + 120
    while time.time() < deadline and len(_running_orders(study)) < 12:
        time.sleep(0.2)
    running = _running_orders(study)
    assert len(running) == 12, "the victim never started its round"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    dead = recover_dead_runs(study)  # at once: no heartbeat has gone stale yet
    assert [d.trials for d in dead] == [12] and dead[0].owner["pid"] == victim.pid
    search(study, n_trials=len(running) + 4, progress=False)
    trials = load_study(name, storage=url).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert {tuple(t.user_attrs["order"]) for t in trials if t.state == TrialState.FAIL} == set(running)
    redone = {tuple(t.user_attrs["order"]) for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}
    assert set(running) <= redone  # the round the victim died in, completed by the re-run


def test_kill_while_planning_then_rerun_continues_the_schedule(pg_study):
    url, name = pg_study
    create_study(TASK, storage=url, study_name=name, heartbeat_interval=1, grace_period=3, **SMALL)
    victim = _start_worker(url, name, pause=120, n_trials=12, where="plan")
    assert victim.stdout.readline().strip() == "planned"  # the round is planned, under the planning lock
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    study = load_study(name, storage=url, heartbeat_interval=1, grace_period=3)
    search(study, n_trials=24, progress=False)  # the lock died with its holder: no wait, no exploration
    trials = load_study(name, storage=url).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    stages = [t.system_attrs["orderopt:stage"] for t in trials]
    assert "explore" not in stages and stages[0] == "global-1"
    assert study.sampler.stage_status(study).stage != "global-1"  # the schedule moved on


def test_a_live_round_longer_than_the_grace_period_is_not_failed(pg_study):
    url, name = pg_study
    create_study(TASK, storage=url, study_name=name, heartbeat_interval=1, grace_period=3, **SMALL)
    worker = _start_worker(url, name, pause=8, n_trials=12)  # 8 s without a checkpoint > 3 s grace
    study = load_study(name, storage=url, heartbeat_interval=1, grace_period=3)
    deadline = time.time() + 120
    while time.time() < deadline and len(_running_orders(study)) < 12:
        time.sleep(0.2)
    assert len(_running_orders(study)) == 12
    while worker.poll() is None:  # another worker keeps looking for stale trials meanwhile
        optuna.storages.fail_stale_trials(study)
        time.sleep(0.5)
    assert worker.returncode == 0
    states = Counter(t.state for t in load_study(name, storage=url).trials)
    assert states[TrialState.FAIL] == 0 and states[TrialState.RUNNING] == 0
    assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == 12


def test_ctrl_c_on_search_with_workers_leaves_nothing_running(tmp_path):
    import os

    url = f"sqlite:///{tmp_path / 'orderopt.db'}"
    cmd = [sys.executable, "-m", "orderopt", "search", "--task", "square", "--length", "6", "--storage", url,
           "--workers", "3", "--steps", "30000", "--quiet", *[f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()]]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL)
    name = "square-L6-mixture-seed0"
    deadline = time.time() + 600  # three workers start torch each: slow on a busy machine
    running = False
    while not running and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        try:
            running = any(t.state == TrialState.RUNNING for t in optuna.load_study(study_name=name, storage=url).trials)
        except KeyError:
            pass
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole process group gets it
    assert running, "no trial was running before the interrupt"
    assert proc.wait(timeout=300) == 130
    states = Counter(t.state for t in optuna.load_study(study_name=name, storage=url).trials)
    assert states[TrialState.RUNNING] == 0 and states[TrialState.FAIL] > 0


def test_workers_reaching_one_database_by_different_urls_share_its_lock(pg_study):
    url, name = pg_study
    spellings = [url, url.replace("127.0.0.1", "localhost"), url.replace("postgres@", "postgres:any-password@")]
    assert len(set(spellings)) == 3
    create_study(make_task("square", 6), storage=url, study_name=name, **SMALL)
    procs = [subprocess.Popen([sys.executable, "-m", "orderopt", "worker", "--study", name, "--storage", u, "--quiet"],
                              cwd=ROOT, stdout=subprocess.DEVNULL) for u in spellings]
    assert [p.wait(timeout=600) for p in procs] == [0, 0, 0]
    trials = load_study(name, storage=url).trials
    candidates = Counter(tuple(t.user_attrs["order"]) for t in trials
                         if t.system_attrs["orderopt:role"] in ("candidate", "model", "explore"))
    assert max(candidates.values()) == 1, "an order was evaluated twice"
