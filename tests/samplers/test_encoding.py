from __future__ import annotations

import optuna
import pytest

from orderopt.errors import ConfigError
from orderopt.orders import is_order
from orderopt.samplers import decode_params, encode_params, layout_sizes, order_param_names, suggest_order

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize(
    "sampler",
    [
        optuna.samplers.RandomSampler(seed=0),
        optuna.samplers.TPESampler(seed=0, multivariate=True, n_startup_trials=5),
        optuna.samplers.CmaEsSampler(seed=0, n_startup_trials=3),
    ],
    ids=["random", "tpe", "cmaes"],
)
@pytest.mark.parametrize("blocks", [None, 3, (1, 4, 2), 7])
def test_any_sampler_gets_valid_orders(sampler, blocks):
    def objective(trial):
        order = suggest_order(trial, 7, blocks=blocks)
        assert is_order(order, 7)
        assert suggest_order(trial, 7, blocks=blocks) == order  # same order when asked twice
        return sum(abs(o - i) for i, o in enumerate(order))

    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=12)
    for t in study.trials:
        assert tuple(t.user_attrs["order"]) == decode_params(t.params, "order", layout_sizes(7, blocks))
        assert all(isinstance(v, int) for v in t.params.values())


def test_layouts_and_param_names():
    assert layout_sizes(7, None) == (7,)
    assert layout_sizes(7, 3) == (3, 2, 2)
    assert layout_sizes(7, [1, 6]) == (1, 6)
    names = order_param_names("order", (2, 3))
    assert names == [("order.blocks.0", 1), ("order.b0.0", 1), ("order.b1.0", 2), ("order.b1.1", 1)]


def test_encode_decode_roundtrip():
    sizes = (3, 2, 2)
    order = (5, 6, 0, 2, 1, 4, 3)
    params = encode_params(order, "o", sizes)
    assert decode_params(params, "o", sizes) == order


@pytest.mark.parametrize(
    "n, blocks, message",
    [(0, None, "n >= 1"), (4, (1, 2), "do not sum to n=4"), (3, 5, "cannot split 3 items into 5 blocks"), (4, (2, 0, 2), "do not sum")],
)
def test_bad_layouts(n, blocks, message):
    study = optuna.create_study()
    trial = study.ask()
    with pytest.raises(ConfigError, match=message):
        suggest_order(trial, n, blocks=blocks)


def test_named_orders_are_independent():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    a = suggest_order(trial, 5, name="a")
    b = suggest_order(trial, 4, name="b", blocks=2)
    assert trial.user_attrs["a"] == list(a) and trial.user_attrs["b"] == list(b)
    assert trial.user_attrs["b_blocks"] == [2, 2]
