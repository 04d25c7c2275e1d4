"""Pruners for loss profiling (optuna only; no torch).

:class:`StageRankPruner` ranks a trial against the trials of the *same stage and round* that
reported at the *same step*, so it works both inside a mixture round (all candidates report at
each checkpoint of one run) and across separate trials. Optuna's own pruners (SuccessiveHalving,
Hyperband, Percentile, Median) also work on these studies, since every profile reports its loss
curve as intermediate values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from orderopt.errors import ConfigError

__all__ = ["StageRankPruner"]

_PEER_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


class StageRankPruner(BasePruner):
    """Prune a trial whose value at its latest step ranks in the worst ``fraction`` of its peers.

    Peers are the trials with the same values of the user attrs in ``group_by`` (default: the
    ``stage`` and ``round`` that :class:`~orderopt.samplers.HierarchicalOrderSampler` records)
    that reported at the same step. Nothing is pruned before ``min_trials`` peers (the trial
    included) reported at that step, or before ``warmup_steps``.

    Example:
        .. code-block:: python

            import optuna
            from orderopt.pruners import StageRankPruner

            study = optuna.create_study(pruner=StageRankPruner(fraction=0.5, min_trials=4))
    """

    def __init__(
        self,
        fraction: float = 0.5,
        *,
        min_trials: int = 4,
        warmup_steps: int = 0,
        group_by: Sequence[str] = ("stage", "round"),
    ) -> None:
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"fraction must be in (0, 1), got {fraction}")
        if min_trials < 2:
            raise ConfigError(f"min_trials must be >= 2, got {min_trials}")
        self.fraction, self.min_trials, self.warmup_steps = fraction, min_trials, warmup_steps
        self.group_by = tuple(group_by)

    def _group(self, study: optuna.Study, trial: FrozenTrial) -> tuple:
        attrs = trial.user_attrs
        if any(k not in attrs for k in self.group_by):  # written by the sampler straight to storage
            attrs = study._storage.get_trial(trial._trial_id).user_attrs
        return tuple(attrs.get(k) for k in self.group_by)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self.warmup_steps:
            return False
        value = trial.intermediate_values[step]
        if math.isnan(value):
            return True
        group = self._group(study, trial)
        peers = [
            t.intermediate_values[step]
            for t in study.get_trials(deepcopy=False, states=_PEER_STATES)
            if step in t.intermediate_values and t.number != trial.number
            and tuple(t.user_attrs.get(k) for k in self.group_by) == group
        ]
        peers = [v for v in peers if not math.isnan(v)]
        if len(peers) + 1 < self.min_trials:
            return False
        sign = 1.0 if study.direction == StudyDirection.MINIMIZE else -1.0
        better = sum(1 for v in peers if sign * v < sign * value)
        keep = math.ceil((len(peers) + 1) * (1.0 - self.fraction))  # ranks 0..keep-1 survive
        return better >= keep
