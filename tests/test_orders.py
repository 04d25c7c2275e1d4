from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderopt.errors import InvalidOrderError
from orderopt.orders import (
    apply_order,
    block_sizes,
    compose,
    format_order,
    hierarchical_decode,
    hierarchical_encode,
    identity,
    invert,
    join_blocks,
    kendall_tau_distance,
    lehmer_decode,
    lehmer_encode,
    named_order,
    parse_order,
    random_order,
    reverse,
    split_blocks,
    undo_order,
    validate_order,
)

perms = st.integers(1, 12).flatmap(lambda n: st.permutations(list(range(n))))


@given(perms)
def test_lehmer_roundtrip(p):
    digits = lehmer_encode(p)
    assert all(0 <= d <= len(p) - 1 - i for i, d in enumerate(digits))
    assert lehmer_decode(digits) == tuple(p)


@given(st.integers(1, 10).flatmap(lambda n: st.tuples(*[st.integers(0, n - 1 - i) for i in range(n)])))
def test_every_lehmer_vector_is_a_permutation(digits):
    assert sorted(lehmer_decode(digits)) == list(range(len(digits)))


@given(perms)
def test_apply_then_undo_is_identity(p):
    y = np.arange(len(p)) * 10 + 3
    z = apply_order(y, p)
    assert [z[t] for t in range(len(p))] == [y[i] for i in p]
    assert np.array_equal(undo_order(z, p), y)


@given(perms, st.data())
def test_invert_and_compose(p, data):
    q = data.draw(st.permutations(list(range(len(p)))))
    assert compose(p, invert(p)) == identity(len(p))
    y = np.arange(len(p))
    assert np.array_equal(apply_order(apply_order(y, p), q), apply_order(y, compose(p, q)))


@given(perms, st.data())
def test_hierarchical_roundtrip_of_block_structured_orders(p, data):
    n = len(p)
    k = data.draw(st.integers(1, n))
    sizes = block_sizes(n, k)
    blocks = split_blocks(p, sizes)  # blocks of the base p
    perm_blocks = data.draw(st.permutations(blocks))
    order = join_blocks(data.draw(st.permutations(list(b))) for b in perm_blocks)
    bd, inner = hierarchical_encode(order, sizes, base=p)
    assert hierarchical_decode(bd, inner, sizes, base=p) == order


def test_hierarchical_rejects_split_block():
    with pytest.raises(InvalidOrderError, match="splits block"):
        hierarchical_encode((0, 2, 1, 3), (2, 2))


def test_single_block_hierarchical_is_flat_lehmer():
    p = random_order(7, 1)
    bd, inner = hierarchical_encode(p, (7,))
    assert bd == (0,) and inner[0] == lehmer_encode(p)


@given(perms, st.data())
def test_kendall_tau_distance_properties(p, data):
    q = data.draw(st.permutations(list(range(len(p)))))
    n = len(p)
    assert kendall_tau_distance(p, p) == 0
    assert kendall_tau_distance(p, q) == kendall_tau_distance(q, p)
    assert kendall_tau_distance(identity(n), reverse(n)) == n * (n - 1) // 2
    assert 0 <= kendall_tau_distance(p, q) <= n * (n - 1) // 2


def test_kendall_tau_example():
    assert kendall_tau_distance((0, 1, 2, 3), (1, 0, 2, 3)) == 1
    assert kendall_tau_distance((0, 1, 2, 3), (0, 3, 1, 2)) == 2


def test_block_sizes_rule():
    assert block_sizes(10, 3) == (4, 3, 3)
    assert block_sizes(6, 6) == (1,) * 6
    with pytest.raises(InvalidOrderError):
        block_sizes(3, 4)
    assert split_blocks((4, 3, 2, 1, 0), (1, 3, 1)) == [(4,), (3, 2, 1), (0,)]
    with pytest.raises(InvalidOrderError, match="sum to 5"):
        split_blocks((4, 3, 2, 1, 0), (2, 2))


@pytest.mark.parametrize(
    "bad, length, message",
    [
        ([0, 0, 1], None, "repeats 0 and misses 2"),
        ([0, 3, 1], None, "out of range"),
        ([0, 1], 3, "length 2 but the task has L=3"),
        ([], None, "empty"),
        ([0.5, 1], None, "not an integer"),
        (["a"], None, "not an integer"),
    ],
)
def test_validate_errors(bad, length, message):
    with pytest.raises(InvalidOrderError, match=message):
        validate_order(bad, length)


def test_parse_and_format():
    assert parse_order("3,1,0,2") == (3, 1, 0, 2)
    assert parse_order("3 1 0 2", 4) == (3, 1, 0, 2)
    assert parse_order("[3, 1, 0, 2]") == (3, 1, 0, 2)
    assert format_order((3, 1, 0, 2)) == "3,1,0,2"
    assert parse_order("forward", 3) == (0, 1, 2)
    assert parse_order("reverse", 3) == (2, 1, 0)
    assert parse_order("random:4", 9) == random_order(9, 4)
    assert named_order("msd", 3, {"msd": (2, 1, 0)}) == (2, 1, 0)
    with pytest.raises(InvalidOrderError, match="unknown order name"):
        parse_order("sideways", 3)
    with pytest.raises(InvalidOrderError, match="random:SEED"):
        parse_order("random:x", 3)


def test_random_order_is_seeded():
    assert random_order(20, 5) == random_order(20, 5)
    assert random_order(20, 5) != random_order(20, 6)
