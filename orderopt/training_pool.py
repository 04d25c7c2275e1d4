"""Several full trainings at once: one process per order on a CPU.

Why: the final model's matmuls are too small to scale with threads, so trainings side by side,
one thread each, finish sooner than one after another on all threads
(benchmarks/results/profiling/profiling_throughput.md). Scores do not change: each training is
seeded alike and its numbers do not depend on the thread count (``orderopt.model.LayerNorm`` and
``orderopt.model.Head``, tested) on CPUs whose matrix product keeps each sum on one thread; CPUs
whose GEMM splits the sums (AVX-512 builds) differ in the last bits. On CUDA, or with
``jobs=1``, the orders train one after another in this process.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from orderopt.engine import TrainConfig, make_model, pick_device
from orderopt.errors import ConfigError, OrderoptError
from orderopt.model import ModelShape
from orderopt.orders import Order, validate_order
from orderopt.tasks import Splits, Task
from orderopt.training import SuccessReport, TrainResult, success_rate, train

__all__ = ["Trained", "plan_jobs", "train_each"]


@dataclass
class Trained:
    """One finished training: its place in the request, the trained model and its test success."""

    index: int
    result: TrainResult
    report: SuccessReport


def plan_jobs(device: str | None, count: int, jobs: int | None = None) -> tuple[int, int]:
    """(processes, torch threads per process) for ``count`` trainings: ``jobs=None`` means one
    process per core on a CPU (never more than ``count``) and one process on CUDA."""
    if jobs is not None and jobs < 1:
        raise ConfigError(f"jobs must be >= 1, got {jobs}; use 1 to train one order at a time")
    cores = os.cpu_count() or 1
    if pick_device(device).type != "cpu":
        return 1, torch.get_num_threads()
    jobs = min(cores if jobs is None else jobs, max(count, 1))
    return jobs, max(1, cores // jobs) if jobs > 1 else torch.get_num_threads()


CHILD_ENV = "ORDEROPT_TRAINING_CHILD"  # set in a training pool's child process


def refuse_in_child(what: str) -> None:
    """A training child that is asked to start a search or a pool has re-run a user script's
    top-level code while importing its generator: stop it with the fix, not a process cascade."""
    if os.environ.get(CHILD_ENV):
        raise ConfigError(f"{what} was called while a training worker imported your task's file: its top-level code "
                          "runs again there; put the script's work under `if __name__ == \"__main__\":`")


def _train_in_child(task: Task, order: Order, shape: ModelShape, config: TrainConfig, splits: Splits,
                    threads: int) -> tuple[dict, TrainResult, SuccessReport]:
    torch.set_num_threads(threads)
    result = train(task, order, shape, config, splits=splits, progress=False)
    report = success_rate(result.model, splits.x_test, splits.y_test, order)
    state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    result.model, result.splits = None, None  # the weights travel as a state dict; the parent has the splits
    return state, result, report


class _Child:
    """One training in its own interpreter (``python -m orderopt.training_pool IN OUT``): unlike
    multiprocessing's spawn, it never re-imports the caller's ``__main__``, so ``verify`` works
    from any script or notebook."""

    def __init__(self, workdir: Path, index: int, payload: tuple) -> None:
        self.index = index
        self.inp, self.out, self.log = (workdir / f"{index}.{ext}" for ext in ("in", "out", "log"))
        with self.inp.open("wb") as f:
            pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "orderopt.training_pool", json.dumps(sys.path), str(self.inp), str(self.out)],
                stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, CHILD_ENV: "1"})

    def result(self) -> tuple:
        if self.process.returncode != 0:
            lines = self.log.read_text(errors="replace").strip().splitlines() or ["(no output)"]
            raise OrderoptError(f"training {self.index} failed in its worker process (exit "
                                f"{self.process.returncode}): {lines[-1]}")
        with self.out.open("rb") as f:
            return pickle.load(f)


def train_each(
    task: Task,
    orders: Sequence[Sequence[int]],
    shape: ModelShape,
    config: TrainConfig,
    *,
    splits: Splits | None = None,
    jobs: int | None = None,
    progress: bool = True,
) -> Iterator[Trained]:
    """Train ``shape`` on every order of ``orders`` and measure its test success; yields each
    training as it finishes (in completion order; ``Trained.index`` says which order it is)."""
    orders = [validate_order(o, task.length) for o in orders]
    config.check()
    splits = splits or task.splits(config.n_train, config.n_val, config.n_test, seed=config.seed)
    refuse_in_child("train_each")
    processes, threads = plan_jobs(config.device, len(orders), jobs)
    if not task.portable():  # a lambda or a notebook's function: no other process can rebuild it
        processes, threads = 1, torch.get_num_threads()
    if processes == 1:
        for i, order in enumerate(orders):
            result = train(task, order, shape, config, splits=splits, progress=progress)
            yield Trained(i, result, success_rate(result.model, splits.x_test, splits.y_test, order))
        return
    bar = tqdm(total=len(orders), desc=f"train {len(orders)} orders, {processes} at a time", disable=not progress,
               leave=False)
    waiting = list(range(len(orders)))
    running: list[_Child] = []
    with tempfile.TemporaryDirectory(prefix="orderopt-train-") as tmp:
        try:
            while waiting or running:
                while waiting and len(running) < processes:
                    i = waiting.pop(0)
                    running.append(_Child(Path(tmp), i, (task, orders[i], shape, config, splits, threads)))
                finished = [c for c in running if c.process.poll() is not None]
                if not finished:
                    time.sleep(0.2)
                    continue
                for child in finished:
                    running.remove(child)
                    state, result, report = child.result()
                    result.model = make_model(task, shape)
                    result.model.load_state_dict(state)
                    result.model.eval()
                    result.splits = splits
                    bar.update(1)
                    yield Trained(child.index, result, report)
        finally:  # interrupted, failed or abandoned: stop the other trainings now
            bar.close()
            for child in running:
                child.process.terminate()
            for child in running:
                child.process.wait()


def _child_main(path_json: str, inp: str, out: str) -> None:
    sys.path[:] = json.loads(path_json)  # the caller's, so that user task modules unpickle
    with open(inp, "rb") as f:
        payload = pickle.load(f)
    result = _train_in_child(*payload)
    with open(out, "wb") as f:
        pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)


if __name__ == "__main__":
    _child_main(*sys.argv[1:4])
