"""``HierarchicalOrderSampler``: the paper's global-local order search as an Optuna sampler."""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from orderopt.errors import ConfigError, InvalidOrderError
from orderopt.orders import Order, hierarchical_encode, random_order, validate_order
from orderopt.samplers._encoding import decode_params, encode_params, order_param_names
from orderopt.samplers._locking import study_lock
from orderopt.samplers._schedule import Schedule, Stage, mutate

__all__ = ["HierarchicalOrderSampler", "StageStatus"]

_SEED_ATTR = "orderopt:schedule_seed"
INIT_MODES = ("random", "structured")


@dataclass
class _History:
    results: dict[Order, float] = field(default_factory=dict)  # order -> best loss (lower is better)
    tried: set[Order] = field(default_factory=set)  # has a result, or is running / waiting
    pending: list[int] = field(default_factory=list)  # numbers of live trials without an order yet
    study_orders: list[Order] = field(default_factory=list)  # evaluated orders not proposed by us
    upto: int = 0  # (cached prefix only) trials 0..upto-1 are finished and included


@dataclass(frozen=True)
class StageStatus:
    """Where the schedule stands (for progress bars, mixture rounds and reports)."""

    stage: str
    index: int
    candidates: tuple[Order, ...]
    untried: tuple[Order, ...]
    evaluated: int
    best_order: Order | None
    best_value: float | None
    unexplored: int  # permutations never tried (capped at 10**9)


class HierarchicalOrderSampler(BaseSampler):
    """Searches permutations suggested by :func:`~orderopt.samplers.suggest_order` with the
    global-local schedule of Sato, Kawamoto and Kera (arXiv 2506.23875), generalised to any
    objective: coarse-to-fine block permutations of the incumbents (global), then inner
    permutations and block moves around the best order (local), then mutations of the elites.

    All search state is replayed from the study's trials, so several processes sharing one
    storage continue one search. Orders of RUNNING/WAITING trials are never proposed again;
    FAILED trials are ignored (their orders may be proposed again); a PRUNED trial counts with
    its last reported intermediate value.

    Args:
        levels: number of global levels ``K``; the population is ``T = (K + 1)!``.
        init: ``"random"`` or ``"structured"`` (``seed_orders``, default forward and reverse,
            cut into blocks of ``structured_block`` and permuted). Orders already evaluated in
            the study (e.g. enqueued) and ``seed_orders`` always come first.
        seed_orders: orders to evaluate first.
        structured_block: block length for ``init="structured"`` (default ``n // levels``).
        local_cap: at most this many inner permutations per block in a local stage.
        elite: how many of the best orders the exploration mutates (default ``max(2, T // 4)``).
        independent_sampler: sampler for params that are not orders (default ``RandomSampler``).
        seed: schedule seed. ``None`` draws one and stores it in the study, so every worker
            of that study uses the same.

    Example:
        .. code-block:: python

            import optuna
            from orderopt.samplers import HierarchicalOrderSampler, suggest_order

            secret = (3, 1, 4, 0, 5, 2)

            def objective(trial):
                order = suggest_order(trial, 6)
                return sum(a != b for a, b in zip(order, secret))

            study = optuna.create_study(sampler=HierarchicalOrderSampler(seed=0))
            study.optimize(objective, n_trials=200)
            assert study.best_value == 0
    """

    def __init__(
        self,
        *,
        levels: int = 3,
        init: str = "random",
        seed_orders: Sequence[Sequence[int]] = (),
        structured_block: int | None = None,
        local_cap: int = 24,
        elite: int | None = None,
        independent_sampler: BaseSampler | None = None,
        seed: int | None = None,
    ) -> None:
        if levels < 1:
            raise ConfigError(f"levels must be >= 1, got {levels}")
        if init not in INIT_MODES:
            raise ConfigError(f"init must be one of {', '.join(INIT_MODES)}, got {init!r}")
        if local_cap < 1:
            raise ConfigError(f"local_cap must be >= 1, got {local_cap}")
        self._seed_orders = tuple(validate_order(o) for o in seed_orders)
        lengths = {len(o) for o in self._seed_orders}
        if len(lengths) > 1:
            raise InvalidOrderError(f"seed orders have different lengths {sorted(lengths)}; give permutations of one n")
        self._levels, self._init, self._block, self._local_cap = levels, init, structured_block, local_cap
        self._elite = elite
        self._seed = seed
        self._independent = independent_sampler or RandomSampler(seed=seed)
        self._lock = threading.RLock()
        self._plans: dict[tuple[int, str], Order] = {}  # (trial_id, name) -> planned order
        self._finished: dict[tuple[int, int, str], _History] = {}  # history of the finished prefix
        self._located: dict[tuple, tuple] = {}  # memo of Schedule.trace per study, name and layout
        self._layout_cache: dict[tuple[int, int], dict[str, tuple[int, ...]]] = {}

    # ---------------------------------------------------------------- optuna
    def reseed_rng(self) -> None:
        self._independent.reseed_rng()  # the schedule seed is per study and must not change

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        space: dict[str, BaseDistribution] = {}
        for name, sizes in self._layouts(study).items():
            for pname, high in order_param_names(name, sizes):
                space[pname] = IntDistribution(0, high)
        return space

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        out: dict[str, Any] = {}
        for name, sizes in self._layouts(study).items():
            params = encode_params(self._plan(study, trial, name, sizes), name, sizes)
            out.update({k: v for k, v in params.items() if k in search_space})
        return out

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        for name, sizes in self._trial_layouts(trial).items():
            if param_name.startswith(name + "."):
                params = encode_params(self._plan(study, trial, name, sizes), name, sizes)
                if param_name in params:
                    return params[param_name]
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent.before_trial(study, trial)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        with self._lock:
            for key in [k for k in self._plans if k[0] == trial._trial_id]:
                del self._plans[key]
        self._independent.after_trial(study, trial, state, values)

    # --------------------------------------------------------------- public
    def stage_status(
        self, study: Study, name: str = "order", *, blocks: Sequence[int] | None = None
    ) -> StageStatus | None:
        """The current stage of order ``name`` in ``study``. Before the study's first trial the
        block sizes are unknown unless ``blocks`` gives them; then it returns ``None``."""
        sizes = self._layouts(study).get(name) or (tuple(int(b) for b in blocks) if blocks else None)
        if sizes is None:
            return None
        hist = self._history(study, name, current=None)
        schedule = self._schedule(study, sizes)
        stage = self._locate(study, name, sizes, schedule, hist)
        if stage is None:
            stage = Stage(-1, "explore", ())
        untried = tuple(c for c in stage.candidates if c not in hist.tried)
        best = min(hist.results.items(), key=lambda kv: (kv[1], kv[0]), default=None)
        sign = 1.0 if _direction(study) == StudyDirection.MINIMIZE else -1.0
        n = sum(sizes)
        space = math.factorial(n) if n <= 12 else 10**9
        return StageStatus(
            stage.label, stage.index, stage.candidates, untried, len(hist.results),
            best[0] if best else None, sign * best[1] if best else None, max(0, min(space, 10**9) - len(hist.tried)),
        )

    # -------------------------------------------------------------- helpers
    @staticmethod
    def _trial_layouts(trial: FrozenTrial) -> dict[str, tuple[int, ...]]:
        out = {}
        for key, value in trial.user_attrs.items():
            if key.endswith("_blocks") and isinstance(value, list):
                out[key[: -len("_blocks")]] = tuple(int(v) for v in value)
        return out

    def _layouts(self, study: Study) -> dict[str, tuple[int, ...]]:
        """Order names and block sizes, from the latest trial that suggested an order (cached:
        a study keeps its layout)."""
        key = (id(study._storage), study._study_id)
        if key in self._layout_cache:
            return self._layout_cache[key]
        for t in reversed(study.get_trials(deepcopy=False)):
            layouts = {k: v for k, v in self._trial_layouts(t).items() if k in t.user_attrs}
            if layouts:
                self._layout_cache[key] = layouts
                return layouts
        return {}

    def _schedule_seed(self, study: Study) -> int:
        if self._seed is not None:
            return int(self._seed)
        attrs = study._storage.get_study_system_attrs(study._study_id)
        if _SEED_ATTR not in attrs:
            study._storage.set_study_system_attr(
                study._study_id, _SEED_ATTR, int(np.random.SeedSequence().entropy % 2**31)
            )
            attrs = study._storage.get_study_system_attrs(study._study_id)
        return int(attrs[_SEED_ATTR])

    def _schedule(self, study: Study, sizes: tuple[int, ...]) -> Schedule:
        n = sum(sizes)
        if self._seed_orders and len(self._seed_orders[0]) != n:
            raise InvalidOrderError(f"seed orders have length {len(self._seed_orders[0])} but the order has n={n}")
        return Schedule(
            n, levels=self._levels, seed=self._schedule_seed(study), init=self._init,
            seed_orders=self._seed_orders, structured_block=self._block, local_cap=self._local_cap,
            representable=_representable(sizes),
        )

    def _history(self, study: Study, name: str, current: int | None) -> _History:
        """Results, tried and pending orders of ``name``, derived from the study's trials.

        Finished trials never change, so the history of the longest prefix of finished trials is
        kept per study and only the trials after it are read again: O(new trials) per call."""
        sign = 1.0 if _direction(study) == StudyDirection.MINIMIZE else -1.0
        key = (id(study._storage), study._study_id, name)
        trials = study.get_trials(deepcopy=False)
        with self._lock:
            prefix = self._finished.get(key)
            if prefix is None or prefix.upto > len(trials):
                prefix = self._finished[key] = _History()
            hist = _History(dict(prefix.results), set(prefix.tried), [], list(prefix.study_orders))
            start = prefix.upto
            extend = True
            mine = {tid for (tid, n) in self._plans if n == name}
            for t in trials[start:]:
                if extend and t.state.is_finished():
                    self._add_finished(prefix, t, name, sign)
                    prefix.upto = t.number + 1
                    self._add_finished(hist, t, name, sign)
                    continue
                extend = False
                if t.state.is_finished():
                    self._add_finished(hist, t, name, sign)
                    continue
                raw = t.user_attrs.get(name)
                if raw is None and t.state == TrialState.WAITING:
                    fixed = t.system_attrs.get("fixed_params") or {}
                    sizes = self._trial_layouts(t).get(name)
                    if sizes and any(k.startswith(name + ".") for k in fixed):
                        raw = decode_params(fixed, name, sizes)
                if raw is None:
                    if t.number != current and t._trial_id not in mine:
                        hist.pending.append(t.number)
                    continue
                hist.tried.add(tuple(int(v) for v in raw))
        return hist

    @staticmethod
    def _add_finished(hist: _History, t: FrozenTrial, name: str, sign: float) -> None:
        if t.state == TrialState.FAIL:
            return
        raw = t.user_attrs.get(name)
        if raw is None:
            return
        order = tuple(int(v) for v in raw)
        loss = _loss(t, sign)
        hist.tried.add(order)
        if loss is not None:
            if order not in hist.results or loss < hist.results[order]:
                hist.results[order] = loss
            ours = "stage" in t.user_attrs or f"{name}_stage" in t.user_attrs
            if not ours and order not in hist.study_orders:
                hist.study_orders.append(order)

    def _plan(self, study: Study, trial: FrozenTrial, name: str, sizes: tuple[int, ...]) -> Order:
        key = (trial._trial_id, name)
        with self._lock:
            if key in self._plans:
                return self._plans[key]
            if len(study.directions) > 1:
                raise ConfigError("HierarchicalOrderSampler supports single-objective studies only")
            # One planner at a time across every process of the study; the chosen order is
            # recorded on the trial before the lock is released, so the next planner skips it.
            with study_lock(study._storage, study._study_id):
                order, label, index = self._choose(study, trial, name, sizes)
                storage = study._storage
                prefix = "" if name == "order" else f"{name}_"
                storage.set_trial_user_attr(trial._trial_id, name, list(order))
                storage.set_trial_user_attr(trial._trial_id, f"{prefix}stage", label)
                storage.set_trial_user_attr(trial._trial_id, f"{prefix}round", int(index))
            self._plans[key] = order
        return order

    def _choose(self, study: Study, trial: FrozenTrial, name: str, sizes: tuple[int, ...]) -> tuple[Order, str, int]:
        hist = self._history(study, name, current=trial.number)
        hist.tried.update(o for (_, n), o in self._plans.items() if n == name)  # claimed by our threads
        schedule = self._schedule(study, sizes)
        stage = self._locate(study, name, sizes, schedule, hist)
        untried = [c for c in stage.candidates if c not in hist.tried] if stage else []
        # Live trials that have no order yet take the untried candidates in trial-number order
        # (this also keeps storages without a cross-process lock mostly free of duplicates).
        slot = sum(1 for number in hist.pending if number < trial.number)
        if slot < len(untried):
            return untried[slot], stage.label, stage.index
        return self._explore(schedule, hist, trial.number, sizes), "explore", (stage.index if stage else -1)

    def _locate(self, study: Study, name: str, sizes: tuple[int, ...], schedule: Schedule, hist: _History
                ) -> Stage | None:
        """``schedule.locate``, memoised: replaying the schedule sorts every stage, while checking
        that the candidates it looked at still have the same results is one lookup each."""
        key = (id(study._storage), study._study_id, name, sizes, schedule.seed)
        head = tuple(hist.study_orders[: schedule.population])
        with self._lock:
            memo = self._located.get(key)
            if memo is not None and memo[0] == head and all(hist.results.get(c) == v for c, v in memo[1]):
                return memo[2]
        stage, seen = schedule.trace(hist.results, hist.study_orders)
        with self._lock:
            self._located[key] = (head, tuple((c, hist.results.get(c)) for c in seen), stage)
        return stage

    def _explore(self, schedule: Schedule, hist: _History, number: int, sizes: tuple[int, ...]) -> Order:
        n = schedule.n
        rng = np.random.default_rng([schedule.seed, 3, number])
        size = self._elite or max(2, schedule.population // 4)
        elite = [o for o, _ in heapq.nsmallest(size, hist.results.items(), key=lambda kv: (kv[1], kv[0]))]
        keep = _representable(sizes)
        if elite:
            weights = 1.0 / np.arange(1, len(elite) + 1)
            weights /= weights.sum()
            for attempt in range(300):
                cand = elite[int(rng.choice(len(elite), p=weights))]
                for _ in range(1 + attempt // 100):  # widen the step when the neighbourhood is used up
                    cand = mutate(cand, rng)
                if cand not in hist.tried and keep(cand):
                    return cand
        if len(hist.tried) < math.factorial(n):
            for _ in range(10_000):
                cand = random_order(n, int(rng.integers(2**31)))
                if cand not in hist.tried and keep(cand):
                    return cand
        return elite[0] if elite else random_order(n, int(rng.integers(2**31)))


def _direction(study: Study) -> StudyDirection:
    return study.directions[0]


def _loss(trial: FrozenTrial, sign: float) -> float | None:
    """Lower is better; ``None`` while the trial has no result."""
    if trial.state == TrialState.COMPLETE and trial.value is not None:
        return sign * float(trial.value)
    if trial.state == TrialState.PRUNED:
        if trial.intermediate_values:
            return sign * float(trial.intermediate_values[max(trial.intermediate_values)])
        return math.inf
    return None


def _representable(sizes: tuple[int, ...]):
    if len(sizes) == 1 or all(s == 1 for s in sizes):
        return lambda order: True

    def check(order: Order) -> bool:
        try:
            hierarchical_encode(order, sizes)
        except InvalidOrderError:
            return False
        return True

    return check

