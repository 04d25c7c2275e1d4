"""Profile-length calibration: doubles while the probe is flat, stored once, reused on resume."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

import orderopt.studies._calibrate as calibrate
from orderopt.studies import calibrated_steps, create_study, read_probes, read_spec, search
from orderopt.tasks import from_callable, make_task

optuna.logging.set_verbosity(optuna.logging.WARNING)
SMALL = {"preset": "tiny", "levels": 2, "population": 8, "round_size": 8, "tournament_size": 2}


def noise_targets(n, rng):
    """Targets unrelated to the input: every order stays at chance, so every profile is flat."""
    return rng.integers(0, 10, size=(n, 4)), rng.integers(0, 10, size=(n, 4))


def _study(task, **settings):
    return create_study(task, storage=optuna.storages.InMemoryStorage(), seed=0, **{**SMALL, **settings})


def test_flat_probe_doubles_while_the_spread_grows_and_warns():
    study = _study(from_callable("tests.studies.test_calibrate:noise_targets"))
    seen = []
    with pytest.warns(UserWarning, match="flat at every probed length"):
        steps = calibrated_steps(study, study_task(study), read_spec(study).resolved(), max_doublings=3,
                                 progress=False, on_probe=seen.append)
    stored, probes = read_probes(study)
    assert [p.steps for p in probes] == [60 * 2**k for k in range(len(probes))] == [p.steps for p in seen]
    assert all(p.spread < calibrate.FLAT_SPREAD for p in probes)
    spreads = [p.spread for p in probes]
    assert all(a < b for a, b in zip(spreads[:-2], spreads[1:-1]))  # kept doubling only while it grew
    assert len(probes) == 4 or spreads[-1] <= spreads[-2]
    assert stored == steps == max(probes, key=lambda p: p.spread).steps


def test_the_widest_spread_wins_when_longer_training_stops_helping(monkeypatch):
    """The shape measured on prod L = 6: the spread grows, then falls; the peak is kept."""
    spread_at = {60: 0.01, 120: 0.04, 240: 0.02, 480: 0.5}

    class Result:
        def __init__(self, steps):
            self.scores = np.array([1.0 - spread_at[steps], 1.0, 1.0])

    monkeypatch.setattr(calibrate, "profile", lambda task, orders, config, **kw: Result(config.train.total_steps()))
    study = _study(make_task("square", 4))
    with pytest.warns(UserWarning, match="widest spread 4.0% at 120 steps"):
        steps = calibrated_steps(study, study_task(study), read_spec(study).resolved(), max_doublings=3,
                                 progress=False)
    assert steps == 120 and [p.steps for p in read_probes(study)[1]] == [60, 120, 240]


@pytest.mark.filterwarnings("ignore:the profile of")
def test_an_informative_probe_keeps_the_preset_steps(monkeypatch):
    study = _study(make_task("square", 4))
    monkeypatch.setattr(calibrate, "is_flat", lambda scores: False)
    assert calibrated_steps(study, study_task(study), read_spec(study).resolved(), max_doublings=3,
                            progress=False) == 60
    assert [p.steps for p in read_probes(study)[1]] == [60]


@pytest.mark.filterwarnings("ignore:the profile of")
def test_stored_or_explicit_steps_are_used_without_probing(monkeypatch):
    study = _study(make_task("square", 4))
    spec = read_spec(study).resolved()
    assert calibrated_steps(study, study_task(study), spec, max_doublings=1, progress=False) in (60, 120)

    def no_profile(*args, **kwargs):
        raise AssertionError("probed again")

    monkeypatch.setattr(calibrate, "profile", no_profile)
    stored, _ = read_probes(study)
    assert calibrated_steps(study, study_task(study), spec, max_doublings=1, progress=False) == stored
    explicit = _study(make_task("square", 4), steps=33)
    assert calibrated_steps(explicit, study_task(explicit), read_spec(explicit).resolved(), progress=False) == 33
    assert read_probes(explicit) == (None, [])


def test_search_stores_its_profile_length_and_the_tiny_preset_does_not_probe(monkeypatch):
    study = _study(make_task("square", 4))
    probed = []
    search(study, n_trials=8, progress=False, on_probe=probed.append)
    assert read_probes(study) == (60, []) and probed == []
    assert {t.intermediate_values and max(t.intermediate_values) for t in study.trials} == {60}


def study_task(study):
    from orderopt.studies import task_of

    return task_of(study)


def test_is_flat_reads_the_spread_against_the_median():
    assert calibrate.is_flat(np.full(5, 2.0))
    assert not calibrate.is_flat(np.array([1.0, 2.0, 2.0, 2.0]))
