"""The order search loop: rounds of mixture profiles (or one profile per trial) as Optuna trials."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import TrialState

from orderopt.orders import Order
from orderopt.presets import get_preset
from orderopt.profiling import ProfileConfig, config_from_preset, profile
from orderopt.samplers import HierarchicalOrderSampler, layout_sizes, suggest_order
from orderopt.studies._spec import StudySpec, read_spec
from orderopt.studies._study import task_of
from orderopt.tasks import Task

__all__ = ["search", "SearchResult", "best_orders"]

EXPLORE_ROUND = 24  # orders per round once the schedule only explores


@dataclass
class SearchResult:
    study_name: str
    best: list[tuple[Order, float, int]]  # (order, score, trial number), best first
    trials: int
    seconds: float


def best_orders(study: optuna.Study, top: int = 10) -> list[tuple[Order, float, int]]:
    """The ``top`` COMPLETE trials by score (lower is friendlier)."""
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if "order" in t.user_attrs]
    done.sort(key=lambda t: (t.value, t.number))
    return [(tuple(t.user_attrs["order"]), float(t.value), t.number) for t in done[:top]]


def _profile_config(spec: StudySpec, device: str | None) -> ProfileConfig:
    return config_from_preset(
        get_preset(spec.preset), mode="mixture" if spec.mode == "mixture" else "separate",
        signal=spec.signal, steps=spec.steps, val_per_order=spec.val_per_order, seed=spec.seed, device=device,
    )


def _heartbeat(study: optuna.Study, trials: list[optuna.Trial]) -> None:
    storage = study._storage
    if isinstance(storage, BaseHeartbeat) and storage.get_heartbeat_interval() is not None:
        for t in trials:
            storage.record_heartbeat(t._trial_id)


def _fail_stale(study: optuna.Study) -> None:
    """Fail RUNNING trials whose worker stopped sending heartbeats (killed): their orders are re-run."""
    if isinstance(study._storage, BaseHeartbeat) and study._storage.get_heartbeat_interval() is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(study)


def _evaluated(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _mixture_round(study: optuna.Study, task: Task, spec: StudySpec, config: ProfileConfig, size: int,
                   splits, progress: bool) -> None:
    with warnings.catch_warnings():  # heartbeats are sent by this loop, not by study.optimize
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        trials = [study.ask() for _ in range(size)]
    try:
        by_order: dict[Order, optuna.Trial] = {}
        for t in trials:
            order = suggest_order(t, task.length, blocks=spec.blocks)
            if order in by_order:  # only when the space is exhausted: do not evaluate it twice
                study.tell(t, state=TrialState.FAIL)
            else:
                by_order[order] = t
        trials = list(by_order.values())
        orders = list(by_order)
        _heartbeat(study, trials)

        def on_checkpoint(step: int, losses: dict[Order, float]) -> list[Order]:
            for o, v in losses.items():
                by_order[o].report(v, step)
            _heartbeat(study, trials)
            return [o for o in losses if by_order[o].should_prune()]

        result = profile(task, orders, config, splits=splits, on_checkpoint=on_checkpoint, progress=progress)
    except BaseException:
        for t in trials:  # an interrupted round leaves nothing running: its orders will be re-run
            study.tell(t, state=TrialState.FAIL)
        raise
    for o, t in by_order.items():
        if o in result.dropped_at:
            study.tell(t, state=TrialState.PRUNED)
        else:
            study.tell(t, float(result.scores[result.orders.index(o)]))


def search(
    study: optuna.Study,
    *,
    n_trials: int | None = None,
    device: str | None = None,
    progress: bool = True,
    on_round: Callable[[str, int, int], None] | None = None,
) -> SearchResult:
    """Run (or resume) the hierarchical global-local order search of ``study``.

    ``mixture`` studies evaluate each stage's candidates in one mixture profile (a *round*);
    ``trial`` studies train one short profile per trial and let the pruner stop poor orders.
    Without ``n_trials`` the search stops when the schedule has no stage left (only
    exploration). ``on_round(stage, orders, evaluated)`` is called before every round.
    """
    spec = read_spec(study)
    task = task_of(study)
    config = _profile_config(spec, device)
    tc = config.train
    splits = task.splits(tc.n_train, max(tc.n_val, config.val_per_order), tc.n_test, seed=tc.seed)
    sizes = layout_sizes(task.length, spec.blocks)
    start = time.perf_counter()
    ran = 0

    def objective(trial: optuna.Trial) -> float:  # `trial` mode: one short profile per trial
        order = suggest_order(trial, task.length, blocks=spec.blocks)

        def on_checkpoint(step: int, losses: dict[Order, float]) -> None:
            trial.report(losses[order], step)
            if trial.should_prune():
                raise optuna.TrialPruned()

        return float(profile(task, [order], config, splits=splits, on_checkpoint=on_checkpoint, progress=False).scores[0])

    sampler = study.sampler
    while n_trials is None or ran < n_trials:
        _fail_stale(study)
        status = sampler.stage_status(study, blocks=sizes) if isinstance(sampler, HierarchicalOrderSampler) else None
        if status is not None and (status.unexplored == 0 or (status.stage == "explore" and n_trials is None)):
            break  # every order was tried, or the schedule is done (give n_trials to keep exploring)
        size = len(status.untried) if status is not None and status.untried else EXPLORE_ROUND
        if status is not None:
            size = min(size, status.unexplored)
        if n_trials is not None:
            size = min(size, n_trials - ran)
        if on_round:
            on_round(status.stage if status else "round", size, _evaluated(study))
        if spec.mode == "mixture":
            _mixture_round(study, task, spec, config, size, splits, progress)
        else:
            study.optimize(objective, n_trials=size, catch=())
        ran += size
    return SearchResult(study.study_name, best_orders(study), ran, time.perf_counter() - start)

