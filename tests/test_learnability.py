from __future__ import annotations

import math
from dataclasses import asdict, replace

import numpy as np
import pytest

from orderopt.learnability import (CheckConfig, CheckRound, Learnability, check_learnability, panel,
                                   pattern_agreement, plateau_losses, rank_agreement)
from orderopt.orders import identity, reverse
from orderopt.profiling import config_from_preset
from orderopt.tasks import from_callable, make_task


def noise(n, rng):
    """Targets drawn independently of the inputs: no order can learn them."""
    return rng.integers(0, 10, size=(n, 4)), rng.integers(0, 10, size=(n, 4))


def copy(n, rng):
    """Every target a copy of one input: every order learns every target."""
    x = rng.integers(0, 10, size=(n, 4))
    return x, x.copy()


def test_plateau_is_the_entropy_of_each_target():
    y = np.stack([np.arange(1000) % 10, np.zeros(1000, int), np.arange(1000) % 2], axis=1)
    assert plateau_losses(y) == pytest.approx([math.log(10), 0.0, math.log(2)])


def test_rank_agreement_is_spearman_with_ties():
    assert rank_agreement([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_agreement([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert rank_agreement([1, 1, 1, 1], [1, 2, 3, 4]) == 0.0  # a constant list ranks nothing
    assert rank_agreement([1, 1, 2, 3], [5, 5, 6, 7]) == pytest.approx(1.0)  # ties share their mean rank


def test_pattern_agreement_sees_orders_that_trade_one_target_for_another():
    rng = np.random.default_rng(0)
    trade = rng.normal(size=(32, 6))
    trade -= trade.mean(axis=1, keepdims=True)  # every order's mean loss the same: nothing to rank
    seed0, seed1 = trade + 0.5 * rng.normal(size=trade.shape), trade + 0.5 * rng.normal(size=trade.shape)
    assert abs(rank_agreement(seed0.mean(axis=1), seed1.mean(axis=1))) < 0.5
    corr, z = pattern_agreement(seed0, seed1)
    assert corr > 0.6 and z > CheckConfig().pattern_z


def test_pattern_agreement_of_noise_is_about_zero_in_null_deviations():
    rng = np.random.default_rng(1)
    zs = [pattern_agreement(rng.normal(size=(32, 8)), rng.normal(size=(32, 8)))[1] for _ in range(200)]
    assert abs(np.mean(zs)) < 0.3 and 0.8 < np.std(zs) < 1.2  # the z-score is calibrated without sampling
    assert max(zs) < CheckConfig().pattern_z


def test_pattern_agreement_leaves_out_constant_targets_and_tiny_panels():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(16, 3))
    with_constant = np.column_stack([a, np.ones(16)])
    assert pattern_agreement(with_constant, with_constant) == pytest.approx(pattern_agreement(a, a))
    assert pattern_agreement(a, a)[0] == pytest.approx(1.0)
    assert pattern_agreement(np.ones((16, 3)), a) == (0.0, 0.0)
    assert pattern_agreement(a[:2], a[:2]) == (0.0, 0.0)  # two orders: no null to measure against


def test_the_panel_starts_from_the_task_numbering_and_never_repeats():
    task = make_task("square", 6)
    seed_order = (1, 0, 2, 3, 4, 5)
    orders = panel(task, 12, seed=0, seed_orders=[seed_order])
    assert orders[:3] == [identity(6), reverse(6), seed_order]
    assert len(orders) == 12 == len(set(orders)) and all(sorted(o) == list(range(6)) for o in orders)
    assert len(panel(make_task("square", 3), 32, seed=0)) == 6  # all 3! orders, no more
    assert panel(task, 12, seed=5) == panel(task, 12, seed=5)  # reproducible


@pytest.mark.parametrize("generate, learnable", [(noise, False), (copy, True)])
def test_a_round_reads_what_was_learned(tiny, generate, learnable):
    task = from_callable(generate)
    config = config_from_preset(tiny, seed=0, device="cpu")
    config = replace(config, train=replace(config.train, steps=150))
    result = check_learnability(task, config, check=CheckConfig(orders=6), lengthen=False)
    (only,) = result.rounds
    assert only.steps == 150 and only.informative == []  # no target splits the panel: all or none learn it
    if learnable:
        assert only.learned_by_all == [0, 1, 2, 3] and only.best_gap > 0.5
    else:
        assert only.learned_by_all == [] and abs(only.best_gap) < 0.05
    assert only.signal == (only.agreement >= CheckConfig().agreement or only.pattern_z >= CheckConfig().pattern_z)
    if not learnable:
        assert only.pattern_z < CheckConfig().pattern_z  # noise repeats no pattern across seeds


def test_the_verdict_line_says_why_and_what_to_try():
    quiet = CheckRound(600, 0.1, [], [], 0.02, 3.0, False)
    louder = replace(quiet, steps=1200, agreement=0.7, signal=True)
    learned = Learnability(1200, True, [quiet, louder], 9.0)
    assert learned.verdict == "learns"
    assert "profiles of 1,200 steps (lengthened from 600) tell orders apart" in learned.line()
    assert "rho 0.70" in learned.line()
    split = Learnability(600, True, [replace(quiet, informative=[2, 5], signal=True)], 3.0)
    assert "target(s) y2, y5 learned under some orders and not others" in split.line()
    stuck = Learnability(600, False, [quiet, replace(quiet, steps=1200)], 9.0)
    assert stuck.verdict == "no order learned"
    assert "after profiles of 600, 1,200 steps" in stuck.line() and "--steps 4800" in stuck.line()
    patterned = Learnability(600, True, [replace(quiet, pattern=0.4, pattern_z=5.5, signal=True)], 3.0)
    assert "pattern z 5.5" in patterned.line()
    # a study stores the rounds as dicts; the report rebuilds them, also those stored before the pattern fields
    assert CheckRound(**asdict(louder)) == louder and stuck.to_dict()["verdict"] == "no order learned"
    older = {k: v for k, v in asdict(louder).items() if not k.startswith("pattern")}
    assert CheckRound(**older).pattern_z == 0.0
