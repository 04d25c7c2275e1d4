"""Several local worker processes on one study (joblib): each joins by name and storage URL."""

from __future__ import annotations

import os

from joblib import Parallel, delayed

__all__ = ["run_workers", "worker_main"]


def worker_main(study_name: str, storage: str | None, n_trials: int | None, device: str, index: int) -> int:
    """Entry point of one worker process: join the study and search until done (or budget)."""
    import optuna

    from orderopt.studies import load_study, search
    from orderopt.engine import pick_device

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if device == "auto":
        import torch

        count = torch.cuda.device_count()
        device = f"cuda:{index % count}" if count > 1 else "auto"  # spread workers over the GPUs
    pick_device(device)
    study = load_study(study_name, storage=storage)
    return search(study, n_trials=n_trials, device=device, progress=False).trials


def run_workers(study_name: str, storage: str | None, workers: int, *, n_trials: int | None = None,
                device: str = "auto") -> int:
    """Run ``workers`` processes; ``n_trials`` (if given) is split between them. Returns trials run."""
    shares = [None] * workers if n_trials is None else [n_trials // workers + (i < n_trials % workers)
                                                          for i in range(workers)]
    threads = max(1, (os.cpu_count() or 1) // workers)
    results = Parallel(n_jobs=workers, backend="loky", inner_max_num_threads=threads)(
        delayed(worker_main)(study_name, storage, share, device, i) for i, share in enumerate(shares)
    )
    return sum(results)
