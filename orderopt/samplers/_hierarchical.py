"""``HierarchicalOrderSampler``: the paper's global-local order search as an Optuna sampler."""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from ._errors import ConfigError, InvalidOrderError
from ._orders import Order, hierarchical_encode, random_order, validate_order
from ._compat import set_trial_attrs, storage_of, study_id_of, trial_id_of
from ._encoding import encode_params, layout_attr, order_param_names, step_params
from ._history import EXPLORE, ROLE_ATTR, ROUND_ATTR, STAGE_ATTR, History, HistoryReader
from ._locking import study_lock
from ._schedule import Schedule, ScheduleConfig, Stage, mutate
from ._scores import reference_anchors

__all__ = ["HierarchicalOrderSampler", "StageStatus", "BatchPlan", "INIT_MODES"]

_SEED_ATTR = "orderopt:schedule_seed"
STOP_LOCAL_ATTR = "orderopt:stop_local"  # study system attr: local stages end before this stage index
INIT_MODES = ("random", "structured")
CANDIDATE, MODEL, REFERENCE, TOURNAMENT = "candidate", "model", "reference", "tournament"


@dataclass(frozen=True)
class StageStatus:
    """Where the schedule stands (for progress lines, rounds and reports)."""

    stage: str
    index: int
    candidates: tuple[Order, ...]
    untried: tuple[Order, ...]
    evaluated: int
    best_order: Order | None
    best_value: float | None
    unexplored: int  # permutations never tried (capped at 10**9)
    references: tuple[Order, ...] = ()


@dataclass(frozen=True)
class BatchPlan:
    """The orders of one batch (e.g. one mixture profile), claimed for the caller.

    ``roles[i]`` says why ``orders[i]`` is in it: a new ``candidate``, a ``reference``
    (re-evaluated so the batch's scores can be put on the study's scale), a ``tournament``
    entrant, or an ``explore`` mutation. ``anchors`` holds the references that set the scale, with
    their scores before this batch (see :func:`orderopt.samplers._scores.reference_anchors`);
    the other references are only scored again."""

    stage: str
    index: int
    orders: tuple[Order, ...]
    roles: tuple[str, ...]
    anchors: dict[Order, float]  # in the study's value space

    @property
    def references(self) -> tuple[Order, ...]:
        """The orders re-evaluated in this batch to anchor its scores."""
        return tuple(o for o, r in zip(self.orders, self.roles) if r in (REFERENCE, TOURNAMENT))

    @property
    def candidates(self) -> tuple[Order, ...]:
        """The batch's new orders (neither references nor tournament entrants)."""
        return tuple(o for o, r in zip(self.orders, self.roles) if r not in (REFERENCE, TOURNAMENT))


class HierarchicalOrderSampler(BaseSampler):
    """Searches permutations suggested by :func:`~orderopt.samplers.suggest_order` with the
    global-local schedule of Sato, Kawamoto and Kera (arXiv 2506.23875), generalised to any
    objective: coarse-to-fine block permutations of the incumbents (global), then block moves,
    inner permutations, insertions and swaps around the best orders (local), then mutations of
    the elites (see :mod:`orderopt.samplers._schedule` for the stages).

    All search state is replayed from the study's trials, so several processes sharing one
    storage continue one search. Orders of RUNNING/WAITING trials are never proposed again;
    FAILED trials are ignored (their orders may be proposed again); a PRUNED trial counts with
    its last reported intermediate value (or its comparable score, see
    :mod:`orderopt.samplers._scores`). An order evaluated several times counts with its mean.

    Trials are planned one at a time (``study.optimize``/``ask``), or a whole batch at once with
    :meth:`batch` for objectives that evaluate many orders together (mixture profiles).

    Args:
        levels: number of global levels ``K``.
        init: ``"random"`` or ``"structured"`` (``seed_orders``, default forward and reverse,
            cut into blocks of ``structured_block`` and permuted). Orders already evaluated in
            the study (e.g. enqueued) and ``seed_orders`` always come first.
        seed_orders: orders to evaluate first.
        pin_seed_orders: the seed orders always enter the tournament (for orders a prior trusts,
            e.g. the dependency probe's, whose profile may not stand out).
        structured_block: block length for ``init="structured"`` (default ``n // levels``).
        local_cap: at most this many inner permutations per block in a local stage.
        elite: how many of the best orders the exploration mutates (default ``max(2, T // 4)``).
        independent_sampler: sampler for params that are not orders (default ``RandomSampler``).
        seed: schedule seed. ``None`` draws one and stores it in the study, so every worker
            of that study uses the same.
        population: size ``T`` of ``global-1`` (default ``(K + 1)!``).
        local: ``"sequential"`` (the paper's local stages, one block length at a time around
            the best order) or ``"rounds"`` (the neighbourhoods of the best ``incumbents``
            orders together, ``round_size`` at most, until ``patience`` stages in a row improve
            the best score by no more than ``min_gain``, relative).
        min_gain: in ``"rounds"`` style, the relative gain that counts as a new best (2%).
        references: orders re-evaluated in every stage (and batch) beside its candidates.
        tournament_size: re-evaluate the best this-many orders together at the end, in
            ``tournament_runs`` stages (0 = no tournament).
        model_proposals: when trials report per-item costs (system attr
            ``orderopt:item_scores``), add this many candidates proposed by the precedence model
            to every stage after the first (see :mod:`orderopt.samplers._precedence`).

    Example:
        >>> import optuna
        >>> from orderopt.samplers import HierarchicalOrderSampler, suggest_order
        >>> secret = (3, 1, 4, 0, 5, 2)
        >>> def objective(trial):
        ...     order = suggest_order(trial, 6)
        ...     return sum(a != b for a, b in zip(order, secret))
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(sampler=HierarchicalOrderSampler(seed=0))
        >>> study.optimize(objective, n_trials=200)
        >>> study.best_value
        0.0
    """

    def __init__(
        self,
        *,
        levels: int = 3,
        init: str = "random",
        seed_orders: Sequence[Sequence[int]] = (),
        pin_seed_orders: bool = False,
        structured_block: int | None = None,
        local_cap: int = 24,
        elite: int | None = None,
        independent_sampler: BaseSampler | None = None,
        seed: int | None = None,
        population: int | None = None,
        local: str = "sequential",
        incumbents: int = 4,
        round_size: int = 1024,
        patience: int = 2,
        min_gain: float = 0.02,
        references: int = 0,
        tournament_size: int = 0,
        tournament_runs: int = 2,
        model_proposals: int = 0,
    ) -> None:
        if init not in INIT_MODES:
            raise ConfigError(f"init must be one of {', '.join(INIT_MODES)}, got {init!r}")
        self.config = ScheduleConfig(
            levels=levels, population=population, local=local, local_cap=local_cap, incumbents=incumbents,
            round_size=round_size, patience=patience, min_gain=min_gain, references=references,
            tournament_size=tournament_size,
            tournament_runs=tournament_runs, model_proposals=model_proposals, init=init,
            structured_block=structured_block,
        ).check()
        if elite is not None and elite < 1:
            raise ConfigError(f"elite must be >= 1, got {elite}")
        self._seed_orders = tuple(validate_order(o) for o in seed_orders)
        self._pin_seed_orders = bool(pin_seed_orders)
        lengths = {len(o) for o in self._seed_orders}
        if len(lengths) > 1:
            raise InvalidOrderError(f"seed orders have different lengths {sorted(lengths)}; give permutations of one n")
        self._elite = elite
        self._seed = seed
        self._independent = independent_sampler or RandomSampler(seed=seed)
        self._lock = threading.RLock()
        self._plans: dict[tuple[int, str], Order] = {}  # (trial_id, name) -> planned order
        self._reader = HistoryReader()
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
            for key in [k for k in self._plans if k[0] == trial_id_of(trial)]:
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
        hist = self._reader.read(study, name, current=None)
        schedule = self._schedule(study, sizes)
        stage = self._locate(study, name, sizes, schedule, hist) or Stage(-1, EXPLORE, ())
        untried = tuple(o for o in stage.items() if (stage.index, o) not in hist.assigned)
        best = hist.ranked[0] if hist.ranked else None
        n = sum(sizes)
        space = math.factorial(n) if n <= 12 else 10**9
        return StageStatus(
            stage.label, stage.index, stage.candidates, untried, len(hist.scores),
            best[1] if best else None, _sign(study) * best[0] if best else None,
            max(0, min(space, 10**9) - len(hist.tried)), stage.references,
        )

    def end_local_stages(self, study: Study, name: str = "order", *, blocks: Sequence[int] | None = None) -> bool:
        """Skip the remaining local stages (e.g. the time budget is spent): the schedule moves on
        to its tournament. Recorded in the study, so every process and every replay agrees. Only
        done while the next local stage has no trial yet; returns whether it was done."""
        sizes = self._layouts(study).get(name) or (tuple(int(b) for b in blocks) if blocks else None)
        if sizes is None:
            return False
        storage, sid = storage_of(study), study_id_of(study)
        with self._lock, study_lock(storage, sid):
            if STOP_LOCAL_ATTR in storage.get_study_system_attrs(sid):
                return True
            hist = self._reader.read(study, name, current=None)
            stage = self._locate(study, name, sizes, self._schedule(study, sizes), hist)
            if stage is None or stage.kind != "local" or any((stage.index, o) in hist.assigned for o in stage.items()):
                return False
            storage.set_study_system_attr(sid, STOP_LOCAL_ATTR, stage.index)
            return True

    @contextlib.contextmanager
    def batch(
        self, study: Study, max_candidates: int, *, name: str = "order", blocks: Sequence[int] | None = None,
        explore: bool = True,
    ) -> Iterator[BatchPlan | None]:
        """Claim one batch of orders: the next unclaimed candidates of the current stage (at most
        ``max_candidates``) with the stage's references, or a tournament stage, or (when the
        stage waits for other processes' trials, or the schedule is done, and ``explore``)
        mutations of the elites. Yields ``None`` when there is nothing to do.

        The cross-process planning lock is held inside the ``with`` block: create the batch's
        trials there (with :meth:`trial_attrs`), so that no other process claims the same orders."""
        sizes = self._layouts(study).get(name) or (tuple(int(b) for b in blocks) if blocks else None)
        if sizes is None:
            raise ConfigError(f"order {name!r} has no known block layout yet; pass blocks=")
        with self._lock, study_lock(storage_of(study), study_id_of(study)):
            self._layout_cache.setdefault((id(storage_of(study)), study_id_of(study)), {}).setdefault(name, sizes)
            hist = self._reader.read(study, name, current=None)
            schedule = self._schedule(study, sizes)
            stage = self._locate(study, name, sizes, schedule, hist)
            yield self._batch_plan(study, schedule, hist, stage, max_candidates, explore)

    def trial_attrs(self, plan: BatchPlan, order: Order, role: str, *, name: str = "order",
                    sizes: Sequence[int] | None = None, readable: bool = False) -> tuple[dict, dict, dict, dict]:
        """``(params, distributions, user_attrs, system_attrs)`` of a trial that evaluates
        ``order`` in ``plan``: the same bookkeeping as a trial this sampler plans itself. The
        params are Lehmer digits, or with ``readable`` the order itself (:func:`step_params`)."""
        sizes = tuple(sizes or (len(order),))
        user, system = self._attrs(name, order, plan.stage, plan.index, role)
        user[layout_attr(name)] = list(sizes)
        if readable:
            return (*step_params(order, name), user, system)
        params = encode_params(order, name, sizes)
        dists = {p: IntDistribution(0, high) for p, high in order_param_names(name, sizes)}
        return params, {p: dists[p] for p in params}, user, system

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
        key = (id(storage_of(study)), study_id_of(study))
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
        storage, sid = storage_of(study), study_id_of(study)
        attrs = storage.get_study_system_attrs(sid)
        if _SEED_ATTR not in attrs:
            storage.set_study_system_attr(sid, _SEED_ATTR, int(np.random.SeedSequence().entropy % 2**31))
            attrs = storage.get_study_system_attrs(sid)
        return int(attrs[_SEED_ATTR])

    def _schedule(self, study: Study, sizes: tuple[int, ...]) -> Schedule:
        n = sum(sizes)
        if self._seed_orders and len(self._seed_orders[0]) != n:
            raise InvalidOrderError(f"seed orders have length {len(self._seed_orders[0])} but the order has n={n}")
        stop = storage_of(study).get_study_system_attrs(study_id_of(study)).get(STOP_LOCAL_ATTR)
        return Schedule(n, self.config, seed=self._schedule_seed(study), seed_orders=self._seed_orders,
                        pinned=self._seed_orders if self._pin_seed_orders else (), representable=_representable(sizes), stop_local=stop)

    @staticmethod
    def _attrs(name: str, order: Order, label: str, index: int, role: str) -> tuple[dict, dict]:
        prefix = "" if name == "order" else f"{name}_"
        sys_prefix = "" if name == "order" else f"{name}:"
        user = {name: list(order), f"{prefix}stage": label, f"{prefix}round": int(index)}
        system = {sys_prefix + STAGE_ATTR: label, sys_prefix + ROUND_ATTR: int(index), sys_prefix + ROLE_ATTR: role}
        return user, system

    def _plan(self, study: Study, trial: FrozenTrial, name: str, sizes: tuple[int, ...]) -> Order:
        key = (trial_id_of(trial), name)
        with self._lock:
            if key in self._plans:
                return self._plans[key]
            if len(study.directions) > 1:
                raise ConfigError("HierarchicalOrderSampler supports single-objective studies only")
            # One planner at a time across every process of the study; the chosen order is
            # recorded on the trial before the lock is released, so the next planner skips it.
            storage = storage_of(study)
            with study_lock(storage, study_id_of(study)):
                order, label, index, role = self._choose(study, trial, name, sizes)
                set_trial_attrs(storage, trial_id_of(trial), *self._attrs(name, order, label, index, role))
            self._plans[key] = order
        return order

    def _choose(self, study: Study, trial: FrozenTrial, name: str, sizes: tuple[int, ...]
                ) -> tuple[Order, str, int, str]:
        mine = {tid for (tid, n) in self._plans if n == name}
        hist = self._reader.read(study, name, current=trial.number, planned_here=lambda tid: tid in mine)
        schedule = self._schedule(study, sizes)
        stage = self._locate(study, name, sizes, schedule, hist)
        if stage is not None:
            roles = {o: MODEL if o in stage.proposed else CANDIDATE for o in stage.candidates}
            roles.update({o: TOURNAMENT if stage.kind == "tournament" else REFERENCE for o in stage.references})
            open_items = [o for o in stage.items() if (stage.index, o) not in hist.assigned
                          and (roles[o] not in (CANDIDATE, MODEL) or o not in hist.tried)]
            # Live trials that have no order yet take the open items in trial-number order
            # (this also keeps storages without a cross-process lock mostly free of duplicates).
            slot = sum(1 for number in hist.pending if number < trial.number)
            if slot < len(open_items):
                order = open_items[slot]
                return order, stage.label, stage.index, roles[order]
        order = self._explore(schedule, hist, trial.number, set())
        return order, EXPLORE, (stage.index if stage else -1), EXPLORE

    def _batch_plan(self, study: Study, schedule: Schedule, hist: History, stage: Stage | None,
                    max_candidates: int, explore: bool) -> BatchPlan | None:
        sign = _sign(study)
        if stage is not None:
            unclaimed = [o for o in stage.candidates
                         if (stage.index, o) not in hist.assigned and o not in hist.tried][:max_candidates]
            anchors = _anchor_map(stage.references, stage.anchors, sign)
            if stage.kind == "tournament":
                if not any((stage.index, o) in hist.assigned for o in stage.references):
                    return BatchPlan(stage.label, stage.index, stage.references,
                                     (TOURNAMENT,) * len(stage.references), anchors)
            elif unclaimed:
                roles = tuple(MODEL if o in stage.proposed else CANDIDATE for o in unclaimed)
                return BatchPlan(stage.label, stage.index, (*unclaimed, *stage.references),
                                 roles + (REFERENCE,) * len(stage.references), anchors)
        if not explore or (stage is None and not hist.scores):
            return None
        refs = hist.best(self.config.references)
        orders: list[Order] = []
        chosen: set[Order] = set()
        for i in range(min(max_candidates, self.config.round_size)):
            cand = self._explore(schedule, hist, len(hist.tried) + i, chosen)
            if cand in hist.tried or cand in chosen:
                break  # the space is used up
            orders.append(cand)
            chosen.add(cand)
        if not orders:
            return None
        anchors = _anchor_map(refs, reference_anchors([hist.scores[o] for o in refs]), sign)
        return BatchPlan(EXPLORE, stage.index if stage else -1, (*orders, *refs),
                         (EXPLORE,) * len(orders) + (REFERENCE,) * len(refs), anchors)

    def _locate(self, study: Study, name: str, sizes: tuple[int, ...], schedule: Schedule, hist: History
                ) -> Stage | None:
        """``schedule.trace``, memoised: replaying the schedule sorts every stage, while checking
        that the observations it used are unchanged is one comparison per stage."""
        key = (id(storage_of(study)), study_id_of(study), name, sizes, schedule.seed, schedule.stop_local)
        head = tuple(hist.study_orders[: schedule.population])
        means = hist.means()
        # first finished evaluation, not the mean: a later re-evaluation (as a reference or a
        # tournament entrant) must not rewrite the stages it was credited to
        evaluated = {o: v[0] for o, v in hist.scores.items()}
        items = {k: len(v) for k, v in hist.items.items()}
        with self._lock:
            memo = self._located.get(key)
            if memo is not None and memo.holds(head, means, evaluated, items):
                return memo.stage
        stage = schedule.trace(means, hist.study_orders, evaluated, hist.items)
        # what the replay read: every stage before the one it stopped at (all, when it finished)
        upto = stage.index if stage is not None else max([*means, *items], default=-1) + 1
        memo = _Trace(stage, head, {i: means.get(i) for i in range(-1, upto)},
                      {i: items.get(i) for i in range(-1, upto)}, evaluated)
        with self._lock:
            self._located[key] = memo
        return stage

    def _elite_of(self, schedule: Schedule, hist: History) -> list[Order]:
        """The best orders by mean score, best first: the parents of explore proposals."""
        return list(hist.best(self._elite or max(2, schedule.population // 4)))

    def _explore(self, schedule: Schedule, hist: History, number: int, avoid: set[Order]) -> Order:
        """A mutation of an elite order (the better, the likelier) never tried and not in
        ``avoid``; a random untried order when the elites' neighbourhoods are used up."""
        n = schedule.n
        rng = np.random.default_rng([schedule.seed, 3, number])
        elite = self._elite_of(schedule, hist)  # a slice of the history's kept ranking
        keep = schedule.representable
        if elite:
            weights = 1.0 / np.arange(1, len(elite) + 1)
            weights /= weights.sum()
            for attempt in range(300):
                cand = elite[int(rng.choice(len(elite), p=weights))]
                for _ in range(1 + attempt // 100):  # widen the step when the neighbourhood is used up
                    cand = mutate(cand, rng)
                if cand not in hist.tried and cand not in avoid and keep(cand):
                    return cand
        if len(hist.tried) + len(avoid) < math.factorial(n):
            for _ in range(10_000):
                cand = random_order(n, int(rng.integers(2**31)))
                if cand not in hist.tried and cand not in avoid and keep(cand):
                    return cand
        return elite[0] if elite else random_order(n, int(rng.integers(2**31)))


@dataclass(frozen=True)
class _Trace:
    """A memoised ``Schedule.trace``: the stage it stopped at and what it read to get there."""

    stage: Stage | None
    head: tuple[Order, ...]
    means: dict[int, dict[Order, float] | None]  # stage -> mean observations, for every stage before ``stage``
    items: dict[int, int | None]  # stage -> number of per-item rows, likewise
    evaluated: dict[Order, float]  # first evaluation of every order then evaluated

    def holds(self, head: tuple[Order, ...], means: dict, evaluated: dict[Order, float], items: dict) -> bool:
        """Whether replaying now would stop at the same stage. The stages before it read only
        their own observations and the first evaluations of their candidates (which never
        change), and the stage itself is built before any of its results: so it stands while
        those are unchanged and it is still incomplete. Orders evaluated since (e.g. explore
        trials) only add keys, which no earlier stage reads."""
        return (head == self.head and self.evaluated.items() <= evaluated.items()
                and all(items.get(i) == n for i, n in self.items.items())
                and all(means.get(i) == obs for i, obs in self.means.items())
                and (self.stage is None or not Schedule.complete(self.stage, means, evaluated)))


def _anchor_map(references: Sequence[Order], anchors: Sequence[float], sign: float) -> dict[Order, float]:
    """The references that set a batch's scale (finite anchor), in the study's value space."""
    return {o: sign * a for o, a in zip(references, anchors) if not math.isnan(a)}


def _sign(study: Study) -> float:
    return 1.0 if study.directions[0] == StudyDirection.MINIMIZE else -1.0


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
