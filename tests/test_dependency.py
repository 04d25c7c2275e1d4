from __future__ import annotations

import numpy as np

from orderopt.dependency import ProbeConfig, probe_dependencies
from orderopt.tasks import from_callable, make_task

FAST = ProbeConfig(n_samples=20_000)


def test_probe_recovers_the_friendly_order_of_a_scrambled_chain():
    task = make_task("square", 6, scramble=3)
    result = probe_dependencies(task, FAST)
    assert result.explained and result.order == task.parse_order("friendly")
    friendly = task.parse_order("friendly")
    # from the third state on, the smallest explaining set is the state before and one input
    # (the second is as well explained by the first two inputs, a set of the same size)
    for position in range(2, 6):
        parents = result.parents[friendly[position]]
        assert len(parents) == 2 and f"y{friendly[position - 1]}" in parents
    assert max(result.entropy) < 0.1 < min(result.baseline)


def test_probe_follows_a_dependency_graph_of_three_token_updates():
    task = make_task("delay", 6, scramble=0)
    result = probe_dependencies(task, ProbeConfig(n_samples=60_000))
    assert result.explained
    where = {j: i for i, j in enumerate(result.order)}
    parents = task.base.parents()  # canonical indices of the unscrambled task
    to_scrambled = {int(original): s for s, original in enumerate(task.relabel)}
    for child, its_parents in enumerate(parents):
        for parent in its_parents:
            assert where[to_scrambled[parent]] < where[to_scrambled[child]]


def test_probe_explains_lookups_through_earlier_states():
    task = make_task("index", 8, scramble=2)  # y_i = x[(y_(i-1) + y_(i-2)) mod L]: no fixed set determines it
    result = probe_dependencies(task, FAST)
    assert result.explained and result.order == task.parse_order("friendly")
    friendly = task.parse_order("friendly")
    # from the third state on: a copy of the input the two states before point to
    for position in range(3, 8):
        pointers = {f"y{friendly[position - 1]}", f"y{friendly[position - 2]}"}
        (parent,) = result.parents[friendly[position]]
        assert parent.startswith("x[") and set(parent[2:-1].split(",")) == pointers


def test_probe_leaves_targets_of_many_tokens_unexplained():
    result = probe_dependencies(make_task("prod", 4), FAST)  # carries depend on four digits or more
    assert not result.explained


def test_repeated_rows_do_not_look_determined():
    pool = np.random.default_rng(0).integers(0, 10, size=(40, 8))

    def repeated(n, rng):  # 40 random rows drawn again and again: y is noise, not a function of x
        rows = pool[rng.integers(0, len(pool), size=n)]
        return rows[:, :4], rows[:, 4:]

    result = probe_dependencies(from_callable(repeated, vocab_size=10), FAST)
    assert not result.explained and min(result.entropy) > 0.1


def test_probe_is_reproducible():
    task = make_task("cubic", 6, scramble=1)
    a, b = probe_dependencies(task, FAST), probe_dependencies(task, FAST)
    assert a.order == b.order and a.entropy == b.entropy and a.parents == b.parents
