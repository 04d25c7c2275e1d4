"""Several local worker processes on one study: each is an ``orderopt worker`` joining by name
and storage URL, exactly what a user would start from another shell.

The workers share the terminal's process group, so Ctrl-C reaches every one of them: each fails
its own running round (its orders are re-run by the next search) and exits. The parent only
waits, reports progress read from the study, and forwards a termination signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

__all__ = ["run_workers", "worker_command"]


def worker_command(study_name: str, storage: str | None, *, n_trials: int | None, device: str, index: int,
                   trusted: list[str]) -> list[str]:
    """The command line of worker ``index``."""
    cmd = [sys.executable, "-m", "orderopt", "worker", "--study", study_name, "--quiet"]
    if storage:
        cmd += ["--storage", storage]
    if n_trials is not None:
        cmd += ["--n-trials", str(n_trials)]
    if device == "auto":
        import torch

        count = torch.cuda.device_count()
        if count > 1:  # spread the workers over the GPUs
            device = f"cuda:{index % count}"
    cmd += ["--device", device]
    for path in trusted:  # import paths this process's user named: the workers may import them too
        cmd += ["--trust-import", path]
    return cmd


def run_workers(study_name: str, storage: str | None, workers: int, *, n_trials: int | None = None,
                device: str = "auto", on_poll: Callable[[], None] | None = None, poll_seconds: float = 10.0) -> int:
    """Run ``workers`` worker processes until all are done; ``n_trials`` (if given) is split
    between them. ``on_poll()`` is called every ``poll_seconds`` while they run (progress).
    Returns the number of workers that failed (non-zero exit)."""
    from orderopt.tasks import trusted_imports

    shares = [None] * workers if n_trials is None else [n_trials // workers + (i < n_trials % workers)
                                                          for i in range(workers)]
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    procs = [subprocess.Popen(worker_command(study_name, storage, n_trials=share, device=device, index=i,
                                             trusted=trusted_imports()), env=env, stdout=subprocess.DEVNULL)
             for i, share in enumerate(shares) if share != 0]
    try:
        while any(p.poll() is None for p in procs):
            deadline = time.monotonic() + poll_seconds
            while time.monotonic() < deadline and any(p.poll() is None for p in procs):
                time.sleep(0.2)
            if on_poll and any(p.poll() is None for p in procs):
                on_poll()
    except KeyboardInterrupt:  # pass it on (after Ctrl-C they had it already and ignore a second one):
        for p in procs:        # each fails its round's trials and exits
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()  # its trials are failed by heartbeat
        raise
    return sum(1 for p in procs if p.wait() != 0)
