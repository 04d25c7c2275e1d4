"""Pruners for loss profiling (optuna only; no torch).

:class:`StageRankPruner` ranks a trial against the trials evaluated with it (the same mixture
run, or the same stage and round) that reported at the *same step*, so it works both inside a
mixture round (all candidates report at each checkpoint of one run) and across separate trials. Optuna's own pruners (SuccessiveHalving,
Hyperband, Percentile, Median) also work on these studies, since every profile reports its loss
curve as intermediate values.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from orderopt.errors import ConfigError
from orderopt.samplers import ROUND_ATTR, RUN_ATTR, STAGE_ATTR
from orderopt.samplers._compat import storage_of, trial_id_of

__all__ = ["StageRankPruner"]

_PEER_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


class StageRankPruner(BasePruner):
    """Prune a trial whose value at its latest step ranks in the worst ``fraction`` of its peers.

    Peers are the trials evaluated together with it: the same mixture run (system attr
    ``orderopt:run``) or, for trials profiled one by one, the same stage and round of
    :class:`~orderopt.samplers.HierarchicalOrderSampler` (its system attrs ``orderopt:stage``
    and ``orderopt:round``; a user's own attrs of those names do not interfere), that reported
    at the same step. Nothing is pruned before ``min_trials`` peers (the trial included)
    reported at that step, or before ``warmup_steps``. Within a mixture run the search asks for
    the whole run at once (:meth:`prune_group`).

    Example:
        >>> import optuna
        >>> from orderopt.pruners import StageRankPruner
        >>> pruner = StageRankPruner(fraction=0.5, min_trials=4)
        >>> sorted(pruner.prune_group({"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}, step=10))
        ['c', 'd']
        >>> study = optuna.create_study(pruner=pruner)
    """

    def __init__(
        self,
        fraction: float = 0.5,
        *,
        min_trials: int = 4,
        warmup_steps: int = 0,
        group_by: Sequence[str] = (STAGE_ATTR, ROUND_ATTR),
    ) -> None:
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"fraction must be in (0, 1), got {fraction}")
        if min_trials < 2:
            raise ConfigError(f"min_trials must be >= 2, got {min_trials}")
        if warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.fraction, self.min_trials, self.warmup_steps = fraction, min_trials, warmup_steps
        self.group_by = tuple(group_by)

    def _group(self, trial: FrozenTrial) -> tuple:
        if RUN_ATTR in trial.system_attrs:  # orderopt's mixture rounds: one id per profile run
            return (RUN_ATTR, trial.system_attrs[RUN_ATTR])
        return tuple(trial.system_attrs.get(k) for k in self.group_by)

    def _keep(self, n: int) -> int:
        """How many of ``n`` peers survive (ranks ``0..keep-1``)."""
        return math.ceil(n * (1.0 - self.fraction))

    def prune_group(self, values: Mapping[Hashable, float], step: int) -> list[Hashable]:
        """The members of one group of peers (``{member: value at step}``) to prune at ``step``,
        by the same rule as :meth:`prune` (lower values are better)."""
        if step < self.warmup_steps or len(values) < self.min_trials:
            return []
        nan = [k for k, v in values.items() if math.isnan(v)]
        ranked = sorted((k for k, v in values.items() if not math.isnan(v)), key=lambda k: values[k])
        keep = self._keep(len(ranked))
        return nan + [k for i, k in enumerate(ranked) if i >= keep and values[k] > values[ranked[keep - 1]]]

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self.warmup_steps:
            return False
        value = trial.intermediate_values[step]
        if math.isnan(value):
            return True
        if not trial.system_attrs:  # a live trial's attrs are written by the sampler straight to storage
            trial = storage_of(study).get_trial(trial_id_of(trial))
        group = self._group(trial)
        peers = [
            t.intermediate_values[step]
            for t in study.get_trials(deepcopy=False, states=_PEER_STATES)
            if step in t.intermediate_values and t.number != trial.number and self._group(t) == group
        ]
        peers = [v for v in peers if not math.isnan(v)]
        if len(peers) + 1 < self.min_trials:
            return False
        sign = 1.0 if study.direction == StudyDirection.MINIMIZE else -1.0
        better = sum(1 for v in peers if sign * v < sign * value)
        return better >= self._keep(len(peers) + 1)
