"""A steady-state permutation GA as an Optuna sampler (a benchmark peer, not part of orderopt).

The variation operators are pymoo's (``pip install 'orderopt[bench]'``): order crossover (OX)
of two tournament-selected parents from the best ``population`` orders, then pymoo's
inversion mutation with probability ``mutation``; duplicates of evaluated orders are redrawn
a few times. Only the steady-state loop around them is written here, because pymoo's own
algorithms run their own loop and cannot serve Optuna's ask/tell.
"""

from __future__ import annotations

import numpy as np
from optuna.distributions import IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import TrialState
from pymoo.operators.crossover.ox import ox, random_sequence
from pymoo.operators.mutation.inversion import inversion_mutation

from orderopt.samplers import encode_params, order_param_names


def order_crossover(p1, p2, rng):
    """pymoo's OX: ``p1`` receives a random segment of ``p2``, its other items keep their order."""
    child = ox(np.asarray(p1), np.asarray(p2), seq=random_sequence(len(p1), random_state=rng), random_state=rng)
    return tuple(int(v) for v in child)


def invert(p, rng):
    """pymoo's inversion mutation: a random segment reversed."""
    child = inversion_mutation(np.asarray(p), random_sequence(len(p), random_state=rng), inplace=False)
    return tuple(int(v) for v in child)


class PermutationGASampler(BaseSampler):
    def __init__(self, n: int, *, population: int = 50, mutation: float = 0.5, tournament: int = 2,
                 name: str = "order", seed: int | None = None) -> None:
        self.n, self.population, self.mutation, self.tournament, self.name = n, population, mutation, tournament, name
        self._rng = np.random.default_rng(seed)
        self._random = RandomSampler(seed=seed)

    def infer_relative_search_space(self, study, trial):
        return {p: IntDistribution(0, h) for p, h in order_param_names(self.name, (self.n,))}

    def sample_relative(self, study, trial, search_space):
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
        if len(done) < self.population:
            return {}
        sign = 1 if study.direction == StudyDirection.MINIMIZE else -1
        pool = sorted(done, key=lambda t: sign * t.value)[: self.population]
        seen = {tuple(t.user_attrs["order"]) for t in done}

        def pick():
            idx = self._rng.choice(len(pool), size=self.tournament, replace=False)
            return tuple(pool[min(idx)].user_attrs["order"])

        for _ in range(10):
            child = order_crossover(pick(), pick(), self._rng)
            if self._rng.random() < self.mutation:
                child = invert(child, self._rng)
            if child not in seen:
                break
        return encode_params(child, self.name, (self.n,))

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._random.sample_independent(study, trial, param_name, param_distribution)
