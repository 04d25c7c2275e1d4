"""Creating and joining order-search studies."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler

from orderopt.errors import ConfigError
from orderopt.presets import get_preset
from orderopt.pruners import StageRankPruner
from orderopt.samplers import HierarchicalOrderSampler
from orderopt.storage import get_storage
from orderopt.studies._spec import StudySpec, read_spec, write_spec
from orderopt.tasks import Task, task_from_spec

__all__ = ["create_study", "load_study", "task_of", "default_study_name", "HEARTBEAT_S", "GRACE_S"]

HEARTBEAT_S = 20  # a worker records a heartbeat for its running trials at least this often
GRACE_S = 90  # a running trial without a heartbeat for this long is failed (and its order re-run)


def _storage(storage, heartbeat_interval: int, grace_period: int) -> optuna.storages.BaseStorage:
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return get_storage(storage, heartbeat_interval=heartbeat_interval, grace_period=grace_period)


def default_study_name(task: Task, mode: str, seed: int) -> str:
    return f"{task.name}-L{task.length}-{mode}-seed{seed}"


def _default_sampler(spec: StudySpec) -> HierarchicalOrderSampler:
    return HierarchicalOrderSampler(seed=spec.seed, levels=spec.levels, init=spec.init)


def _default_pruner(spec: StudySpec) -> BasePruner:
    steps = spec.steps or get_preset(spec.preset).profile_train.total_steps()
    return StageRankPruner(fraction=0.5, min_trials=4, warmup_steps=steps // 2)


def create_study(
    task: Task,
    *,
    storage: str | optuna.storages.BaseStorage | None = None,
    study_name: str | None = None,
    sampler: BaseSampler | None = None,
    pruner: BasePruner | None = None,
    preset: str = "cpu",
    mode: str = "mixture",
    signal: str = "index",
    steps: int | None = None,
    val_per_order: int | None = None,
    seed: int = 0,
    levels: int = 3,
    init: str = "random",
    blocks: Sequence[int] | None = None,
    heartbeat_interval: int = HEARTBEAT_S,
    grace_period: int = GRACE_S,
) -> optuna.Study:
    """An Optuna study that searches generation orders of ``task``; re-creating it with the same
    name and storage resumes it. The settings are stored in the study so workers can join with
    :func:`load_study`."""
    get_preset(preset)  # fail early on a bad name
    spec = StudySpec(task.spec(), task.length, preset, mode, signal, steps, val_per_order, seed, levels, init,
                     list(blocks) if blocks else None).check()
    rdb = _storage(storage, heartbeat_interval, grace_period)
    name = study_name or default_study_name(task, mode, seed)
    study = optuna.create_study(
        storage=rdb, study_name=name, direction="minimize", load_if_exists=True,
        sampler=sampler or _default_sampler(spec), pruner=pruner or _default_pruner(spec),
    )
    existing = read_spec(study)
    if existing is None:
        write_spec(study, spec)
    elif not existing.same_problem(spec):
        raise ConfigError(
            f"study {name!r} searches task {existing.task.get('name')} (L={existing.length}), not "
            f"{task.name} (L={task.length}); choose another --study name"
        )
    return study


def load_study(
    study_name: str,
    *,
    storage: str | optuna.storages.BaseStorage | None = None,
    sampler: BaseSampler | None = None,
    pruner: BasePruner | None = None,
    heartbeat_interval: int = HEARTBEAT_S,
    grace_period: int = GRACE_S,
) -> optuna.Study:
    """Join an existing order-search study by name and storage alone."""
    rdb = _storage(storage, heartbeat_interval, grace_period)
    try:
        study = optuna.load_study(study_name=study_name, storage=rdb)
    except KeyError:
        names = ", ".join(s.study_name for s in optuna.get_all_study_summaries(rdb)) or "none"
        raise ConfigError(f"no study named {study_name!r} in this storage (studies: {names})") from None
    spec = read_spec(study)
    if spec is None:
        raise ConfigError(f"study {study_name!r} was not created by orderopt; give the name of an orderopt study")
    return optuna.load_study(study_name=study_name, storage=rdb, sampler=sampler or _default_sampler(spec),
                             pruner=pruner or _default_pruner(spec))


def task_of(study: optuna.Study) -> Task:
    spec = read_spec(study)
    if spec is None:
        raise ConfigError(f"study {study.study_name!r} was not created by orderopt")
    return task_from_spec(spec.task)
