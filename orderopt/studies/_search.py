"""The order search loop: rounds of mixture profiles (or one profile per trial) as Optuna trials.

A *round* is one mixture profile of a batch of orders claimed from the sampler: new candidates
of the current stage plus **references** (the current best orders, profiled again). Every
order of a round is a trial; the round creates, reports and finishes them in a few
transactions (:mod:`orderopt.storage._bulk`). The loss of a mixture run drops at a
run-dependent step, so raw scores of different rounds are not on one scale: each trial stores
its raw score and a **comparable** score, the raw one rescaled by how the references did in
this round relative to their earlier scores (:mod:`orderopt.samplers._scores`). The trial's
value is the comparable score; selection, the report, the dashboard and verification use it.
The schedule ends with a **tournament**: the best orders profiled together under two other
profile seeds; found #1 is the order with the best mean log score there.
"""

from __future__ import annotations

import math
import re
import threading
import time
import uuid
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from orderopt.orders import Order
from orderopt.profiling import ProfileResult, profile, profile_splits
from orderopt.pruners import StageRankPruner
from orderopt.samplers import (
    RAW_ATTR,
    ROLE_ATTR,
    RUN_ATTR,
    SCORE_ATTR,
    STAGE_ATTR,
    VERDICT,
    BatchPlan,
    HierarchicalOrderSampler,
    anchor_factor,
    layout_sizes,
    step_params,
    suggest_order,
    trial_score,
)
from orderopt.samplers._encoding import layout_attr
from orderopt.samplers._locking import study_lock
from orderopt.samplers._precedence import ITEM_SCORES_ATTR
from orderopt.samplers._compat import storage_of, study_id_of, trial_id_of
from orderopt.storage import _bulk
from orderopt.storage._leases import OWNER_ATTR, lease_for, owner_alive, owner_record_key
from orderopt.studies._spec import StudySpec, read_spec
from orderopt.studies._study import GRACE_S, HEARTBEAT_S, LEARNABILITY_ATTR, PROBE_ATTR, task_of
from orderopt.tasks import Task

__all__ = ["search", "SearchResult", "RoundInfo", "best_orders", "tournament_scores", "geometric_mean", "record_verdict", "verdict_trial", "is_verdict", "stopped_by_check", "recover_dead_runs", "running_elsewhere", "DeadRun", "NO_ORDER_LEARNED", "RUN_ATTR", "TOURNAMENT_SEED_STRIDE"]

TOURNAMENT_SEED_STRIDE = 1000  # tournament run j profiles with seed + j * stride
NO_ORDER_LEARNED = "no order learned"  # why a search whose learnability check failed ran nothing
# An explained dependency-probe order is found #1 unless a tournament entrant scores this much
# lower: the flat-profile line (orderopt.report.FLAT_SPREAD), below which profiles told no orders
# apart in any task we measured (scrambled delay spreads 0.0-0.4%).
PRIOR_MARGIN = 0.01


@dataclass
class RoundInfo:
    """What the progress line shows after a round."""

    stage: str
    orders: int  # trials in the round (candidates + references)
    evaluated: int  # distinct orders evaluated in the study so far
    best_order: Order | None
    best_score: float | None
    seconds: float


@dataclass
class SearchResult:
    """What one ``search`` call did: trials run, seconds, why it stopped, best orders."""
    study_name: str
    best: list[tuple[Order, float, int]]  # (order, comparable score, trial number), best first
    trials: int
    seconds: float
    stopped: str = "schedule done"  # why the search stopped


def tournament_scores(study: optuna.Study) -> dict[Order, list[float]]:
    """Every tournament entrant's scores, one per tournament run it finished."""
    runs: dict[Order, list[float]] = defaultdict(list)
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        score = trial_score(t)
        if str(t.system_attrs.get(STAGE_ATTR, "")).startswith("tournament") and "order" in t.user_attrs \
                and score is not None and not is_verdict(t):
            runs[tuple(int(v) for v in t.user_attrs["order"])].append(float(score))
    return runs


def geometric_mean(values: list[float]) -> float:
    """How found #1 is chosen from its tournament runs (a score of 0 counts as the smallest float)."""
    return float(math.exp(sum(math.log(max(v, 1e-300)) for v in values) / len(values)))


def best_orders(study: optuna.Study, top: int = 10) -> list[tuple[Order, float, int]]:
    """The ``top`` orders, friendliest first: the tournament's entrants by their mean log score
    there (when the study has run its tournament), then every other order by its mean
    comparable score over all its evaluations. An explained dependency-probe order that entered
    the tournament comes first unless an entrant that keeps the probe's dependencies (places every
    target after the targets that explain it) beat it by :data:`PRIOR_MARGIN`; an entrant that
    breaks one is never first, however it profiled. Each comes with a trial number that holds it."""
    per_order: dict[Order, list[tuple[float, FrozenTrial]]] = defaultdict(list)
    verdict = None
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        score = trial_score(t)
        if "order" not in t.user_attrs or score is None:
            continue
        if is_verdict(t):
            verdict = t
            continue
        per_order[tuple(int(v) for v in t.user_attrs["order"])].append((score, t))
    tournament = {o: geometric_mean(v) for o, v in tournament_scores(study).items()}
    ranked = []
    for order, scored in per_order.items():
        mean = float(np.mean([s for s, _ in scored]))
        first = min((t for _, t in scored if t.state == TrialState.COMPLETE), key=lambda t: t.number,
                    default=scored[0][1])
        if order in tournament:
            key, value = (0, tournament[order]), tournament[order]
        else:
            key, value = (1, mean), mean
        ranked.append((key, order, value, first.number))
    ranked.sort(key=lambda r: (r[0], r[1]))
    probe = study.user_attrs.get(PROBE_ATTR) or {}
    prior = tuple(probe.get("order") or ()) if probe.get("explained") else ()
    if prior in tournament and ranked[0][1] != prior:
        # counting proved every target a function of tokens before it in the probe's order: found #1
        # keeps those dependencies (the probe's order does), and beats that order by PRIOR_MARGIN
        parents = dependencies(probe.get("parents") or [])
        pick = next(r for r in ranked if r[1] in tournament and respects(r[1], parents))
        entry = next(r for r in ranked if r[1] == prior)
        if pick[1] != prior and pick[2] > entry[2] * (1.0 - PRIOR_MARGIN):
            pick = entry
        ranked.remove(pick)
        ranked.insert(0, pick)
    if verdict is not None and ranked and tuple(verdict.user_attrs["order"]) == ranked[0][1]:
        ranked[0] = (*ranked[0][:3], verdict.number)  # found #1's trial is the one that records the verdict
    return [(o, v, n) for _, o, v, n in ranked[:top]]


def dependencies(parents: list[list[str]]) -> list[set[int]]:
    """The targets each target's probe parents name (``"y3"``, and ``"x[y3,y5]"`` for a lookup)."""
    return [{int(m) for m in re.findall(r"y(\d+)", " ".join(names))} for names in parents]


def respects(order: Order, parents: list[set[int]]) -> bool:
    """Whether ``order`` places every target after the targets in ``parents`` that explain it:
    then each target is a function of tokens the model has already written."""
    position = {target: i for i, target in enumerate(order)}
    return all(position[p] < position[t] for t, before in enumerate(parents) for p in before)


class _Heartbeat:
    """Records a heartbeat for a round's trials every ``interval`` seconds from a background
    thread (as ``study.optimize`` does), so a long round is never taken for a dead worker."""

    def __init__(self, study: optuna.Study, trial_ids: list[int]) -> None:
        self.study, self.trial_ids = study, trial_ids
        self.interval = _bulk.heartbeat_interval(study) or HEARTBEAT_S
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="orderopt-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                _bulk.record_heartbeats(self.study, self.trial_ids)
            except Exception:  # noqa: BLE001 - a missed beat is retried; the round must go on
                pass

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def stopped_by_check(study: optuna.Study) -> bool:
    """The study's learnability check found that no order learned, and no dependency probe that
    explained every target offers an order instead: nothing is searched."""
    checked = study.user_attrs.get(LEARNABILITY_ATTR) or {}
    probe = study.user_attrs.get(PROBE_ATTR) or {}
    return bool(checked) and not checked.get("learned", True) and not probe.get("explained")


_RECORDED: set[tuple[int, int, str]] = set()  # (storage, study, lease) whose holder this process recorded


def own_lease(study: optuna.Study) -> str:
    """This process's lease id on the study's storage (see :mod:`orderopt.storage._leases`); the
    study records who holds it (host, pid, start time) the first time."""
    storage, sid = storage_of(study), study_id_of(study)
    lease = lease_for(storage)
    key = (id(storage), sid, lease.id)
    if key not in _RECORDED:
        storage.set_study_system_attr(sid, owner_record_key(lease.id), lease.record())
        _RECORDED.add(key)
    return lease.id


@dataclass
class DeadRun:
    """Trials a dead process left RUNNING, failed by :func:`recover_dead_runs`."""

    owner: dict  # host, pid, started, kind, since
    trials: int


def _owners(study: optuna.Study) -> dict[str | None, list[FrozenTrial]]:
    running: dict[str | None, list[FrozenTrial]] = defaultdict(list)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        running[t.system_attrs.get(OWNER_ATTR)].append(t)
    return running


def recover_dead_runs(study: optuna.Study) -> list[DeadRun]:
    """Fail, at once, the RUNNING trials of processes that are known to be dead: their lease's lock
    is free (see :mod:`orderopt.storage._leases`). Their orders are run again by the next round.
    Trials of live processes, of other machines without a lock, and of this process are left."""
    storage, sid = storage_of(study), study_id_of(study)
    mine = lease_for(storage).id
    records = storage.get_study_system_attrs(sid)
    dead = []
    for owner, trials in _owners(study).items():
        if owner is None or owner == mine:
            continue
        record = records.get(owner_record_key(owner))
        if owner_alive(storage, owner, record) is False:
            _bulk.finish(study, [_bulk.TrialResult(_bulk.trial_id(t), TrialState.FAIL) for t in trials])
            dead.append(DeadRun(record or {"host": "?", "pid": "?"}, len(trials)))
    return dead


def running_elsewhere(study: optuna.Study) -> str | None:
    """``"12 trials running in 1 other process (host:pid, since ...)"``, or ``None``."""
    storage, sid = storage_of(study), study_id_of(study)
    mine = lease_for(storage).id
    records = storage.get_study_system_attrs(sid)
    others = {o: ts for o, ts in _owners(study).items() if o != mine}
    if not others:
        return None
    count = sum(len(ts) for ts in others.values())
    who = ", ".join(_describe_owner(records.get(owner_record_key(o)) if o else None) for o in others)
    return f"{count} trial(s) running in {len(others)} other process(es) ({who})"


def _describe_owner(record: dict | None) -> str:
    if not record:
        return "a process that recorded no lease; its heartbeat decides"
    return f"{record.get('host')}:{record.get('pid')} since {record.get('since', '?')}"


def _fail_stale(study: optuna.Study) -> None:
    """Fail RUNNING trials of dead processes: at once when their lease says so, else once they
    stop sending heartbeats (killed) or never sent one (killed right after creating them); their
    orders are re-run."""
    recover_dead_runs(study)
    if _bulk.heartbeat_interval(study) is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(study)
        _bulk.fail_orphans(study, _bulk.grace_period(study) or GRACE_S)


def _evaluated(study: optuna.Study) -> int:
    return len({tuple(t.user_attrs["order"]) for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)) if "order" in t.user_attrs and not is_verdict(t)})


def _to_prune(study: optuna.Study, ids: dict[Order, int], losses: dict[Order, float], step: int,
              protected: set[Order]) -> list[Order]:
    """The orders the study's pruner drops at this checkpoint (references are never dropped)."""
    pruner = study.pruner
    candidates = {o: v for o, v in losses.items() if o not in protected}
    if isinstance(pruner, StageRankPruner):  # ranks within the round: decided in memory, at once
        return pruner.prune_group(candidates, step)
    if isinstance(pruner, optuna.pruners.NopPruner):
        return []
    by_id = {_bulk.trial_id(t): t for t in study.get_trials(deepcopy=False)}
    return [o for o in candidates if pruner.prune(study, by_id[ids[o]])]


def _comparable(result: ProfileResult, plan: BatchPlan, ids: dict[Order, int]) -> dict[Order, tuple[float, float]]:
    """(raw, comparable) score of every order of the round (see the module docstring)."""
    index = {o: i for i, o in enumerate(result.orders)}
    last = {}
    for o in result.orders:
        column = result.curves[:, index[o]]
        c = int(np.flatnonzero(~np.isnan(column))[-1])
        last[o] = (c, float(column[c]))
    refs = [o for o in plan.references if o in plan.anchors and o in index and o not in result.dropped_at]
    if refs:
        anchors = [plan.anchors[o] for o in refs]
    else:  # no reference yet (first round): the round's best finished order anchors it at its own score
        done = [o for o in result.orders if o not in result.dropped_at]
        if not done:  # everything was pruned: nothing to anchor on, the raw scores stand
            return {o: (raw, raw) for o, (_, raw) in last.items()}
        refs = [min(done, key=lambda o: (last[o][1], o))]
        anchors = [last[refs[0]][1]]
    out = {}
    for o, (c, raw) in last.items():
        factor = anchor_factor([float(result.curves[c, index[r]]) for r in refs], anchors)
        out[o] = (raw, raw * factor)
    return out


def _mixture_round(study: optuna.Study, task: Task, spec: StudySpec, device: str | None, splits, max_candidates: int,
                   explore: bool, progress: bool) -> tuple[BatchPlan, int] | None:
    """Claim, profile and store one round; ``None`` when the sampler has nothing to give."""
    sampler: HierarchicalOrderSampler = study.sampler
    sizes = layout_sizes(task.length, spec.blocks)
    run = uuid.uuid4().hex[:12]
    owner = own_lease(study)
    trial_ids: list[int] = []
    # From the moment the trials exist, an interrupt (even one landing while the planning lock is
    # released) fails them: an interrupted round leaves nothing running, and its orders are re-run.
    # Intermediate values are stored when the round ends, on the round's common scale (the raw
    # curve times the factor that rescales its final score), unless a pruner reads them from the
    # storage while the round runs (then they are the raw losses, and the trial says so).
    live = not isinstance(study.pruner, (optuna.pruners.NopPruner, StageRankPruner))
    try:
        with sampler.batch(study, max_candidates, blocks=sizes, explore=explore) as plan:
            if plan is None:
                return None
            number = _rounds_so_far(study) + 1  # the round's number, as the report counts them
            new = []
            for order, role in zip(plan.orders, plan.roles):
                params, dists, user, system = sampler.trial_attrs(plan, order, role, sizes=sizes, readable=True)
                user["round"] = number
                user["scale"] = "raw profile loss" if live else "profile loss on the study's common scale"
                new.append(_bulk.NewTrial(params, dists, user, {**system, RUN_ATTR: run, OWNER_ATTR: owner}))
            trial_ids = _bulk.create_trials(study, new)
        ids = dict(zip(plan.orders, trial_ids))
        protected = set(plan.references)
        tournament = plan.stage.startswith("tournament")

        def on_checkpoint(step: int, losses: dict[Order, float]) -> list[Order]:
            if live:
                _bulk.report(study, {ids[o]: v for o, v in losses.items()}, step)
            return [] if tournament else _to_prune(study, ids, losses, step, protected)

        if tournament:  # another profile seed (and with it other data and initialisation) per run
            j = int(plan.stage.split("-")[1])
            config, run_splits = spec.profile_config(task, device, spec.seed + j * TOURNAMENT_SEED_STRIDE), None
        else:
            config, run_splits = spec.profile_config(task, device), splits
        with _Heartbeat(study, trial_ids):
            result = profile(task, list(plan.orders), config, splits=run_splits, on_checkpoint=on_checkpoint,
                             progress=progress)
        scores = _comparable(result, plan, ids)
        if not live:
            _report_rescaled(study, result, ids, scores)
    except BaseException:
        if trial_ids:
            _bulk.finish(study, [_bulk.TrialResult(t, TrialState.FAIL) for t in trial_ids])
        raise
    results = []
    column = {o: i for i, o in enumerate(result.orders)}
    for order, trial_id in ids.items():
        raw, comparable = scores[order]
        pruned = order in result.dropped_at
        system = {SCORE_ATTR: comparable, RAW_ATTR: raw}
        if result.position_scores is not None and not pruned:  # what the precedence model learns from
            system[ITEM_SCORES_ATTR] = [round(float(v), 6) for v in result.position_scores[column[order]]]
        results.append(_bulk.TrialResult(
            trial_id, TrialState.PRUNED if pruned else TrialState.COMPLETE, comparable,
            user_attrs={"score": comparable, "raw_score": raw}, system_attrs=system,
        ))
    _bulk.finish(study, results)
    return plan, len(trial_ids)


def _rounds_so_far(study: optuna.Study) -> int:
    """Mixture rounds that ran or run (failed ones are re-run and do not count)."""
    return len({t.system_attrs[RUN_ATTR] for t in study.get_trials(deepcopy=False)
                if RUN_ATTR in t.system_attrs and t.state != TrialState.FAIL and not is_verdict(t)})


def _report_rescaled(study: optuna.Study, result: ProfileResult, ids: dict[Order, int],
                     scores: dict[Order, tuple[float, float]]) -> None:
    """Each trial's loss curve times the factor of its final score: the curve ends at its value."""
    index = {o: i for i, o in enumerate(result.orders)}
    for c, step in enumerate(result.steps):
        values = {}
        for order, trial_id in ids.items():
            raw, comparable = scores[order]
            value = result.curves[c, index[order]]
            if not math.isnan(value):
                values[trial_id] = float(value) * (comparable / raw if raw else 1.0)
        if values:
            _bulk.report(study, values, step)


def is_verdict(trial: FrozenTrial) -> bool:
    """A trial that records the search's verdict (found #1), not an evaluation."""
    return trial.system_attrs.get(ROLE_ATTR) == VERDICT


def verdict_trial(study: optuna.Study) -> FrozenTrial | None:
    """The latest verdict trial (see :func:`record_verdict`), if any."""
    verdicts = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if is_verdict(t)]
    return verdicts[-1] if verdicts else None


def record_verdict(study: optuna.Study) -> FrozenTrial | None:
    """Make Optuna's best trial the search's found #1 (:func:`search` calls it once the schedule,
    tournament included, is done): a COMPLETE trial whose order is found #1 and
    whose value is the score that chose it (its tournament mean; before a tournament its mean
    score), or, when one profile of another order happened to score lower, just below the
    study's lowest value (user attr ``scale`` says which). Only added when the best trial does not
    name found #1 already; serialised by the study lock, so workers add one between them.

    Why a trial: finished trials cannot change, so a study whose best single profile is not the
    order the tournament chose needs a new trial to say so; its role ``verdict`` keeps it out of
    the search's own bookkeeping (it is no evaluation)."""
    best = best_orders(study, 1)
    if not best:
        return None
    order, score = best[0][0], best[0][1]
    storage, sid = storage_of(study), study_id_of(study)
    with study_lock(storage, sid):
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        current = min(complete, key=lambda t: (t.value, t.number))
        if is_verdict(current) and tuple(current.user_attrs["order"]) == order:
            return current
        lowest = current.value
        value = score if score < lowest else math.nextafter(lowest, -math.inf)
        how = ("found #1's score" if value == score else
               f"just below the study's lowest value; found #1's own score is {score:.6g} (user attr score)")
        params, dists = step_params(order, "order")
        user = {"order": list(order), "stage": VERDICT, "score": score, "scale": how, "found": 1,
                layout_attr("order"): [len(order)]}
        system = {STAGE_ATTR: VERDICT, ROLE_ATTR: VERDICT, SCORE_ATTR: score, RUN_ATTR: f"verdict-{uuid.uuid4().hex[:8]}"}
        (trial_id,) = _bulk.create_trials(study, [_bulk.NewTrial(params, dists, user, system)])
        _bulk.finish(study, [_bulk.TrialResult(trial_id, TrialState.COMPLETE, value)])
    return verdict_trial(study)


def search(
    study: optuna.Study,
    *,
    n_trials: int | None = None,
    budget_minutes: float | None = None,
    device: str | None = None,
    progress: bool = True,
    on_round: Callable[[RoundInfo], None] | None = None,
    on_start: Callable[[str, int], None] | None = None,
) -> SearchResult:
    """Run (or resume) the global-local order search of ``study``.

    ``mixture`` studies evaluate each round's orders in one mixture profile; ``trial`` studies
    train one short profile per trial and let the pruner stop poor orders. The search stops
    when the schedule is done (after its tournament), after ``n_trials`` trials, or, once
    ``budget_minutes`` have passed, after the tournament that the spent budget brings forward.
    ``on_start(stage, orders)`` is called before and ``on_round(info)`` after every round. A
    study whose learnability check found that no order learned runs nothing (``stopped`` says so)."""
    if stopped_by_check(study):
        return SearchResult(study.study_name, [], 0, 0.0, NO_ORDER_LEARNED)
    spec = read_spec(study).resolved()
    task = task_of(study)
    config = spec.profile_config(task, device)
    splits = profile_splits(task, config)
    sizes = layout_sizes(task.length, spec.blocks)
    sampler = study.sampler
    start = time.perf_counter()
    ran, stopped = 0, "schedule done"
    deadline = None if budget_minutes is None else start + 60.0 * budget_minutes

    def objective(trial: optuna.Trial) -> float:  # `trial` mode: one short profile per trial
        _bulk.set_system_attr(study, trial_id_of(trial), OWNER_ATTR, own_lease(study))
        order = suggest_order(trial, task.length, blocks=spec.blocks)

        def on_checkpoint(step: int, losses: dict[Order, float]) -> None:
            trial.report(losses[order], step)
            if trial.should_prune():
                raise optuna.TrialPruned()

        return float(profile(task, [order], config, splits=splits, on_checkpoint=on_checkpoint, progress=False).scores[0])

    while n_trials is None or ran < n_trials:
        _fail_stale(study)
        if deadline is not None and time.perf_counter() > deadline and isinstance(sampler, HierarchicalOrderSampler):
            sampler.end_local_stages(study, blocks=sizes)  # budget spent: on to the tournament
        status = sampler.stage_status(study, blocks=sizes) if isinstance(sampler, HierarchicalOrderSampler) else None
        if status is not None and status.unexplored == 0 and not status.references:
            elsewhere = running_elsewhere(study)
            stopped = (f"every order is tried or being tried: {elsewhere}; they finish there (re-run this "
                       "command after them to see their scores)" if elsewhere else "every order was tried")
            break
        if status is not None and status.stage == "explore" and n_trials is None:
            break  # the schedule is done (give n_trials to keep exploring)
        if deadline is not None and time.perf_counter() > deadline and (status is None or not status.untried):
            stopped = "budget spent"
            break
        left = None if n_trials is None else n_trials - ran
        tick = time.perf_counter()
        if spec.mode == "mixture" and isinstance(sampler, HierarchicalOrderSampler):
            refs = len(status.references) if status.stage != "explore" else spec.references
            size = spec.round_size + spec.model_proposals  # one stage = one run
            if left is not None:
                size = min(size, left - refs)
            if size < (0 if status.stage.startswith("tournament") else 1):
                stopped = f"{n_trials} trials asked for: too few left for the next round's references"
                break
            if on_start:
                on_start(status.stage if status else "round", min(size, len(status.untried)) if status else size)
            # explore while another process holds the current stage, or when asked for more trials
            explore = n_trials is not None or status.stage != "explore"
            outcome = _mixture_round(study, task, spec, device, splits, size, explore=explore, progress=progress)
            if outcome is None:
                break
            plan, count = outcome
            label = plan.stage
        else:
            size = len(status.untried) if status is not None and status.untried else spec.round_size
            if status is not None:
                size = min(size, max(1, status.unexplored))
            if left is not None:
                size = min(size, left)
            label = status.stage if status else "round"
            if on_start:
                on_start(label, size)
            study.optimize(objective, n_trials=size, catch=(), show_progress_bar=progress)
            count = size
        ran += count
        if on_round:
            best = best_orders(study, 1)
            on_round(RoundInfo(label, count, _evaluated(study), best[0][0] if best else None,
                               best[0][1] if best else None, time.perf_counter() - tick))
    else:
        stopped = f"{n_trials} trials run"
    if isinstance(sampler, HierarchicalOrderSampler) and tournament_scores(study) and not _owners(study):
        status = sampler.stage_status(study, blocks=sizes)
        if status is not None and status.stage == "explore":  # the schedule is done, nothing runs: found #1 is final
            record_verdict(study)
    return SearchResult(study.study_name, best_orders(study), ran, time.perf_counter() - start, stopped)
