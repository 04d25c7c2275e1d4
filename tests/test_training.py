from __future__ import annotations

import numpy as np
import pytest
import torch

from orderopt.errors import ConfigError
from orderopt.tasks import from_callable, make_task
from orderopt.engine import TrainConfig, checkpoint_steps, lr_at, pick_device
from orderopt.training import success_rate, train, with_overrides


def copy_task(n, rng):
    x = rng.integers(0, 8, size=(n, 5))
    return x, x.copy()


def test_learns_a_copy_task_and_success_is_exact_match(tiny):
    task = from_callable(copy_task)
    config = with_overrides(tiny.final_train, steps=300, lr=1e-2)
    result = train(task, (0, 1, 2, 3, 4), tiny.final_model, config, progress=False)
    # adaptive (the preset's default): it stops at the first checkpoint where every validation row is right
    assert result.stop_reason == "solved" and result.steps == result.curve[-1][0] < 300
    assert result.curve[-1][1] < 0.1
    fixed = train(task, (0, 1, 2, 3, 4), tiny.final_model, with_overrides(config, adaptive=False), progress=False)
    losses = [v for _, v in fixed.curve]
    assert fixed.steps == 300 and fixed.stop_reason == "fixed" and losses[-1] < losses[0]
    rep = success_rate(result.model, result.splits.x_test, result.splits.y_test, (0, 1, 2, 3, 4))
    assert rep.success_rate > 0.9
    assert len(rep.position_accuracy) == 5 and min(rep.position_accuracy) >= rep.success_rate
    # a shuffled target cannot be right: the same model scored in another order fails
    wrong = success_rate(result.model, result.splits.x_test, result.splits.y_test, (4, 3, 2, 1, 0))
    assert wrong.success_rate < 0.2


def test_training_is_reproducible_on_cpu(tiny):
    task = make_task("square", 4)
    config = with_overrides(tiny.profile_train, steps=20)
    a = train(task, (0, 1, 2, 3), tiny.profile_model, config, progress=False)
    b = train(task, (0, 1, 2, 3), tiny.profile_model, config, progress=False)
    c = train(task, (0, 1, 2, 3), tiny.profile_model, with_overrides(config, seed=1), progress=False)
    assert a.curve == b.curve
    assert a.curve != c.curve
    assert a.device == "cpu"


def test_checkpoints_and_callback(tiny):
    seen = []
    config = with_overrides(tiny.profile_train, steps=10, checkpoints=3)
    result = train(make_task("relu", 4), (3, 2, 1, 0), tiny.profile_model, config, progress=False,
                   on_checkpoint=lambda s, v: seen.append(s))
    assert [s for s, _ in result.curve] == seen == checkpoint_steps(10, 3) == [3, 7, 10]


def test_lr_schedule_is_warmup_then_linear_decay():
    config = TrainConfig(lr=1.0, warmup_steps=10)
    assert lr_at(0, config, 110) == pytest.approx(0.1)
    assert lr_at(10, config, 110) == pytest.approx(1.0)
    assert lr_at(60, config, 110) == pytest.approx(0.5)
    assert lr_at(109, config, 110) == pytest.approx(0.01)


def test_lr_schedule_holds_the_peak_before_decaying():
    config = TrainConfig(lr=1.0, warmup_steps=10, hold_fraction=0.5)
    assert lr_at(0, config, 110) == pytest.approx(0.1)
    assert lr_at(59, config, 110) == pytest.approx(1.0)  # held for half of the 100 steps after warmup
    assert lr_at(60, config, 110) == pytest.approx(1.0)
    assert lr_at(85, config, 110) == pytest.approx(0.5)
    assert lr_at(109, config, 110) == pytest.approx(0.02)
    with pytest.raises(ConfigError, match="hold_fraction"):
        TrainConfig(hold_fraction=1.0).check()


def test_bad_config_and_device():
    with pytest.raises(ConfigError, match="steps must be >= 1"):
        TrainConfig(steps=0).check()
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            pick_device("cuda:0")
    with pytest.raises(ConfigError, match="unknown device"):
        pick_device("tpu9")


def test_success_rate_rejects_wrong_order_length(tiny):
    task = make_task("square", 4)
    result = train(task, (0, 1, 2, 3), tiny.profile_model, with_overrides(tiny.profile_train, steps=2), progress=False)
    with pytest.raises(Exception, match="length 3"):
        success_rate(result.model, np.zeros((2, 4), int), np.zeros((2, 4), int), (0, 1, 2))
