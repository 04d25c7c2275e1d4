from __future__ import annotations

import math

import numpy as np
import pytest

from orderopt.errors import TaskConfigError, UnknownTaskError
from orderopt.orders import is_order
from orderopt.tasks import TASKS, make_task, task_from_spec
from orderopt.tasks.base import _row_keys
from orderopt.tasks.delay import DelayTask


def test_square_worked_example_from_paper():
    assert make_task("square", 5).targets(np.array([[7, -2, 4, 1, 3]])).tolist() == [[7, -4, -6, -1, -9]]


def test_relu_by_hand():
    assert make_task("relu", 5).targets(np.array([[3, -5, 4, 9, -9]])).tolist() == [[3, 0, 4, 13, 4]]


def test_cubic_triangle_sine_by_hand():
    x = np.array([[2, 3, -4]])
    assert make_task("cubic", 3).targets(x).tolist() == [[2, (27 + 8) % 19 - 19, ((-64 + (-3) ** 3) % 19)]]
    # tri(3 + 2) = |5 - 9| = 4; tri(-4 + 4) = 9
    assert make_task("triangle", 3).targets(x).tolist() == [[2, 4, 9]]
    y1 = round(9 * math.sin(5))
    assert make_task("sine", 3).targets(x).tolist() == [[2, y1, round(9 * math.sin(-4 + y1))]]


def test_mlp_map_is_fixed_balanced_and_not_injective():
    a, b = make_task("mlp", 6), make_task("mlp", 6)
    assert np.array_equal(a.table, b.table)
    assert not np.array_equal(a.table, make_task("mlp", 6, mlp_seed=1).table)
    counts = np.bincount(a.table.ravel() + 9, minlength=19)
    assert counts.min() == counts.max() == 19  # 361 inputs onto 19 values equally


def test_index_by_hand():
    task = make_task("index", 6, window=2)
    assert task.targets(np.array([[2, 3, 4, 5, 0, 0]])).tolist() == [[2, 4, 2, 2, 0, 4]]
    assert make_task("index", 4, window=1).targets(np.array([[1, 2, 3, 0]])).tolist() == [[1, 2, 3, 0]]


def test_prod_digits_match_integer_product():
    task = make_task("prod", 8)
    x, y = task.sample(50, 3)
    a = x[:, :4] @ (10 ** np.arange(3, -1, -1))
    b = x[:, 4:] @ (10 ** np.arange(3, -1, -1))
    assert np.array_equal(y @ (10 ** np.arange(8)), a * b)
    assert task.known_orders()["msd-first"] == tuple(range(7, -1, -1))
    with pytest.raises(TaskConfigError, match="even length"):
        make_task("prod", 7)


def test_prod_trains_and_profiles_on_sparse_operands_and_tests_on_uniform_ones():
    task = make_task("prod", 6)
    s = task.splits(20_000, 2_000, 2_000, seed=0)
    zeros = [float((x == 0).mean()) for x in (s.x_train, s.x_val, s.x_test)]
    # half the training rows zero each digit with probability 0.3: 0.1 + 0.5 * 0.3 * 0.9 = 0.235
    assert abs(zeros[0] - 0.235) < 0.01 and all(abs(z - 0.1) < 0.01 for z in zeros[1:])
    # loss profiles train and validate on sparse rows only (0.1 + 0.3 * 0.9 = 0.37; validation a bit
    # less, as rows that repeat a training input are redrawn), test rows stay uniform
    profiled = task.splits(20_000, 2_000, 2_000, seed=0, profiling=True)
    zeros = [float((x == 0).mean()) for x in (profiled.x_train, profiled.x_val, profiled.x_test)]
    assert abs(zeros[0] - 0.37) < 0.01 and 0.25 < zeros[1] < 0.37 and abs(zeros[2] - 0.1) < 0.01
    assert not set(map(bytes, profiled.x_val)) & set(map(bytes, profiled.x_train))  # still disjoint
    flat = make_task("prod", 6, sparse_profiles=0).splits(20_000, 2_000, 2_000, seed=0, profiling=True)
    assert abs(float((flat.x_train == 0).mean()) - 0.1) < 0.01 and abs(float((flat.x_val == 0).mean()) - 0.1) < 0.01
    a, b = s.x_train[:, :3] @ (10 ** np.arange(2, -1, -1)), s.x_train[:, 3:] @ (10 ** np.arange(2, -1, -1))
    assert np.array_equal(s.y_train @ (10 ** np.arange(6)), a * b)  # still exact products
    uniform = make_task("prod", 6, sparse_operands=0)
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    assert np.array_equal(uniform.generate_train(100, rng())[0], uniform.generate(100, rng())[0])
    # the default is left out of the spec (specs stored before the option name the same task)
    assert task.spec() == {"name": "prod", "length": 6}
    assert task_from_spec(uniform.spec()).sparse_operands == 0.0
    assert task_from_spec(make_task("prod", 6, sparse_profiles=0.5).spec()).sparse_profiles == 0.5
    scrambled = make_task("prod", 6, scramble=1)
    x_s, y_s = scrambled.generate_train(500, rng())
    x_b, y_b = task.generate_train(500, rng())
    assert np.array_equal(x_s, x_b) and np.array_equal(y_s, y_b[:, list(scrambled.relabel)])
    x_p, y_p = scrambled.generate_profile(500, rng())
    x_q, y_q = task.generate_profile(500, rng())
    assert np.array_equal(x_p, x_q) and np.array_equal(y_p, y_q[:, list(scrambled.relabel)])
    with pytest.raises(TaskConfigError, match="share of training rows"):
        make_task("prod", 6, sparse_operands=1.5)
    with pytest.raises(TaskConfigError, match="share of loss-profiling rows"):
        make_task("prod", 6, sparse_profiles=-0.1)


def test_prod_sparse_rows_zero_digits_at_the_chosen_rate():
    sparser = make_task("prod", 6, sparse_zero=0.5, sparse_operands=1.0)
    x, y = sparser.generate_train(20_000, np.random.default_rng(0))
    assert abs(float((x == 0).mean()) - (0.5 + 0.5 * 0.1)) < 0.01  # zeroed, or drawn 0 among the rest
    a, b = x[:, :3] @ (10 ** np.arange(2, -1, -1)), x[:, 3:] @ (10 ** np.arange(2, -1, -1))
    assert np.array_equal(y @ (10 ** np.arange(6)), a * b)
    assert sparser.spec()["sparse_zero"] == 0.5 and task_from_spec(sparser.spec()).sparse_zero == 0.5
    assert "sparse_zero" not in make_task("prod", 6).spec()  # the default is left out
    with pytest.raises(TaskConfigError, match="sparse_zero"):
        make_task("prod", 6, sparse_zero=1.0)


def test_delay_matches_its_dependency_graph():
    task = DelayTask(12, variables=3, delay=2)
    x, y = task.sample(64, 0)
    vals = task.values(y).reshape(64, 4, 3)
    xv = task.values(x).reshape(64, 4, 3)
    g = lambda z: ((z**2) % 19 + 9) % 19 - 9  # noqa: E731
    assert np.array_equal(vals[:, 1, 1], g(xv[:, 1, 1] + vals[:, 0, 1] + vals[:, 1, 0]))
    assert np.array_equal(vals[:, 3, 0], g(xv[:, 3, 0] + vals[:, 2, 0] + vals[:, 1, 2]))
    for i, ps in enumerate(task.parents()):
        assert all(p < i for p in ps)  # canonical (time-major) order is topological


def test_delay_topological_orders():
    task = DelayTask(8, variables=2, delay=2)
    sorts = list(task.topological_orders(limit=1000))
    assert len(sorts) == len(set(sorts)) > 2
    assert all(task.is_topological(o) for o in sorts)
    known = task.known_orders()
    assert task.is_topological(known["forward"]) and task.is_topological(known["variable-first"])
    assert known["variable-first"] != known["forward"]
    assert not task.is_topological(known["reverse"])
    assert task.is_topological(task.parse_order("topological:5"))
    assert len(list(task.topological_orders(limit=3))) == 3


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_is_deterministic_and_in_vocab(name):
    task = make_task(name, 8)
    x1, y1 = task.sample(200, 7)
    x2, y2 = task.sample(200, 7)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(task.sample(200, 8)[0], x1)
    assert x1.shape == (200, task.input_length) and y1.shape == (200, 8)
    assert 0 <= min(x1.min(), y1.min()) and max(x1.max(), y1.max()) < task.vocab_size
    assert task.formula
    assert all(is_order(o, 8) for o in task.known_orders().values())
    assert task_from_spec(task.spec()).spec() == task.spec()


@pytest.mark.parametrize("name", ["square", "prod", "index"])
def test_splits_are_disjoint_and_seeded(name):
    task = make_task(name, 6)
    s = task.splits(3000, 300, 300, seed=1)
    keys = [set(_row_keys(a).tolist()) for a in (s.x_train, s.x_val, s.x_test)]
    assert not keys[0] & keys[1] and not keys[0] & keys[2] and not keys[1] & keys[2]
    assert len(s.x_val) == 300 and len(s.x_test) == 300
    again = task.splits(3000, 300, 300, seed=1)
    assert np.array_equal(s.x_test, again.x_test)


def test_too_small_input_space_is_reported():
    with pytest.raises(TaskConfigError, match="too few distinct inputs"):
        make_task("index", 2).splits(100, 50, 50)


def test_unknown_task():
    with pytest.raises(UnknownTaskError, match="unknown task 'nosuch'"):
        make_task("nosuch")
