"""Creating and joining order-search studies."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler

from orderopt.dependency import probe_dependencies
from orderopt.errors import ConfigError
from orderopt.learnability import check_learnability
from orderopt.presets import get_preset, preset_for
from orderopt.pruners import StageRankPruner
from orderopt.samplers import HierarchicalOrderSampler, layout_sizes
from orderopt.samplers._compat import storage_of
from orderopt.storage import get_storage
from orderopt.studies._spec import SEARCH_SETTINGS, StudySpec, is_orderopt_study, read_spec, write_spec
from orderopt.tasks import Task, spec_label, task_from_spec
from orderopt.training_pool import refuse_in_child

__all__ = ["create_study", "load_study", "study_exists", "discard_if_empty", "task_of", "default_study_name", "sampler_for", "pruner_for", "probe_of",
           "PROBE_ATTR", "LEARNABILITY_ATTR", "learnability_of", "HEARTBEAT_S",
           "GRACE_S"]

HEARTBEAT_S = 20  # a worker records a heartbeat for its running trials at least this often
GRACE_S = 90
# a running trial without a heartbeat for GRACE_S seconds is failed (and its order re-run)
PROBE_ATTR = "orderopt_probe"
LEARNABILITY_ATTR = "orderopt_learnability"


def _storage(storage, heartbeat_interval: int, grace_period: int, *, create: bool = True
             ) -> optuna.storages.BaseStorage:
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return get_storage(storage, heartbeat_interval=heartbeat_interval, grace_period=grace_period, create=create)


def default_study_name(task: Task, mode: str, seed: int) -> str:
    """``TASK-L<L>-MODE-seed<S>``: the name a re-run of the same command finds again."""
    return f"{task.name}-L{task.length}-{mode}-seed{seed}"


def probe_of(study: optuna.Study) -> dict | None:
    """The dependency probe stored with a study (``order``, ``explained``, ``parents``, ...), if any."""
    return study.user_attrs.get(PROBE_ATTR)


def learnability_of(study: optuna.Study) -> dict | None:
    """The learnability check stored with a study (``steps``, ``learned``, ``verdict``, ``rounds``), if any."""
    return study.user_attrs.get(LEARNABILITY_ATTR)


def _run_probe(task: Task) -> dict:
    result = probe_dependencies(task)
    return {"order": list(result.order), "explained": result.explained, "parents": [list(p) for p in result.parents],
            "entropy": [round(h, 4) for h in result.entropy], "seconds": round(result.seconds, 1),
            "notes": result.notes}


def sampler_for(spec: StudySpec, probe: dict | None = None) -> HierarchicalOrderSampler:
    """The sampler a study's spec (and its stored dependency probe) describes: every worker
    builds the same one. The probe's order is a seed order; when it explained every target it
    also enters the tournament."""
    r = spec.resolved()
    seeds = [tuple(probe["order"])] if probe and spec.prior == "dependency" else []
    return HierarchicalOrderSampler(
        seed_orders=seeds, pin_seed_orders=bool(seeds and probe.get("explained")),
        seed=spec.seed, levels=spec.levels, init=spec.init, population=r.population,
        local="rounds" if spec.mode == "mixture" else "sequential", incumbents=r.incumbents,
        round_size=r.round_size, patience=r.patience, references=r.references,
        tournament_size=r.tournament_size, tournament_runs=r.tournament_runs, model_proposals=r.model_proposals,
    )


def pruner_for(spec: StudySpec, task: Task | None = None) -> BasePruner:
    """``rank``: drop the worst half of a round's orders at every checkpoint of its second half;
    ``none``: keep every order to the end. The profile length comes from the task's recipe: the
    task itself when given (recipes may depend on its options), else its name."""
    if spec.resolved().pruning == "none":
        return optuna.pruners.NopPruner()
    preset = preset_for(spec.preset, task) if task is not None else spec.task_preset()
    steps = spec.steps or preset.profile_train.total_steps()
    return StageRankPruner(fraction=0.5, min_trials=4, warmup_steps=steps // 2)


def create_study(
    task: Task,
    *,
    storage: str | optuna.storages.BaseStorage | None = None,
    study_name: str | None = None,
    sampler: BaseSampler | None = None,
    pruner: BasePruner | None = None,
    heartbeat_interval: int = HEARTBEAT_S,
    grace_period: int = GRACE_S,
    log: Callable[[str], None] | None = None,
    **settings: Any,
) -> optuna.Study:
    """An Optuna study that searches generation orders of ``task``; re-creating it with the same
    name and storage resumes it. ``settings`` are :class:`StudySpec` fields (``preset``,
    ``mode``, ``seed``, ``levels``, ``population``, ``round_size``, ...); ``None`` or absent
    means the default for a new study and the stored value for an existing one. Asking an
    existing study for other settings is a :class:`ConfigError` that names them. A new study with
    ``prior="dependency"`` (the default) first runs the dependency probe (``log`` hears about it).

    Everything is checked before anything is written: a bad setting leaves no study behind."""
    refuse_in_child("create_study")
    unknown = sorted(set(settings) - set(SEARCH_SETTINGS))
    if unknown:
        raise ConfigError(f"unknown search setting(s) {', '.join(unknown)}; use {', '.join(SEARCH_SETTINGS)}")
    asked = {k: (list(v) if k == "blocks" and v else v) for k, v in settings.items() if v is not None}
    spec = StudySpec(task.spec(), task.length, **asked).check()
    get_preset(spec.preset)  # fail early on a bad name
    if spec.blocks is not None:
        layout_sizes(task.length, spec.blocks)
    name = study_name or default_study_name(task, spec.mode, spec.seed)
    rdb = _storage(storage, heartbeat_interval, grace_period)
    existing_names = {s.study_name: s for s in optuna.get_all_study_summaries(rdb, include_best_trial=False)}
    if name in existing_names:
        summary = existing_names[name]
        if not is_orderopt_study(summary):
            raise ConfigError(f"study {name!r} in this storage was not created by orderopt; choose another --study name")
        study = optuna.load_study(study_name=name, storage=rdb)
        stored = read_spec(study)
        other_task, diff = not stored.same_problem(spec), stored.differences(asked)
        if (other_task or diff) and not study.trials:  # nothing to lose: make it again as asked
            if log:
                log(f"study {name!r} ran no trial yet; making it again with the task and settings asked for")
            optuna.delete_study(study_name=name, storage=rdb)
        elif other_task:
            raise ConfigError(
                f"study {name!r} searches task {spec_label(stored.task)} (L={stored.length}), not "
                f"{spec_label(spec.task)} (L={task.length}); choose another --study name"
            )
        elif diff:
            raise ConfigError(f"study {name!r} was created with other search settings: {'; '.join(diff)}; re-run "
                              "without those options to resume it with its own, or choose another --study name")
        else:
            return optuna.load_study(study_name=name, storage=rdb,
                                     sampler=sampler or sampler_for(stored, probe_of(study)),
                                     pruner=pruner or pruner_for(stored, task))
    probe = None
    if spec.prior == "dependency":
        if log:
            log(f"reading which tokens determine each of the {task.length} targets from the task's data "
                "(dependency probe, up to ~2 min; --prior none skips it)")
        probe = _run_probe(task)
    learnability = None
    if spec.learnability == "check":
        if log:
            log("checking that short profiles tell this task's orders apart (learnability check, 2 profiles of a "
                "panel of orders; longer ones while they do not; --learnability none skips it)")
        learnability = check_learnability(
            task, spec.profile_config(task), seed_orders=[tuple(probe["order"])] if probe else (),
            lengthen=spec.steps is None, log=log)
        if learnability.learned and learnability.steps != spec.profile_config(task).train.total_steps():
            spec.steps = learnability.steps  # the search profiles at the length that told orders apart
    study = optuna.create_study(storage=rdb, study_name=name, direction="minimize",
                                sampler=sampler or sampler_for(spec, probe), pruner=pruner or pruner_for(spec, task))
    if probe is not None:
        study.set_user_attr(PROBE_ATTR, probe)
    if learnability is not None:
        study.set_user_attr(LEARNABILITY_ATTR, learnability.to_dict())
    write_spec(study, spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["profile loss"])
    return study


def study_exists(study_name: str, *, storage: str | optuna.storages.BaseStorage | None = None) -> bool:
    """Whether ``storage`` holds a study of that name; a SQLite file that does not exist yet holds
    none (and is not created)."""
    from pathlib import Path

    from orderopt.storage import default_storage_url

    if not isinstance(storage, optuna.storages.BaseStorage):
        url = storage or default_storage_url()
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
            return False
    rdb = _storage(storage, HEARTBEAT_S, GRACE_S, create=False)
    return study_name in {s.study_name for s in optuna.get_all_study_summaries(rdb, include_best_trial=False)}


def discard_if_empty(study: optuna.Study) -> bool:
    """Delete a study that never ran a trial and holds no verdict (a command that created it then
    failed), so that nothing is left behind looking like a search; whether it was deleted."""
    if study.trials or study.user_attrs.get(LEARNABILITY_ATTR):
        return False
    optuna.delete_study(study_name=study.study_name, storage=storage_of(study))
    return True


def load_study(
    study_name: str | None,
    *,
    storage: str | optuna.storages.BaseStorage | None = None,
    sampler: BaseSampler | None = None,
    pruner: BasePruner | None = None,
    heartbeat_interval: int = HEARTBEAT_S,
    grace_period: int = GRACE_S,
) -> optuna.Study:
    """Join an existing order-search study by name and storage alone (its stored settings); with
    no name, the storage's only orderopt study (a first report should not need the name).
    Never creates a database: a storage that does not exist is a :class:`StorageError`."""
    rdb = _storage(storage, heartbeat_interval, grace_period, create=False)
    summaries = {s.study_name: s for s in optuna.get_all_study_summaries(rdb, include_best_trial=False)}
    if study_name is None:
        ours = [name for name, summary in summaries.items() if is_orderopt_study(summary)]
        if len(ours) != 1:
            raise ConfigError("no orderopt study in this storage: run a search first, or give its storage" if not ours
                              else f"this storage holds {len(ours)} orderopt studies ({', '.join(ours)}); "
                                   "give the name of one (--study NAME)")
        study_name = ours[0]
    if study_name not in summaries:
        names = ", ".join(summaries) or "none"
        raise ConfigError(f"no study named {study_name!r} in this storage (studies: {names})")
    if not is_orderopt_study(summaries[study_name]):
        raise ConfigError(f"study {study_name!r} was not created by orderopt; give the name of an orderopt study")
    study = optuna.load_study(study_name=study_name, storage=rdb)
    spec = read_spec(study)
    study.sampler = sampler or sampler_for(spec, probe_of(study))
    study.pruner = pruner or pruner_for(spec)
    return study


def task_of(study: optuna.Study) -> Task:
    """The task of an orderopt study, rebuilt from its spec."""
    spec = read_spec(study)
    if spec is None:
        raise ConfigError(f"study {study.study_name!r} was not created by orderopt")
    return task_from_spec(spec.task)
