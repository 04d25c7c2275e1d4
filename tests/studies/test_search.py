from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from orderopt.errors import ConfigError
from orderopt.orders import is_order
from orderopt.samplers import RAW_ATTR, SCORE_ATTR, trial_score
from orderopt.studies import best_orders, create_study, is_verdict, load_study, probe_of, read_spec, search, task_of
from orderopt.studies._search import PRIOR_MARGIN, dependencies, respects
from orderopt.studies._study import PROBE_ATTR
from orderopt.tasks import make_task

optuna.logging.set_verbosity(optuna.logging.WARNING)
TASK = make_task("square", 5)
SMALL = {"preset": "tiny", "levels": 2, "population": 12, "round_size": 12, "tournament_size": 4}


def sqlite(tmp_path):
    return f"sqlite:///{tmp_path / 'orderopt.db'}"


def runs_of(study):
    """Trials grouped by mixture run, in the order the runs were made (the verdict trial is none)."""
    runs = defaultdict(list)
    for t in (t for t in study.trials if not is_verdict(t)):
        runs[t.system_attrs.get("orderopt:run")].append(t)
    return sorted(runs.values(), key=lambda ts: ts[0].number)


def test_mixture_search_rounds_references_scores_and_tournament(tmp_path):
    rounds = []
    study = create_study(TASK, storage=sqlite(tmp_path), seed=0, **SMALL)
    res = search(study, progress=False, on_round=rounds.append)
    stages = [r.stage for r in rounds]
    assert stages[0] == "global-1" and stages[1] == "global-2" and "local-1" in stages
    assert stages[-2:] == ["tournament-1", "tournament-2"] and res.stopped == "schedule done"
    trials = [t for t in study.trials if not is_verdict(t)]
    assert rounds[0].orders == 12 and sum(r.orders for r in rounds) == res.trials == len(trials)
    # the schedule is done: one verdict trial records found #1, and Optuna's best trial is it
    verdict = study.best_trial
    assert len(study.trials) == len(trials) + 1 and is_verdict(verdict) and verdict.user_attrs["stage"] == "verdict"
    assert tuple(verdict.user_attrs["order"]) == res.best[0][0] and res.best[0][2] == verdict.number
    assert verdict.value <= res.best[0][1] and verdict.user_attrs["score"] == res.best[0][1]
    assert all(verdict.value < t.value for t in trials if t.state == TrialState.COMPLETE)
    assert verdict.params == {f"order[{i}]": v for i, v in enumerate(res.best[0][0])}  # the order, readable
    runs = runs_of(study)
    assert len(runs) == len(rounds)
    for i, run in enumerate(runs):
        roles = [t.system_attrs["orderopt:role"] for t in run]
        if i == 0:
            assert set(roles) == {"candidate"}  # nothing to refer to yet
        elif stages[i].startswith("tournament"):
            assert set(roles) == {"tournament"} and 4 <= len(run) <= 6  # the best 4 and up to 2 round winners
        else:  # every later round profiles the current best orders (and the panel) again beside its candidates
            assert 4 <= roles.count("reference") <= 8 and "candidate" in roles
        for t in run:
            assert t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.intermediate_values
            assert {"order", "stage", "round", "score", "raw_score"} <= set(t.user_attrs)
            assert t.system_attrs[SCORE_ATTR] == t.user_attrs["score"] and t.system_attrs[RAW_ATTR] > 0
            assert trial_score(t) == t.system_attrs[SCORE_ATTR]
            if t.state == TrialState.COMPLETE:
                assert t.value == t.system_attrs[SCORE_ATTR]
    # every finished trial stores its per-target losses; the precedence model proposes from the second round on
    for t in trials:
        if t.state == TrialState.COMPLETE:
            assert len(t.system_attrs["orderopt:item_scores"]) == 5
    assert {t.system_attrs["orderopt:role"] for t in runs[1]} >= {"model", "candidate", "reference"}
    # candidates are never profiled twice; references and tournament entrants are re-profiles
    candidates = [tuple(t.user_attrs["order"]) for t in trials
                  if t.system_attrs["orderopt:role"] in ("candidate", "model")]
    assert len(candidates) == len(set(candidates)) and all(is_order(o, 5) for o in candidates)
    assert not any(t.state == TrialState.PRUNED for t in trials)  # mixture rounds keep every order
    # comparable scores: the panel (global-2's references, profiled again in every local round)
    # scales each round to the panel's scores since global-1 (not the global-1 scores they were
    # chosen for: the best of a noisy round are its luckiest)
    def order(t):
        return tuple(t.user_attrs["order"])

    panel = {order(t) for t in runs[1] if t.system_attrs["orderopt:role"] == "reference"}
    later = defaultdict(list)  # order -> its scores after global-1
    for i, run in enumerate(runs[1:], start=1):
        refs = [t for t in run if t.system_attrs["orderopt:role"] in ("reference", "tournament")]
        if stages[i].startswith("local"):
            assert panel <= {order(t) for t in refs}
        setters = [t for t in refs if order(t) in panel] or refs
        raw = [t.system_attrs[RAW_ATTR] for t in setters]
        comparable = [t.system_attrs[SCORE_ATTR] for t in setters]
        factor = np.exp(np.mean(np.log(comparable)) - np.mean(np.log(raw)))
        if i >= 2 and all(later[order(t)] for t in setters):
            anchors = [np.mean(later[order(t)]) for t in setters]
            assert math.isclose(np.mean(np.log(comparable)), np.mean(np.log(anchors)), rel_tol=1e-9)
        for t in run:
            if t.state == TrialState.COMPLETE:
                assert math.isclose(t.system_attrs[SCORE_ATTR], t.system_attrs[RAW_ATTR] * factor, rel_tol=1e-9)
        for t in refs:
            later[order(t)].append(t.system_attrs[SCORE_ATTR])


def test_tournament_picks_found_1(tmp_path):
    study = create_study(TASK, storage=sqlite(tmp_path), seed=1, prior="none", **SMALL)
    res = search(study, progress=False)
    tournament = defaultdict(list)
    for t in study.trials:
        if t.system_attrs["orderopt:stage"].startswith("tournament"):
            tournament[tuple(t.user_attrs["order"])].append(math.log(t.system_attrs[SCORE_ATTR]))
    assert 4 <= len(tournament) <= 6 and all(len(v) == 2 for v in tournament.values())  # the best 4 + round winners
    winner = min(tournament, key=lambda o: (np.mean(tournament[o]), o))
    assert res.best[0][0] == best_orders(study, 1)[0][0] == winner
    assert {o for o, _, _ in res.best[:len(tournament)]} == set(tournament)  # the entrants rank first, by the tournament
    # the two tournament runs used two other profile seeds: different raw scores for the same order
    entrant = next(iter(tournament))
    raws = [t.system_attrs[RAW_ATTR] for t in study.trials
            if tuple(t.user_attrs["order"]) == entrant and t.system_attrs["orderopt:stage"].startswith("tournament")]
    assert len(set(raws)) == 2


def test_dependency_prior_seeds_the_search_and_stays_first_unless_beaten(tmp_path):
    task = make_task("square", 5, scramble=2)
    study = create_study(task, storage=sqlite(tmp_path), seed=0, **SMALL)
    probe = probe_of(study)
    prior = tuple(probe["order"])
    assert read_spec(study).prior == "dependency" and probe["explained"] and prior == task.parse_order("friendly")
    search(study, progress=False)
    by_stage = defaultdict(set)
    tournament = defaultdict(list)
    for t in study.trials:
        stage, order = t.system_attrs["orderopt:stage"], tuple(t.user_attrs["order"])
        by_stage[stage].add(order)
        if stage.startswith("tournament"):
            tournament[order].append(math.log(t.system_attrs[SCORE_ATTR]))
    assert prior in by_stage["global-1"] and prior in tournament  # a seed order, pinned to the tournament
    first, score, _ = best_orders(study, 1)[0]
    prior_score = math.exp(np.mean(tournament[prior]))
    assert first == prior or score < prior_score * (1 - PRIOR_MARGIN)
    assert respects(first, dependencies(probe["parents"]))
    # dependencies that only the probe's order keeps (a chain along it): no entrant can displace it
    chain = [[] for _ in prior]
    for before, target in zip(prior, prior[1:]):
        chain[target] = [f"y{before}"]
    study.set_user_attr(PROBE_ATTR, {**probe, "parents": chain})
    assert best_orders(study, 1)[0][0] == prior
    plain = create_study(task, storage=sqlite(tmp_path), study_name="plain", seed=0, prior="none", **SMALL)
    assert probe_of(plain) is None and read_spec(plain).prior == "none"
    with pytest.raises(ConfigError, match="unknown prior"):
        create_study(task, storage=sqlite(tmp_path), study_name="bad", prior="magic")


def test_respects_reads_the_probes_parents_and_lookups():
    parents = dependencies([["x0"], ["x1", "y0"], ["x[y0,y1]"]])
    assert parents == [set(), {0}, {0, 1}]
    assert respects((0, 1, 2), parents) and respects((0, 1, 2), dependencies([[], [], []]))
    assert not respects((1, 0, 2), parents) and not respects((0, 2, 1), parents)


def test_budget_moves_on_to_the_tournament(tmp_path):
    study = create_study(TASK, storage=sqlite(tmp_path), seed=2, **{**SMALL, "patience": 50})
    res = search(study, budget_minutes=1e-6, progress=False)
    stages = [t.system_attrs["orderopt:stage"] for t in study.trials]
    assert "tournament-2" in stages and not any(s.startswith("local") for s in stages)
    assert res.stopped == "schedule done"
    assert study._storage.get_study_system_attrs(study._study_id)["orderopt:stop_local"] >= 2  # after global-2
    again = search(study, progress=False)  # the spent budget is part of the study: nothing left to do
    assert again.trials == 0


def test_resume_joins_by_name_and_refuses_other_settings(tmp_path):
    study = create_study(TASK, storage=sqlite(tmp_path), **SMALL)
    search(study, n_trials=12, progress=False)
    same = create_study(TASK, storage=sqlite(tmp_path), **SMALL)
    assert len(same.trials) == 12
    quiet = create_study(TASK, storage=sqlite(tmp_path))  # no settings asked: the stored ones are used
    assert read_spec(quiet).population == 12 and read_spec(quiet).preset == "tiny"
    with pytest.raises(ConfigError, match=r"other search settings: levels 2 \(asked 3\); population 12 \(asked 24\)"):
        create_study(TASK, storage=sqlite(tmp_path), levels=3, population=24)
    with pytest.raises(ConfigError, match="searches task square"):
        create_study(make_task("relu", 5), storage=sqlite(tmp_path), study_name=study.study_name)
    with pytest.raises(ConfigError, match="no study named 'nope'"):
        load_study("nope", storage=sqlite(tmp_path))
    again = load_study(None, storage=sqlite(tmp_path))  # the storage's only orderopt study
    assert again.study_name == study.study_name
    assert task_of(again).spec() == TASK.spec() and read_spec(again).levels == 2
    assert 0 < search(again, n_trials=12, progress=False).trials <= 12
    candidates = [tuple(t.user_attrs["order"]) for t in again.trials
                  if t.system_attrs["orderopt:role"] in ("candidate", "model")]
    assert len(candidates) == len(set(candidates))


def test_bad_settings_and_foreign_studies_write_nothing(tmp_path):
    url = sqlite(tmp_path)
    for bad, match in (({"steps": 0}, "steps must be >= 1"), ({"population": 0}, "population must be >= 1"),
                       ({"mode": "nope"}, "unknown search mode"), ({"preset": "huge"}, "unknown preset")):
        with pytest.raises(ConfigError, match=match):
            create_study(TASK, storage=url, **bad)
    with pytest.raises(ConfigError, match="L >= 3"):
        create_study(make_task("square", 2), storage=url)
    assert optuna.get_all_study_summaries(url) == []
    optuna.create_study(storage=url, study_name="plain", direction="maximize")
    with pytest.raises(ConfigError, match="not created by orderopt"):
        create_study(TASK, storage=url, study_name="plain")
    with pytest.raises(ConfigError, match="not created by orderopt"):
        load_study("plain", storage=url)
    assert optuna.load_study(study_name="plain", storage=url).trials == []


def test_rank_pruner_in_mixture_rounds_and_in_memory_storage():
    study = create_study(TASK, storage=optuna.storages.InMemoryStorage(), **{**SMALL, "pruning": "rank"})
    res = search(study, n_trials=12, progress=False)
    states = [t.state for t in study.trials]
    assert res.trials == 12 and TrialState.PRUNED in states and TrialState.RUNNING not in states
    for t in study.trials:  # pruned orders are scored too, on the round's scale at the step they stopped
        assert t.system_attrs[SCORE_ATTR] > 0 and t.user_attrs["score"] == t.system_attrs[SCORE_ATTR]


def test_trial_mode(tmp_path):
    study = create_study(TASK, storage=sqlite(tmp_path), preset="tiny", mode="trial", levels=2)
    res = search(study, n_trials=4, progress=False)
    assert res.trials == 4 and len(study.trials) == 4
    assert all(len(t.intermediate_values) >= 1 for t in study.trials)
    assert all(t.system_attrs["orderopt:stage"] == "global-1" for t in study.trials)


def test_interrupted_round_loses_nothing(tmp_path, monkeypatch):
    import orderopt.studies._search as search_module

    study = create_study(TASK, storage=sqlite(tmp_path), **SMALL)
    search(study, n_trials=12, progress=False)  # the first round completes
    done = {t.number: t.state for t in study.trials}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(search_module, "profile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        search(study, progress=False)
    states = {t.number: t.state for t in study.trials}
    assert all(states[n] == s for n, s in done.items())  # finished trials are untouched
    assert TrialState.RUNNING not in states.values() and TrialState.FAIL in states.values()
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    failed_stage = {t.system_attrs["orderopt:stage"] for t in failed}
    monkeypatch.undo()
    search(study, progress=False)  # re-running the same search re-runs the interrupted round
    redone = {tuple(t.user_attrs["order"]) for t in study.trials if t.state != TrialState.FAIL
              and t.system_attrs["orderopt:stage"] in failed_stage}
    assert {tuple(t.user_attrs["order"]) for t in failed} <= redone


def test_verify_trains_best_and_baselines(tmp_path):
    from orderopt.studies import format_verification, verify

    study = create_study(TASK, storage=sqlite(tmp_path), **SMALL)
    search(study, n_trials=12, progress=False)
    rows = verify(study, top=2, n_random=1, progress=False)
    assert [r.label for r in rows] == ["found #1", "found #2", "forward", "reverse", "random:0"]
    assert all(0.0 <= r.success <= 1.0 for r in rows)
    assert rows[0].order == best_orders(study, 1)[0][0] and rows[0].profile_score == best_orders(study, 1)[0][1]
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
    study = create_study(TASK, storage=sqlite(tmp_path), mode=mode, pruner=pruner, **{**SMALL, "round_size": 6})
    res = search(study, n_trials=12, progress=False)
    assert res.trials == 12
    for t in study.trials:
        assert t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.intermediate_values
        assert is_order(tuple(t.user_attrs["order"]), 5)
    assert any(t.state == TrialState.COMPLETE for t in study.trials)


def test_trials_that_never_beat_are_failed_after_the_grace_period(tmp_path):
    import time

    study = create_study(TASK, storage=sqlite(tmp_path), heartbeat_interval=1, grace_period=2, **SMALL)
    orphan = study._storage.create_new_trial(study._study_id)  # a worker died before its first heartbeat
    time.sleep(2.5)
    search(study, n_trials=12, progress=False)
    assert study._storage.get_trial(orphan).state == TrialState.FAIL
    assert TrialState.RUNNING not in [t.state for t in study.trials]
