from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderopt.errors import InvalidOrderError, TaskConfigError
from orderopt.orders import apply_order, identity, is_order
from orderopt.tasks import TASKS, from_callable, make_task, resolve_task, scrambled, task_from_spec


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(sorted(TASKS)), seed=st.integers(0, 10_000))
def test_scrambled_data_equal_the_original_under_the_relabelling(name, seed):
    length = 8
    base, mixed = make_task(name, length), make_task(name, length, scramble=seed)
    a, b = base.splits(64, 16, 16, seed=3), mixed.splits(64, 16, 16, seed=3)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.x_test, b.x_test)
    assert np.array_equal(b.y_train, a.y_train[:, list(mixed.relabel)])
    # the friendly order emits, token for token, what forward emits on the original task
    friendly = mixed.parse_order("friendly")
    assert is_order(friendly, length) and friendly == mixed.parse_order("forward")
    assert np.array_equal(apply_order(b.y_train, friendly), a.y_train)
    # every named order of the original maps the same way
    for key, order in base.known_orders().items():
        assert np.array_equal(apply_order(b.y_val, mixed.parse_order(key)), apply_order(a.y_val, order))


def test_lists_and_random_orders_are_the_scrambled_tasks_own():
    task = make_task("square", 6, scramble=1)
    assert task.parse_order("5,4,3,2,1,0") == (5, 4, 3, 2, 1, 0)
    assert task.parse_order("random:3") == make_task("square", 6).parse_order("random:3")
    assert task.parse_order("reverse") != (5, 4, 3, 2, 1, 0) or task.relabel == identity(6)
    with pytest.raises(InvalidOrderError, match="friendly"):
        task.parse_order("sideways")


def test_spec_round_trip_name_and_options():
    task = make_task("delay", 8, scramble=4, delay=3)
    again = task_from_spec(task.spec())
    assert again.spec() == task.spec() == {"name": "delay", "length": 8, "variables": 2, "delay": 3, "scramble": 4}
    assert again.relabel == task.relabel and task.name == "delay-scrambled4"
    assert "scrambled by seed 4" in task.describe()
    assert resolve_task("square", 5, scramble=2).spec()["scramble"] == 2
    with pytest.raises(TaskConfigError, match="scrambled already"):
        scrambled(task, 1)


def test_user_tasks_scramble_too():
    def running_sum(n, rng):
        x = rng.integers(0, 10, size=(n, 5))
        return x, np.cumsum(x, axis=1) % 10

    task = scrambled(from_callable(running_sum), 7)
    x, y = task.sample(4, seed=0)
    assert np.array_equal(apply_order(y, task.parse_order("friendly")), np.cumsum(x, axis=1) % 10)


def test_a_user_tasks_own_friendly_order_survives_scrambling():
    def backwards_sum(n, rng):  # y[i] = sum of x[i:] mod 10: friendly from the last target down
        x = rng.integers(0, 10, size=(n, 5))
        return x, np.cumsum(x[:, ::-1], axis=1)[:, ::-1] % 10

    backwards_sum.orders = {"friendly": [4, 3, 2, 1, 0]}
    task = scrambled(from_callable(backwards_sum), 3)
    x, y = task.sample(4, seed=0)
    emitted = apply_order(y, task.parse_order("friendly"))
    assert np.array_equal(emitted, (np.cumsum(x[:, ::-1], axis=1) % 10))  # the original's friendly, token for token
    assert task.parse_order("friendly") != task.parse_order("forward")
