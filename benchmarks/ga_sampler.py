"""A steady-state permutation GA as an Optuna sampler (a benchmark peer, not part of orderopt).

Order crossover (OX1) of two tournament-selected parents from the best ``population`` orders,
then a swap or an inversion mutation with probability ``mutation``; duplicates of evaluated
orders are redrawn a few times.
"""

from __future__ import annotations

import numpy as np
from optuna.distributions import IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import TrialState

from orderopt.samplers import encode_params, order_param_names


def order_crossover(p1, p2, rng):
    n = len(p1)
    i, j = sorted(rng.choice(n + 1, size=2, replace=False))
    child = [None] * n
    child[i:j] = p1[i:j]
    fill = [v for v in p2 if v not in set(p1[i:j])]
    k = 0
    for pos in list(range(j, n)) + list(range(0, i)):
        child[pos] = fill[k]
        k += 1
    return tuple(int(v) for v in child)


def swap_or_invert(p, rng):
    p = list(p)
    i, j = sorted(rng.choice(len(p), size=2, replace=False))
    if rng.random() < 0.5:
        p[i], p[j] = p[j], p[i]
    else:
        p[i:j + 1] = p[i:j + 1][::-1]
    return tuple(p)


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
                child = swap_or_invert(child, self._rng)
            if child not in seen:
                break
        return encode_params(child, self.name, (self.n,))

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._random.sample_independent(study, trial, param_name, param_distribution)
