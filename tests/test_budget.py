from __future__ import annotations

import pytest

from orderopt.budget import RunLength


def run(plan: RunLength, loss_at, exact_at=lambda step: 0.0, pace: float = 0.01) -> RunLength:
    """Drive ``plan`` as a training loop would, with the given validation curve."""
    step = 0
    while step < plan.end:
        step += 1
        if plan.is_checkpoint(step) and plan.checkpoint(step, loss_at(step), exact_at(step), pace * step):
            break
    plan.end = step
    return plan


def adaptive(**kwargs) -> RunLength:
    return RunLength(**{"lr": 1.0, "nominal": 1000, "warmup": 100, "hold_fraction": 0.5, "checkpoints": 10,
                        "adaptive": True, **kwargs})


def test_a_fixed_run_takes_its_steps_and_its_schedule():
    plan = run(RunLength(lr=1.0, nominal=1000, warmup=100, hold_fraction=0.5), lambda s: 1.0, lambda s: 1.0)
    assert (plan.end, plan.reason) == (1000, "fixed")
    fixed = RunLength(lr=1.0, nominal=110, warmup=10)
    assert fixed.lr_at(0) == pytest.approx(0.1) and fixed.lr_at(60) == pytest.approx(0.5)


def test_a_solved_run_stops_at_once():
    plan = run(adaptive(), lambda s: 1.0 / s, lambda s: 1.0 if s >= 300 else 0.5)
    assert (plan.end, plan.reason) == (300, "solved")


def test_a_flat_run_keeps_the_preset_schedule():
    plan = adaptive()
    lrs = [plan.lr_at(s) for s in range(1000)]
    run(plan, lambda s: 2.3)
    assert (plan.end, plan.reason) == (1000, "settled")
    assert [plan.lr_at(s) for s in range(1000)] == lrs  # not extended: the preset's learning rates, step by step


def test_a_run_that_still_learns_goes_on_then_decays():
    # the loss halves every 400 steps until step 1600, then stays
    plan = run(adaptive(), lambda s: 2.0 * 0.5 ** (min(s, 1600) / 400))
    assert plan.reason == "settled" and 1600 + 500 <= plan.end <= 1600 + 500 + 2 * plan.interval
    assert plan.lr_at(plan.decay_start - 1) == 1.0 and plan.lr_at(plan.end - 1) < 0.01  # held, then the full decay


def test_extension_stops_at_the_step_and_time_budgets():
    falling = lambda s: 2.0 * 0.5 ** (s / 400)  # noqa: E731 - never settles
    capped = run(adaptive(max_steps=2000), falling)
    assert capped.reason == "max-steps" and capped.end <= 2000
    default = run(adaptive(), falling)
    assert default.reason == "max-steps" and 3000 < default.end <= 4000  # 4 x the planned steps by default
    timed = run(adaptive(budget_minutes=0.25), falling, pace=0.01)  # 15 s at 10 ms per step: 1,500 steps
    assert timed.reason == "time" and timed.end <= 1500


def test_a_budget_below_the_planned_steps_squeezes_the_schedule():
    plan = run(adaptive(max_steps=400), lambda s: 2.3)
    assert plan.end == 400 and plan.lr_at(399) < 0.01
