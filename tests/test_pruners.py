from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from orderopt.errors import ConfigError
from orderopt.pruners import StageRankPruner

optuna.logging.set_verbosity(optuna.logging.WARNING)


def round_of(study, values, stage="global-1", rnd=0, step=10):
    """Start trials of one stage/round (as the sampler records them) and report ``values`` at
    ``step``; return the trials."""
    trials = []
    for v in values:
        t = study.ask()
        study._storage.set_trial_system_attr(t._trial_id, "orderopt:stage", stage)
        study._storage.set_trial_system_attr(t._trial_id, "orderopt:round", rnd)
        t.report(v, step)
        trials.append(t)
    return trials


@pytest.mark.parametrize("direction, sign", [("minimize", 1), ("maximize", -1)])
def test_prunes_the_worst_fraction_of_one_round(direction, sign):
    study = optuna.create_study(direction=direction, pruner=StageRankPruner(fraction=0.5, min_trials=4))
    trials = round_of(study, [sign * v for v in (0.1, 0.4, 0.2, 0.9, 0.3, 0.8)])
    pruned = [t.should_prune() for t in trials]
    assert pruned == [False, True, False, True, False, True]  # 0.4, 0.9, 0.8 are the worst half


def test_peers_are_the_same_stage_round_and_step():
    study = optuna.create_study(pruner=StageRankPruner(fraction=0.5, min_trials=3))
    round_of(study, [0.0, 0.0, 0.0], stage="global-1")  # better trials, but another stage
    round_of(study, [0.0, 0.0, 0.0], stage="global-2", rnd=1, step=20)  # same stage, other step
    mine = round_of(study, [0.5, 0.6], stage="global-2", rnd=1)
    assert [t.should_prune() for t in mine] == [False, False]  # only 2 peers at step 10: too few
    third = round_of(study, [0.7], stage="global-2", rnd=1)[0]
    assert third.should_prune() and not mine[0].should_prune()


def test_users_own_stage_attrs_do_not_interfere():
    study = optuna.create_study(pruner=StageRankPruner(fraction=0.5, min_trials=3))
    trials = round_of(study, [0.1, 0.2, 0.9])
    for i, t in enumerate(trials):  # a user's attrs of the same names, all different
        t.set_user_attr("stage", f"mine-{i}")
        t.set_user_attr("round", i)
    assert [t.should_prune() for t in trials] == [False, False, True]


def test_mixture_run_is_one_group_and_prune_group_follows_the_same_rule():
    pruner = StageRankPruner(fraction=0.5, min_trials=3, warmup_steps=5)
    study = optuna.create_study(pruner=pruner)
    values = [0.3, 0.1, 0.3, 0.2, 0.9, float("nan")]
    trials = round_of(study, values, step=10)
    for t in trials:
        study._storage.set_trial_system_attr(t._trial_id, "orderopt:run", "r1")
    singles = {i for i, t in enumerate(trials) if t.should_prune()}
    assert singles == set(pruner.prune_group(dict(enumerate(values)), 10)) == {4, 5}  # ties at the cut stay
    assert pruner.prune_group({"a": 1.0, "b": 2.0, "c": 3.0}, step=4) == []  # before warmup
    assert pruner.prune_group({"a": 1.0, "b": 2.0}, step=10) == []  # too few peers


def test_finished_trials_count_as_peers_and_warmup():
    study = optuna.create_study(pruner=StageRankPruner(fraction=0.25, min_trials=4, warmup_steps=5))
    for t in round_of(study, [0.1, 0.2, 0.3]):
        study.tell(t, 0.0)
    late = round_of(study, [0.35])[0]
    assert late.should_prune()
    early = round_of(study, [9.0], step=2)[0]
    assert not early.should_prune()  # before warmup


def test_bad_arguments():
    with pytest.raises(ConfigError):
        StageRankPruner(fraction=1.0)
    with pytest.raises(ConfigError):
        StageRankPruner(min_trials=1)


def test_works_in_optimize_with_the_sampler():
    from orderopt.orders import kendall_tau_distance
    from orderopt.samplers import HierarchicalOrderSampler, suggest_order

    def objective(trial):
        order = suggest_order(trial, 6)
        d = kendall_tau_distance(order, (5, 4, 3, 2, 1, 0))
        for step in (1, 2):
            trial.report(d + 1.0 / step, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return d

    study = optuna.create_study(sampler=HierarchicalOrderSampler(seed=0, levels=2),
                                pruner=StageRankPruner(fraction=0.5, min_trials=3))
    study.optimize(objective, n_trials=40)
    states = {t.state for t in study.trials}
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
