from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from orderopt.errors import ConfigError
from orderopt.orders import is_order
from orderopt.studies import create_study, load_study, read_spec, search, task_of
from orderopt.tasks import make_task

optuna.logging.set_verbosity(optuna.logging.WARNING)
TASK = make_task("square", 5)


def sqlite(tmp_path):
    return f"sqlite:///{tmp_path / 'orderopt.db'}"


def test_mixture_search_stores_every_order_and_resumes(tmp_path):
    rounds = []
    study = create_study(TASK, storage=sqlite(tmp_path), preset="tiny", levels=2, seed=0)
    res = search(study, progress=False, on_round=lambda stage, n, done: rounds.append((stage, n, done)))
    trials = study.trials
    assert rounds[0] == ("global-1", 6, 0) and rounds[1][0] == "global-2"
    orders = [tuple(t.user_attrs["order"]) for t in trials]
    assert len(orders) == len(set(orders)) == res.trials and all(is_order(o, 5) for o in orders)
    for t in trials:
        assert {"order", "stage", "round"} <= set(t.user_attrs)
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED) and len(t.intermediate_values) >= 1
    assert any(t.state == TrialState.PRUNED for t in trials)  # the pruner dropped orders mid-round
    assert res.best[0][1] == min(t.value for t in trials if t.state == TrialState.COMPLETE)
    # joining by name and storage alone continues the same search
    again = load_study(study.study_name, storage=sqlite(tmp_path))
    assert task_of(again).spec() == TASK.spec() and read_spec(again).levels == 2
    more = search(again, n_trials=5, progress=False)
    assert more.trials == 5 and len(again.trials) == len(trials) + 5
    orders = [tuple(t.user_attrs["order"]) for t in again.trials]
    assert len(orders) == len(set(orders))


def test_rerunning_create_resumes_and_other_task_is_refused(tmp_path):
    study = create_study(TASK, storage=sqlite(tmp_path), preset="tiny", levels=2)
    search(study, n_trials=3, progress=False)
    same = create_study(TASK, storage=sqlite(tmp_path), preset="tiny", levels=2)
    assert len(same.trials) == 3
    with pytest.raises(ConfigError, match="searches task square"):
        create_study(make_task("relu", 5), storage=sqlite(tmp_path), study_name=study.study_name)
    with pytest.raises(ConfigError, match="no study named 'nope'"):
        load_study("nope", storage=sqlite(tmp_path))


def test_trial_mode(tmp_path):
    study = create_study(TASK, storage=sqlite(tmp_path), preset="tiny", mode="trial", levels=2)
    res = search(study, n_trials=4, progress=False)
    assert res.trials == 4 and len(study.trials) == 4
    assert all(len(t.intermediate_values) >= 1 for t in study.trials)


def test_interrupted_round_loses_nothing(tmp_path, monkeypatch):
    import orderopt.studies._search as search_module

    study = create_study(TASK, storage=sqlite(tmp_path), preset="tiny", levels=2)
    search(study, n_trials=6, progress=False)  # the first round completes

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(search_module, "profile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        search(study, progress=False)
    states = [t.state for t in study.trials]
    assert states[:6] == [TrialState.COMPLETE if s == TrialState.COMPLETE else s for s in states[:6]]
    assert TrialState.RUNNING not in states and TrialState.FAIL in states
    failed = {tuple(t.user_attrs["order"]) for t in study.trials if t.state == TrialState.FAIL}
    monkeypatch.undo()
    search(study, progress=False)  # re-running the same search re-runs the interrupted orders
    rerun = {tuple(t.user_attrs["order"]) for t in study.trials if t.state == TrialState.COMPLETE or t.state == TrialState.PRUNED}
    assert failed <= rerun


def test_verify_trains_best_and_baselines(tmp_path):
    from orderopt.studies import format_verification, verify

    study = create_study(TASK, storage=sqlite(tmp_path), preset="tiny", levels=2)
    search(study, n_trials=6, progress=False)
    rows = verify(study, top=2, n_random=1, progress=False)
    assert [r.label for r in rows] == ["found #1", "found #2", "forward", "reverse", "random:0"]
    assert all(0.0 <= r.success <= 1.0 for r in rows)
    assert rows[0].trial is not None and rows[0].profile_score is not None
    stored = optuna.load_study(study_name=study.study_name, storage=sqlite(tmp_path))
    assert len(stored.user_attrs["verification"]) == 5
    assert stored.user_attrs["verification"][0]["trial"] == rows[0].trial
    assert "found #1" in format_verification(rows)


@pytest.mark.parametrize("mode", ["mixture", "trial"])
@pytest.mark.parametrize(
    "pruner",
    [
        optuna.pruners.SuccessiveHalvingPruner(min_resource=1),
        optuna.pruners.HyperbandPruner(min_resource=1, max_resource=40),
        optuna.pruners.PercentilePruner(50.0, n_startup_trials=1, n_warmup_steps=0),
    ],
    ids=["successive-halving", "hyperband", "percentile"],
)
def test_optuna_pruners_work_in_both_modes(tmp_path, pruner, mode):
    study = create_study(TASK, storage=sqlite(tmp_path), preset="tiny", levels=2, mode=mode, pruner=pruner)
    res = search(study, n_trials=6, progress=False)
    assert res.trials == 6
    for t in study.trials:
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.intermediate_values
        assert is_order(tuple(t.user_attrs["order"]), 5)
    assert any(t.state == TrialState.COMPLETE for t in study.trials)
