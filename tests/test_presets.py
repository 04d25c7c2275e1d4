"""Presets and per-task recipes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orderopt.cli import main
from orderopt.errors import ConfigError
from orderopt.presets import PRESETS, TASK_RECIPES, get_preset, preset_for
from orderopt.tasks import make_task


@pytest.fixture
def square_recipe(monkeypatch):
    tiny = get_preset("tiny")
    fields = {"final_train": replace(tiny.final_train, steps=7)}
    monkeypatch.setitem(TASK_RECIPES, ("tiny", "square"), (fields, "7 steps, for this test"))
    return fields


def test_a_task_without_recipe_gets_the_preset():
    assert preset_for("tiny", make_task("relu", 4)) is PRESETS["tiny"]
    assert preset_for("TINY", "relu") is PRESETS["tiny"]


def test_the_recipe_applies_to_the_task_and_its_scrambled_versions(square_recipe):
    for task in (make_task("square", 4), make_task("square", 6, scramble=3), "square"):
        chosen = preset_for("tiny", task)
        assert chosen.final_train.total_steps() == 7
        assert chosen.profile_train == PRESETS["tiny"].profile_train  # only what the recipe names changes
        assert "7 steps, for this test" in chosen.description
    assert preset_for("cpu", "square") is PRESETS["cpu"]  # recipes are per preset


def test_train_uses_the_recipe_and_tasks_prints_it(square_recipe, capsys):
    assert main(["train", "--task", "square", "--length", "4", "--preset", "tiny", "--quiet"]) == 0
    assert "7 steps" in capsys.readouterr().out
    assert main(["train", "--task", "square", "--length", "4", "--preset", "tiny", "--steps", "5", "--quiet"]) == 0
    assert "5 steps" in capsys.readouterr().out  # a flag still wins
    assert main(["tasks"]) == 0
    assert "preset tiny: 7 steps, for this test" in capsys.readouterr().out


def test_unknown_preset_is_one_clear_error():
    with pytest.raises(ConfigError, match="unknown preset 'big'; choose one of tiny, cpu, paper"):
        preset_for("big", "prod")


def test_a_recipe_can_depend_on_the_task_options():
    cpu = PRESETS["cpu"]
    wide = preset_for("cpu", make_task("index", 8, window=4))
    assert wide.final_train.total_steps() == 4_000 and "d >= 4" in wide.description
    assert preset_for("cpu", make_task("index", 8, window=4, scramble=1)).final_train.total_steps() == 4_000
    assert preset_for("cpu", make_task("index", 8, window=2)) is cpu  # the recipe returns no change
    assert preset_for("cpu", "index") is cpu  # a name alone: the default window, 2


def test_prod_recipe_depends_on_the_operands_digit_count():
    short, long = (preset_for("cpu", make_task("prod", n)).final_train for n in (6, 8))
    assert (short.total_steps(), short.n_train) == (6_000, 30_000)
    assert (long.total_steps(), long.n_train) == (9_000, 100_000)
    assert preset_for("cpu", make_task("prod", 6, scramble=2)).final_train == short
    assert preset_for("cpu", "prod").final_train == long  # a name alone: prod's default L = 8
    assert preset_for("cpu", "prod").mixture_size == 128 and preset_for("cpu", "prod").final_model.n_head == 8
    # L >= 8 trains a 256-wide feed-forward layer (as fast per step, 76% of the time); L = 6 keeps 512
    assert [preset_for("cpu", make_task("prod", n)).final_model.ffn for n in (6, 8, 10)] == [512, 256, 256]


def test_a_studys_pruner_waits_for_half_of_its_tasks_recipe(monkeypatch, tmp_path):
    from orderopt.studies import create_study

    tiny = get_preset("tiny")

    def by_window(task) -> dict:
        return {"profile_train": replace(tiny.profile_train, steps=40 * task.window)}

    monkeypatch.setitem(TASK_RECIPES, ("tiny", "index"), (by_window, "steps by window, for this test"))
    storage = f"sqlite:///{tmp_path / 's.db'}"
    for window in (2, 4):
        study = create_study(make_task("index", 8, window=window), storage=storage, preset="tiny", mode="trial",
                             study_name=f"w{window}", learnability="none")
        assert study.pruner.warmup_steps == 20 * window  # the recipe of the task with its options
