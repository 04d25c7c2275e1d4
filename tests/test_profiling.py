from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from orderopt.errors import ConfigError, InvalidOrderError
from orderopt.orders import identity, random_orders, reverse
from orderopt.profiling import ProfileConfig, config_from_preset, profile
from orderopt.tasks import make_task
from orderopt.engine import checkpoint_steps

TASK = make_task("square", 5)
ORDERS = [identity(5), reverse(5), *random_orders(5, 6, seed=0, exclude=[identity(5), reverse(5)])]


def tiny_config(tiny, **kw) -> ProfileConfig:
    return config_from_preset(tiny, **{"val_per_order": 64, "steps": 40, **kw})


@pytest.mark.parametrize("mode", ["mixture", "separate", "batched"])
def test_every_order_gets_a_score_and_curve(tiny, mode):
    res = profile(TASK, ORDERS, tiny_config(tiny, mode=mode), progress=False)
    assert res.scores.shape == (8,) and np.isfinite(res.scores).all()
    assert res.curves.shape == (len(res.steps), 8) and res.steps[-1] == 40
    assert np.array_equal(res.curves[-1], res.scores)
    ranking = res.ranking()
    assert [r for r, _, _ in ranking] == list(range(1, 9))
    assert sorted(o for _, o, _ in ranking) == sorted(ORDERS)
    assert res.rank_of(ORDERS[0]) in range(1, 9)


@pytest.mark.parametrize("mode", ["mixture", "separate", "batched"])
def test_dropping_orders_mid_run(tiny, mode):
    first = checkpoint_steps(40, 3)[0]
    seen_steps = []

    def drop_worst_half(step, losses):
        seen_steps.append((step, len(losses)))
        return sorted(losses, key=losses.get)[len(losses) // 2:] if step == first else None

    res = profile(TASK, ORDERS, tiny_config(tiny, mode=mode, checkpoints=3), on_checkpoint=drop_worst_half, progress=False)
    dropped = set(res.dropped_at)
    assert len(dropped) == 4 and set(res.dropped_at.values()) == {first}
    for i, o in enumerate(ORDERS):
        if o in dropped:
            assert np.isnan(res.curves[1:, i]).all() and res.scores[i] == res.curves[0, i]
        else:
            assert np.isfinite(res.curves[:, i]).all()
    assert seen_steps == [(first, 8), (checkpoint_steps(40, 3)[1], 4), (40, 4)]


def test_same_seed_same_scores(tiny):
    a = profile(TASK, ORDERS, tiny_config(tiny), progress=False)
    b = profile(TASK, ORDERS, tiny_config(tiny), progress=False)
    c = profile(TASK, ORDERS, tiny_config(tiny, seed=1), progress=False)
    assert np.array_equal(a.scores, b.scores)
    assert not np.array_equal(a.scores, c.scores)


def test_batched_ranks_like_separate(tiny):
    sep = profile(TASK, ORDERS, tiny_config(tiny, mode="separate", steps=60), progress=False)
    bat = profile(TASK, ORDERS, tiny_config(tiny, mode="batched", steps=60), progress=False)
    assert np.allclose(sep.scores, bat.scores, rtol=1e-3, atol=1e-4)
    assert spearmanr(sep.scores, bat.scores).statistic > 0.99


def test_both_signals_run(tiny):
    none = profile(TASK, ORDERS, tiny_config(tiny, signal="none"), progress=False)
    index = profile(TASK, ORDERS, tiny_config(tiny, signal="index"), progress=False)
    assert not np.array_equal(none.scores, index.scores)


def test_bad_candidates_and_config(tiny):
    cfg = tiny_config(tiny)
    with pytest.raises(InvalidOrderError, match="listed twice"):
        profile(TASK, [identity(5), identity(5)], cfg, progress=False)
    with pytest.raises(InvalidOrderError, match="L=5"):
        profile(TASK, [identity(4)], cfg, progress=False)
    with pytest.raises(InvalidOrderError, match="no candidate orders"):
        profile(TASK, [], cfg, progress=False)
    with pytest.raises(ConfigError, match="unknown profiling mode"):
        profile(TASK, ORDERS, tiny_config(tiny, mode="parallel"), progress=False)
    with pytest.raises(InvalidOrderError, match="not a candidate"):
        profile(TASK, ORDERS, cfg, on_checkpoint=lambda s, l: [identity(5)[::-1][1:] + (4,)], progress=False)


def test_validation_schemes_agree_on_the_final_ranking_and_are_deterministic(tiny):
    orders = ORDERS * 1
    full = profile(TASK, orders, tiny_config(tiny, validation="full"), progress=False)
    halving = profile(TASK, orders, tiny_config(tiny, screen_samples=8, screen_budget=1, finalists=4), progress=False)
    again = profile(TASK, orders, tiny_config(tiny, screen_samples=8, screen_budget=1, finalists=4), progress=False)
    assert np.array_equal(halving.scores, again.scores)
    # the best quarter (at least `finalists`) is scored on every validation sample, like `full`
    assert (halving.samples >= 8).all() and (halving.samples == 64).sum() == 4
    assert np.allclose(halving.scores[halving.samples == 64], full.scores[halving.samples == 64], atol=1e-6)
    assert halving.position_scores.shape == (8, 5) and np.allclose(halving.position_scores.mean(1), halving.scores)
    # the rest keep their score on the 8 screen samples, shifted onto the finalists' scale by one common margin
    screen = profile(TASK, orders, tiny_config(tiny, validation="full", val_per_order=8), progress=False)
    rest = halving.samples == 8
    shift = (halving.position_scores[~rest] - screen.position_scores[~rest]).mean(axis=0)
    assert np.allclose(halving.position_scores[rest], np.maximum(screen.position_scores[rest] + shift, 0), atol=1e-6)
    assert (halving.position_scores >= 0).all()


def test_screens_share_a_budget_so_small_mixtures_are_scored_on_every_sample(tiny):
    # default budget: 8 orders x 64 samples fits, so halving scores every order like `full`
    full = profile(TASK, ORDERS, tiny_config(tiny, validation="full"), progress=False)
    halving = profile(TASK, ORDERS, tiny_config(tiny), progress=False)
    assert (halving.samples == 64).all() and np.allclose(halving.scores, full.scores, atol=1e-6)
    # a budget of 8 x 32 pairs screens on 32 samples; the best quarter still gets all 64
    part = profile(TASK, ORDERS, tiny_config(tiny, screen_samples=8, screen_budget=8 * 32, finalists=2), progress=False)
    assert sorted(part.samples.tolist()) == [32] * 6 + [64] * 2


def test_bad_validation_settings(tiny):
    for bad, match in (({"validation": "some"}, "unknown validation scheme"), ({"screen_samples": 0}, "screen_samples"),
                       ({"screen_budget": 0}, "screen_budget"),
                       ({"finalists": 0}, "finalists"), ({"lr": float("nan")}, "lr must be")):
        with pytest.raises(ConfigError, match=match):
            profile(TASK, ORDERS, tiny_config(tiny, **bad), progress=False)


def test_a_profiling_mode_added_to_the_registry_reaches_profile_and_the_cli(monkeypatch, capsys):
    """Adding a mode = one function + one registry line: config checks, dispatch and CLI choices follow."""
    import numpy as np

    from orderopt import profiling
    from orderopt.cli import build_parser, main
    from orderopt.orders import kendall_tau_distance

    def by_distance(task, orders, config, splits, hook, progress):  # a "profile" that needs no training
        scores = np.array([kendall_tau_distance(o, range(task.length)) for o in orders], dtype=float)
        return profiling.ProfileResult(orders=list(orders), scores=scores, steps=[0], curves=scores[None, :],
                                       mode="distance")

    monkeypatch.setitem(profiling.MODES, "distance", by_distance)
    profile_parser = build_parser()._subparsers._group_actions[0].choices["profile"]
    assert "distance" in next(a for a in profile_parser._actions if a.dest == "mode").choices
    assert main(["profile", "--task", "square", "--length", "5", "--mode", "distance", "--orders", "reverse,forward",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "mode distance" in out
    assert any(line.split()[:2] == ["forward", "rank"] and line.split()[2] == "1" for line in out.splitlines())
