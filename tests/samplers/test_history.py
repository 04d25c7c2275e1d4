from __future__ import annotations

import math

import numpy as np

from orderopt.samplers._history import History


def test_the_kept_ranking_equals_a_ranking_from_scratch_and_copies_stay_apart():
    """``History.ranked`` is updated as scores arrive (re-evaluations move an order, pruned trials
    tie at inf); it must equal sorting every order's mean, and a copy's additions must not reach
    the history it was copied from (score lists are shared between them)."""
    rng = np.random.default_rng(0)
    orders = [tuple(int(v) for v in rng.permutation(5)) for _ in range(40)]
    base = History()
    for step in range(400):
        order = orders[int(rng.integers(len(orders)))]
        loss = math.inf if step % 9 == 0 else float(rng.random())
        base.add_score(order, loss, index=int(rng.integers(3)) if step % 2 else None)
        if step % 50 == 49:
            frozen = {o: list(v) for o, v in base.scores.items()}
            ranked = list(base.ranked)
            copy = base.copy()
            for o in orders[:10]:
                copy.add_score(o, 0.0, index=0)
            assert base.scores == frozen and base.ranked == ranked
            assert copy.ranked == sorted((sum(v) / len(v), o) for o, v in copy.scores.items())
    scratch = sorted((sum(v) / len(v), o) for o, v in base.scores.items())
    assert base.ranked == scratch and base.best(5) == tuple(o for _, o in scratch[:5]) and base.best(0) == ()
