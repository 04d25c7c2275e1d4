"""Study specs are versioned: a study made by another orderopt is refused with a clear message."""

from __future__ import annotations

import optuna
import pytest

from orderopt.cli import main
from orderopt.errors import ConfigError
from orderopt.studies import create_study, load_study
from orderopt.studies._spec import SPEC_ATTR
from orderopt.tasks import make_task


@pytest.fixture
def stored(tmp_path):
    url = f"sqlite:///{tmp_path / 'o.db'}"
    create_study(make_task("square", 5), storage=url, study_name="s", preset="tiny", levels=2)
    return url


def _edit_spec(url, **changes):
    study = optuna.load_study(study_name="s", storage=url)
    study.set_user_attr(SPEC_ATTR, {**study.user_attrs[SPEC_ATTR], **changes})


def test_other_schedule_version_is_refused_with_a_clear_message(stored, capsys):
    _edit_spec(stored, schedule_version=1)
    with pytest.raises(ConfigError, match="older orderopt .*search schedule version 1"):
        load_study("s", storage=stored)
    assert main(["worker", "--study", "s", "--storage", stored]) == 2
    err = capsys.readouterr().err
    assert "start a new study with another --study name" in err and err.count("\n") == 1


def test_unknown_setting_means_a_newer_orderopt(stored, capsys):
    _edit_spec(stored, shiny_new_setting=3)
    with pytest.raises(ConfigError, match="newer orderopt .*shiny_new_setting"):
        load_study("s", storage=stored)
    assert main(["report", "--study", "s", "--storage", stored]) == 2
    assert "upgrade orderopt" in capsys.readouterr().err


def test_a_study_made_before_the_dependency_probe_resumes_without_it(stored):
    study = optuna.load_study(study_name="s", storage=stored)
    spec = {k: v for k, v in study.user_attrs[SPEC_ATTR].items() if k != "prior"}
    study.set_user_attr(SPEC_ATTR, spec)
    from orderopt.studies import read_spec

    assert read_spec(load_study("s", storage=stored)).prior == "none"


def test_an_older_spec_version_is_refused(stored):
    _edit_spec(stored, version=2)  # its mixture rounds would resolve to other sizes now
    with pytest.raises(ConfigError, match="older orderopt .*spec version 2"):
        load_study("s", storage=stored)


def test_mixture_rounds_default_to_the_presets_mixture_size_with_the_tasks_recipe():
    from orderopt.studies import StudySpec

    prod = StudySpec(task=make_task("prod", 6, scramble=2).spec(), length=6).resolved()
    assert (prod.population, prod.round_size) == (128, 128)  # prod's recipe: small mixtures
    square = StudySpec(task=make_task("square", 6).spec(), length=6).resolved()
    assert (square.population, square.round_size) == (512, 512)
    asked = StudySpec(task=make_task("prod", 6).spec(), length=6, population=300).resolved()
    assert (asked.population, asked.round_size) == (300, 128)  # a setting given wins
