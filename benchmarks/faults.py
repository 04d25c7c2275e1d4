"""Faults: kills, interrupts, racing workers and bad input, each repeated, on a real PostgreSQL.

Run:  python benchmarks/faults.py                 # every case (about 20 minutes on 2 cores)
      python benchmarks/faults.py --cases url-spellings --runs 5
      python benchmarks/faults.py --table-only
Writes benchmarks/results/faults/faults.md; each finished run is cached in faults.jsonl beside it (an
interrupted benchmark resumes). Needs PostgreSQL at ORDEROPT_TEST_POSTGRES (default
postgresql+psycopg2://postgres@127.0.0.1:5432/test).

Columns: RUNNING left = trials still RUNNING when the case is over (after the rerun, if any);
duplicates = extra evaluations of an order already evaluated in the study; lost = trials that were
finished right after the fault and are missing or changed at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
from _common import RunCache, add_rerun_option, write_table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
URL = os.environ.get("ORDEROPT_TEST_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
SMALL = {"preset": "tiny", "levels": 2, "population": 12, "round_size": 12, "tournament_size": 4, "learnability": "none"}
FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()]
WORKER = ("import sys, optuna; optuna.logging.set_verbosity(optuna.logging.WARNING); "
          "from orderopt.studies import load_study, search; "
          "search(load_study(sys.argv[1], storage=sys.argv[2], heartbeat_interval=1, grace_period=3), "
          "n_trials=int(sys.argv[3]), progress=False)")


# ---------------------------------------------------------------------------------- helpers
def _new_study(length: int = 6) -> str:
    from orderopt.studies import create_study
    from orderopt.tasks import make_task

    name = f"faults-{uuid.uuid4().hex[:10]}"
    create_study(make_task("square", length), storage=URL, study_name=name, heartbeat_interval=1, grace_period=3,
                 **SMALL)
    return name


def _drop(name: str, url: str = URL) -> None:
    import optuna

    try:
        optuna.delete_study(study_name=name, storage=url)
    except KeyError:
        pass


def _trials(name: str, url: str = URL):
    import optuna

    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def _finished(trials) -> dict[int, tuple]:
    from optuna.trial import TrialState

    return {t.number: (t.state, t.value) for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}


def _measure(trials, before: dict[int, tuple]) -> dict:
    from optuna.trial import TrialState

    evaluated = Counter(tuple(t.user_attrs["order"]) for t in trials
                        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                        and t.system_attrs.get("orderopt:role") in ("candidate", "model", "explore"))
    now = _finished(trials)
    return {"running": sum(t.state == TrialState.RUNNING for t in trials),
            "duplicates": sum(n - 1 for n in evaluated.values()),
            "lost": sum(now.get(k) != v for k, v in before.items()), "trials": len(trials)}


def _api_worker(name: str, n_trials: int, url: str = URL) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER, name, url, str(n_trials)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_running(name: str, timeout: float = 120, url: str = URL) -> None:
    from optuna.trial import TrialState

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if any(t.state == TrialState.RUNNING for t in _trials(name, url)):
                return
        except KeyError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"no trial of {name} started within {timeout} s")


# ------------------------------------------------------------------------------------ cases
def case_sigkill(run: int) -> dict:
    """SIGKILL a worker at a random moment of its run (planning, profiling or storing), wait out
    the grace period, rerun: the rerun fails the dead trials, re-runs their orders, loses nothing."""
    rng = random.Random(run)
    name = _new_study()
    try:
        victim = _api_worker(name, 48)
        _wait_running(name)
        time.sleep(rng.uniform(0.0, 4.0))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        before = _finished(_trials(name))
        time.sleep(4)  # > the 3 s grace period
        rerun = _api_worker(name, 24)
        rerun.communicate(timeout=600)
        return {"exit": rerun.returncode, **_measure(_trials(name), before)}
    finally:
        _drop(name)


def case_sigkill_planning(run: int) -> dict:
    """SIGKILL while a round of an L = 30 study is being planned (the planning lock is held, its
    trials not yet created), then rerun at once: the lock dies with its holder, stages go on."""
    from optuna.trial import TrialState

    name = _new_study(30)
    code = ("import sys, time, orderopt.studies._search as s; real = s._bulk.create_trials\n"
            "def slow(*a, **k):\n    print('planned', flush=True); time.sleep(600); return real(*a, **k)\n"
            "s._bulk.create_trials = slow\n" + WORKER.replace("; ", "\n"))
    try:
        victim = subprocess.Popen([sys.executable, "-c", code, name, URL, "12"], cwd=ROOT, stdout=subprocess.PIPE,
                                  text=True)
        assert victim.stdout.readline().strip() == "planned"
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        before = _finished(_trials(name))
        rerun = _api_worker(name, 24)
        rerun.communicate(timeout=900)
        trials = _trials(name)
        explored = sum(t.system_attrs.get("orderopt:stage") == "explore" for t in trials
                       if t.state != TrialState.FAIL)
        return {"exit": rerun.returncode, "explored": explored, **_measure(trials, before)}
    finally:
        _drop(name)


def _cli(url: str, name: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "orderopt", "search", "--task", "square", "--length", "6", "--storage", url,
            "--study", name, "--quiet", *FLAGS, *extra]


def case_ctrl_c_workers(run: int) -> dict:
    """Ctrl-C (SIGINT to the process group) on `search --workers 3`, then the same command again."""
    rng = random.Random(run)
    name = f"faults-{uuid.uuid4().hex[:10]}"
    try:
        proc = subprocess.Popen(_cli(URL, name, "--workers", "3"), cwd=ROOT, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _wait_running(name)
        time.sleep(rng.uniform(0.0, 3.0))
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        trials = _trials(name)
        before = _finished(trials)
        running = sum(t.state.name == "RUNNING" for t in trials)
        again = subprocess.run(_cli(URL, name, "--n-trials", "12"), cwd=ROOT, capture_output=True, text=True)
        m = _measure(_trials(name), before)
        return {"exit": proc.returncode, "rerun_exit": again.returncode, **m, "running_after_interrupt": running,
                "tracebacks": err.count("Traceback")}
    finally:
        _drop(name)


def case_triple_sigint(run: int) -> dict:
    """Three SIGINTs within 35 ms (an impatient user) on a single-process search."""
    rng = random.Random(run)
    name = f"faults-{uuid.uuid4().hex[:10]}"
    try:
        proc = subprocess.Popen(_cli(URL, name), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        _wait_running(name)
        time.sleep(rng.uniform(0.0, 2.0))
        for _ in range(3):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.0175)
        _, err = proc.communicate(timeout=120)
        trials = _trials(name)
        return {"exit": proc.returncode, **_measure(trials, _finished(trials)), "tracebacks": err.count("Traceback")}
    finally:
        _drop(name)


def case_url_spellings(run: int) -> dict:
    """Three workers reach one database by three URL spellings (127.0.0.1, localhost, a password)."""
    name = _new_study()
    spellings = [URL, URL.replace("127.0.0.1", "localhost"), URL.replace("postgres@", "postgres:any-password@")]
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "orderopt", "worker", "--study", name, "--storage", u,
                                   "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL) for u in spellings]
        codes = [p.wait(timeout=900) for p in procs]
        return {"exit": max(codes), **_measure(_trials(name), {})}
    finally:
        _drop(name)


def case_sixteen_workers(run: int) -> dict:
    """16 `orderopt worker` processes on one PostgreSQL study (2 cores: they mostly wait for the
    planning lock and the CPU), until the schedule is done."""
    from optuna.trial import TrialState

    name = _new_study()
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "orderopt", "worker", "--study", name, "--storage", URL,
                                   "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(16)]
        errors = [p.communicate(timeout=1800)[1] for p in procs]
        trials = _trials(name)
        unfinished = sum(t.state not in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        return {"exit": max(p.returncode for p in procs), **_measure(trials, {}), "unfinished": unfinished,
                "tracebacks": sum(e.count("Traceback") for e in errors)}
    finally:
        _drop(name)


def case_steps_zero(run: int) -> dict:
    """`search --steps 0` must write nothing: no study, no trial."""
    import optuna

    name = f"faults-{uuid.uuid4().hex[:10]}"
    proc = subprocess.run(_cli(URL, name, "--steps", "0"), cwd=ROOT, capture_output=True, text=True)
    names = {s.study_name for s in optuna.get_all_study_summaries(URL, include_best_trial=False)}
    _drop(name)
    return {"exit": proc.returncode, "running": 0, "duplicates": 0, "lost": 0, "trials": 0,
            "studies_written": int(name in names), "stderr_lines": proc.stderr.count("\n"),
            "tracebacks": proc.stderr.count("Traceback")}


def case_sigkill_rerun_at_once(run: int, backend: str) -> dict:
    """SIGKILL `orderopt search` mid-round, then run the same command at once (CLI defaults: 20 s
    heartbeats, 90 s grace): the dead run's lease is free, so its RUNNING trials are failed at
    once and their orders re-run; nothing waits for the heartbeat grace."""
    rng = random.Random(run)
    name = f"faults-{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory() as tmp:
        url = URL if backend == "postgresql" else f"sqlite:///{tmp}/o.db"
        try:
            victim = subprocess.Popen(_cli(url, name, "--steps", "400"), cwd=ROOT, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            _wait_running(name, url=url)
            time.sleep(rng.uniform(0.5, 3.0))
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            trials = _trials(name, url)
            before, killed = _finished(trials), sum(t.state.name == "RUNNING" for t in trials)
            start = time.monotonic()
            again = subprocess.run(_cli(url, name, "--steps", "400"), cwd=ROOT, capture_output=True, text=True)
            seconds = time.monotonic() - start
            m = _measure(_trials(name, url), before)
            recovered = "recovered" in again.stdout and f"recovered {killed} trial(s)" in again.stdout
            return {"exit": again.returncode, **m, "killed_running": killed, "recovered_at_once": int(recovered),
                    "rerun_seconds": round(seconds, 1), "tracebacks": again.stderr.count("Traceback")}
        finally:
            _drop(name, url)


def case_refused(run: int, extra: tuple[str, ...]) -> dict:
    """An option no run can use: exit 2, one line, no study written (checked before anything is)."""
    import optuna

    name = f"faults-{uuid.uuid4().hex[:10]}"
    proc = subprocess.run(_cli(URL, name, *extra), cwd=ROOT, capture_output=True, text=True)
    names = {s.study_name for s in optuna.get_all_study_summaries(URL, include_best_trial=False)}
    _drop(name)
    return {"exit": proc.returncode, "running": 0, "duplicates": 0, "lost": 0, "trials": 0,
            "studies_written": int(name in names), "stderr_lines": proc.stderr.count("\n"),
            "tracebacks": proc.stderr.count("Traceback"), "message": proc.stderr.strip()[:160]}


BAD_DATASETS = {  # case name: (what it is, how to write it; None = a bad --length)
    "bad-empty": ("an empty (0, n) .npz", lambda d: np.savez(d / "t.npz", x=np.zeros((0, 4), np.int64), y=np.zeros((0, 5), np.int64))),
    "bad-uint64": ("uint64 values", lambda d: np.savez(d / "t.npz", x=np.full((64, 4), 2**63, np.uint64),
                                        y=np.ones((64, 5), np.uint64))),
    "bad-token-9e6": ("token 9e6 (a 23 GB vocabulary)", lambda d: np.savez(d / "t.npz", x=np.full((64, 4), 9_000_000),
                                                  y=np.ones((64, 5), np.int64))),
    "bad-token-9e9": ("token 9e9 (a 1.1 TB vocabulary)", lambda d: np.savez(d / "t.npz", x=np.full((64, 4), 9_000_000_000),
                                                   y=np.ones((64, 5), np.int64))),
    "bad-json-1e23": ("a JSON integer 1e23", lambda d: (d / "t.jsonl").write_text(
        "\n".join('{"input": [100000000000000000000000, 1], "target": [1, 2, 3]}' for _ in range(64)) + "\n")),
    "bad-length": ("--length 10000", None),
}


def case_bad_input(run: int, which: str) -> dict:
    """One bad dataset (or length): exit 2, one line on stderr, no traceback, small peak memory."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        make = BAD_DATASETS[which][1]
        if make is None:
            task = ["--task", "square", "--length", "10000"]
        else:
            make(d)
            task = ["--task", str(next(d.iterdir()))]
        proc = subprocess.Popen([sys.executable, "-m", "orderopt", "profile", *task, "--preset", "tiny", "--quiet"],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return {"exit": proc.returncode, "running": 0, "duplicates": 0, "lost": 0, "trials": 0,
            "stderr_lines": err.count("\n"), "tracebacks": err.count("Traceback"),
            "peak_mb": round(usage.ru_maxrss / 1024), "message": err.strip()[:160]}


CASES = {
    "sigkill": (case_sigkill, 5, "SIGKILL a worker at a random moment, rerun after the grace period"),
    "sigkill-planning": (case_sigkill_planning, 3, "SIGKILL while planning an L = 30 round, rerun at once"),
    "ctrl-c-workers": (case_ctrl_c_workers, 3, "Ctrl-C on `search --workers 3`, then the same command"),
    "triple-sigint": (case_triple_sigint, 3, "three SIGINTs within 35 ms on `search`"),
    "url-spellings": (case_url_spellings, 5, "3 workers, 3 URL spellings of one database"),
    "sixteen-workers": (case_sixteen_workers, 2, "16 workers on one study until the schedule is done"),
    "steps-0": (case_steps_zero, 1, "`search --steps 0`"),
    "sigkill-at-once-sqlite": (lambda run: case_sigkill_rerun_at_once(run, "sqlite"), 3,
                               "SIGKILL `search` mid-round, the same command at once (SQLite)"),
    "sigkill-at-once-postgres": (lambda run: case_sigkill_rerun_at_once(run, "postgresql"), 3,
                                 "SIGKILL `search` mid-round, the same command at once (PostgreSQL)"),
    "device-tpu": (lambda run: case_refused(run, ("--device", "tpu")), 1, "`search --device tpu`"),
    "device-cuda": (lambda run: case_refused(run, ("--device", "cuda")), 1, "`search --device cuda` without CUDA"),
    "n-trials-0": (lambda run: case_refused(run, ("--n-trials", "0")), 1, "`search --n-trials 0` on a new study"),
    **{k: (lambda run, k=k: case_bad_input(run, k), 1, f"`profile` on {what}") for k, (what, _) in BAD_DATASETS.items()},
}


def write(cache: RunCache, cases: list[str]) -> None:
    rows, behind = [], []
    for case in cases:
        _, runs, what = CASES[case]
        recs = [r for r in (cache.get({"case": case, "run": i}) for i in range(runs)) if r]
        if not recs:
            continue
        behind += recs
        extra = []
        if any("explored" in r for r in recs):
            extra.append(f"explored after rerun: {sum(r['explored'] for r in recs)}")
        if any("running_after_interrupt" in r for r in recs):
            extra.append(f"RUNNING right after Ctrl-C: {sum(r['running_after_interrupt'] for r in recs)}")
        if any("unfinished" in r for r in recs):
            extra.append(f"trials not COMPLETE/PRUNED: {sum(r['unfinished'] for r in recs)}")
        if any("recovered_at_once" in r for r in recs):
            extra.append(f"trials left RUNNING by the kill: {sum(r['killed_running'] for r in recs)}, failed and re-run "
                         f"at once in {sum(r['recovered_at_once'] for r in recs)} of {len(recs)} reruns; rerun "
                         f"{min(r['rerun_seconds'] for r in recs):.0f}-{max(r['rerun_seconds'] for r in recs):.0f} s "
                         "to the end of the schedule (the heartbeat grace is 90 s)")
        if any("studies_written" in r for r in recs):
            extra.append(f"studies written: {sum(r['studies_written'] for r in recs)}")
        if any("tracebacks" in r for r in recs):
            extra.append(f"tracebacks: {sum(r['tracebacks'] for r in recs)}")
        if any("peak_mb" in r for r in recs):
            extra.append(f"stderr lines: {max(r['stderr_lines'] for r in recs)}, "
                         f"peak memory {max(r['peak_mb'] for r in recs)} MB; \"{recs[0]['message']}\"")
        elif any("message" in r for r in recs):
            extra.append(f"stderr lines: {max(r['stderr_lines'] for r in recs)}; \"{recs[0]['message']}\"")
        rows.append([what, len(recs), ", ".join(sorted({str(r["exit"]) for r in recs})),
                     sum(r["running"] for r in recs), sum(r["duplicates"] for r in recs), sum(r["lost"] for r in recs),
                     "; ".join(extra)])
    write_table("faults/faults", "Faults: kills, interrupts, racing workers and bad input (real PostgreSQL)",
                ["case", "runs", "exit codes", "RUNNING left", "duplicates", "lost trials", "notes"], rows, records=behind,
                notes="Studies use the tiny preset, square L = 6 (L = 30 for planning), 12-order rounds; the "
                      "Python-API workers use a 1 s heartbeat and a 3 s grace period, CLI commands the defaults "
                      "(20 s, 90 s). Exit 130 = interrupted, 2 = refused input. Every run is cached in faults.jsonl and the table "
                      "is rebuilt from the cache, so the command above names only the cases its invocation ran; "
                      "`python benchmarks/faults.py` runs every case not yet cached. " + __doc__.split("Columns: ")[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    ap.add_argument("--runs", type=int, default=None, help="runs per case (default: each case's own)")
    ap.add_argument("--table-only", action="store_true")
    add_rerun_option(ap)
    args = ap.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cases = [c for c in args.cases.split(",") if c] if args.cases != ",".join(CASES) else list(CASES)
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        sys.exit(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    cache = RunCache("faults/faults", ("case", "run"))
    if not args.table_only:
        for case in cases:
            fn, runs, _ = CASES[case]
            for i in range(args.runs or runs):
                rec = cache.run({"case": case, "run": i}, lambda fn=fn, i=i: fn(i), rerun=args.rerun)
                print(case, i, {k: v for k, v in rec.items() if k not in ("case", "run", "message")}, flush=True)
                write(cache, list(CASES))
    write(cache, list(CASES))


if __name__ == "__main__":
    main()
