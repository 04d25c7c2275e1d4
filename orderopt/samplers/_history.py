"""What the study's trials say about one order name: observations by stage, orders tried, live
trials, read incrementally (finished trials never change, so their prefix is kept)."""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from ._orders import Order
from ._compat import storage_of, study_id_of, trial_id_of
from ._encoding import decode_params, layout_attr
from ._precedence import ITEM_SCORES_ATTR
from ._scores import trial_score

__all__ = ["History", "HistoryReader", "STAGE_ATTR", "ROUND_ATTR", "ROLE_ATTR", "RUN_ATTR", "EXPLORE", "FOREIGN", "VERDICT",
           "prefix_of"]

STAGE_ATTR = "orderopt:stage"  # the stage label a trial was planned in (system attr)
ROUND_ATTR = "orderopt:round"  # the stage index (system attr)
ROLE_ATTR = "orderopt:role"  # candidate, model, reference, tournament or explore (system attr)
RUN_ATTR = "orderopt:run"  # id of the batch (mixture run) a trial was evaluated in (system attr)
EXPLORE = "explore"
FOREIGN = -1  # stage index of orders the study evaluated without this sampler
VERDICT = "verdict"  # role of a trial that records a conclusion (e.g. the search's found #1), not an evaluation


@dataclass
class History:
    """Scores are in loss space (lower is better) whatever the study's direction."""

    observations: dict[int, dict[Order, list[float]]] = field(default_factory=dict)  # stage -> order -> scores
    scores: dict[Order, list[float]] = field(default_factory=dict)  # every evaluation, explore included
    tried: set[Order] = field(default_factory=set)  # has a live or finished (not failed) trial
    assigned: set[tuple[int, Order]] = field(default_factory=set)  # (stage, order) of live or finished trials
    pending: list[int] = field(default_factory=list)  # numbers of live trials without an order yet
    study_orders: list[Order] = field(default_factory=list)  # foreign evaluated orders, in trial order
    items: dict[int, list[tuple[Order, list[float], str]]] = field(default_factory=dict)  # stage -> per-item costs
    upto: int = 0  # (cached prefix only) trials 0..upto-1 are finished and included
    ranked: list[tuple[float, Order]] = field(default_factory=list)  # (mean score, order) of every scored order, sorted

    def copy(self) -> History:
        """A copy the cache's own history is safe from. Score lists are shared, not copied (one ask
        would otherwise copy every order's list): :meth:`add_score` replaces a list, never appends."""
        return History({k: dict(d) for k, d in self.observations.items()}, dict(self.scores), set(self.tried),
                       set(self.assigned), [], list(self.study_orders), {k: list(v) for k, v in self.items.items()},
                       self.upto, list(self.ranked))

    def best(self, count: int) -> tuple[Order, ...]:
        """The ``count`` orders of lowest mean score, best first (ties by order): kept sorted as
        scores arrive, since every explore ask reads it and the study can hold thousands of orders."""
        return tuple(o for _, o in self.ranked[:max(count, 0)])

    def add_score(self, order: Order, loss: float, index: int | None) -> None:
        """Record one evaluation (and, with a stage ``index``, one observation of that stage)."""
        before = self.scores.get(order, ())
        if before:
            del self.ranked[bisect.bisect_left(self.ranked, (self.mean_score(order), order))]
        self.scores[order] = [*before, loss]
        bisect.insort(self.ranked, (self.mean_score(order), order))
        if index is not None:
            stage = self.observations.setdefault(index, {})
            stage[order] = [*stage.get(order, ()), loss]

    def means(self) -> dict[int, dict[Order, float]]:
        """Observations averaged per (stage, order), as the schedule replays them."""
        return {k: {o: sum(v) / len(v) for o, v in d.items()} for k, d in self.observations.items()}

    def mean_score(self, order: Order) -> float:
        """Mean score of ``order`` over its evaluations, or ``None``."""
        values = self.scores[order]
        return sum(values) / len(values)


def _sign(study: optuna.Study) -> float:
    return 1.0 if study.directions[0] == StudyDirection.MINIMIZE else -1.0


def prefix_of(name: str) -> str:
    """Prefix of the system attrs of order ``name`` (none for the default name ``order``)."""
    return "" if name == "order" else f"{name}:"


def stage_of(trial: FrozenTrial, name: str) -> tuple[int | None, str | None]:
    """(stage index, role) the sampler recorded on ``trial`` for order ``name``."""
    prefix = prefix_of(name)
    index = trial.system_attrs.get(prefix + ROUND_ATTR)
    if trial.system_attrs.get(prefix + STAGE_ATTR) == EXPLORE:
        return None, EXPLORE  # an explore round (its references included) belongs to no stage
    return (None if index is None else int(index)), trial.system_attrs.get(prefix + ROLE_ATTR)


class HistoryReader:
    """Builds :class:`History` from a study's trials, keeping the finished prefix per study."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._prefix: dict[tuple[int, int, str], History] = {}

    def read(self, study: optuna.Study, name: str, *, current: int | None,
             planned_here: Callable[[int], bool] = lambda trial_id: False) -> History:
        """The study's history, reading only the trials that changed since the last call."""
        sign = _sign(study)
        key = (id(storage_of(study)), study_id_of(study), name)
        trials = study.get_trials(deepcopy=False)
        with self._lock:
            prefix = self._prefix.get(key)
            if prefix is None or prefix.upto > len(trials):
                prefix = self._prefix[key] = History()
            hist = prefix.copy()
            extend = True
            for t in trials[prefix.upto:]:
                if extend and t.state.is_finished():
                    self._add(prefix, t, name, sign)
                    prefix.upto = t.number + 1
                    self._add(hist, t, name, sign)
                    continue
                extend = False
                if t.state.is_finished():
                    self._add(hist, t, name, sign)
                    continue
                raw = t.user_attrs.get(name)
                if raw is None and t.state == TrialState.WAITING:  # enqueued: its order is in its fixed params
                    fixed = t.system_attrs.get("fixed_params") or {}
                    sizes = t.user_attrs.get(layout_attr(name))
                    if sizes and any(k.startswith(name + ".") for k in fixed):
                        raw = decode_params(fixed, name, tuple(int(v) for v in sizes))
                if raw is None:
                    if t.number != current and not planned_here(trial_id_of(t)):
                        hist.pending.append(t.number)
                    continue
                HistoryReader._claim(hist, t, name, raw)
        return hist

    @staticmethod
    def _claim(hist: History, t: FrozenTrial, name: str, raw) -> tuple[Order, int | None, str | None]:
        """Mark ``t``'s order as tried (and as its stage's, if it has one): never proposed again."""
        order = tuple(int(v) for v in raw)
        hist.tried.add(order)
        index, role = stage_of(t, name)
        if index is not None:
            hist.assigned.add((index, order))
        return order, index, role

    @staticmethod
    def _add(hist: History, t: FrozenTrial, name: str, sign: float) -> None:
        if t.state == TrialState.FAIL or t.system_attrs.get(prefix_of(name) + ROLE_ATTR) == VERDICT:
            return
        raw = t.user_attrs.get(name)
        if raw is None:
            return
        order, index, role = HistoryReader._claim(hist, t, name, raw)
        score = trial_score(t)
        if score is None or math.isnan(score):  # pruned before it reported anything, or a NaN: the worst score
            loss = math.inf
        else:
            loss = sign * score
        if role == EXPLORE:
            hist.add_score(order, loss, None)
            return
        if index is None:  # evaluated without this sampler (enqueued, or by hand)
            index = FOREIGN
            if order not in hist.study_orders:
                hist.study_orders.append(order)
        hist.add_score(order, loss, index)
        costs = t.system_attrs.get(prefix_of(name) + ITEM_SCORES_ATTR)
        if costs is not None and t.state == TrialState.COMPLETE and len(costs) == len(order):
            batch = str(t.system_attrs.get(RUN_ATTR, index))
            hist.items.setdefault(index, []).append((order, [float(c) for c in costs], batch))
