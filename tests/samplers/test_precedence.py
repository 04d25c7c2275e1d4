"""The precedence model: per-item costs of orders -> which items should come before which."""

from __future__ import annotations

import numpy as np

from orderopt.orders import kendall_tau_distance, random_orders
from orderopt.samplers import fit_precedence, propose_orders
from orderopt.samplers._precedence import helper_graph, lop_value, topological_sample

CHAIN = (5, 2, 7, 0, 3, 6, 1, 4)  # item CHAIN[t] is computed from CHAIN[t - 1]


def chain_costs(order, rng, noise=0.05):
    """Item i is cheap when its predecessor in the chain came before it (a hidden-step count)."""
    rank = {x: k for k, x in enumerate(order)}
    costs = []
    for item in range(len(order)):
        t = CHAIN.index(item)
        done = [s for s in range(t) if rank[CHAIN[s]] < rank[item]]
        hidden = 0 if t == 0 else t - 1 - (max(done) if done else -1)
        costs.append(min(2.5, 0.01 * 30 ** hidden) + noise * rng.random())
    return costs


def test_one_batch_of_random_orders_reveals_the_chain():
    rng = np.random.default_rng(0)
    orders = random_orders(8, 300, seed=1)
    costs = [chain_costs(o, rng) for o in orders]
    H = fit_precedence(orders, costs, groups=[i % 3 for i in range(300)])  # three batches
    for t in range(1, 8):
        assert int(np.argmax(H[:, CHAIN[t]])) == CHAIN[t - 1]
    proposals = propose_orders(H, 16, np.random.default_rng(0))
    assert proposals[0] == CHAIN and len(set(proposals)) == 16
    assert lop_value(H, CHAIN) >= max(lop_value(H, o) for o in proposals)
    assert CHAIN not in propose_orders(H, 16, np.random.default_rng(0), exclude={CHAIN})


def test_batch_scale_does_not_matter():
    rng = np.random.default_rng(1)
    orders = random_orders(8, 240, seed=2)
    costs = [chain_costs(o, rng) for o in orders]
    scaled = [[c * (1 + 9 * (i % 2)) for c in row] for i, row in enumerate(costs)]  # odd batches 10x dearer
    a = fit_precedence(orders, costs, groups=[i % 2 for i in range(240)])
    b = fit_precedence(orders, scaled, groups=[i % 2 for i in range(240)])
    assert np.argmax(a, axis=0).tolist() == np.argmax(b, axis=0).tolist()


def test_helper_graph_never_has_a_cycle_and_sorts_respect_it():
    H = np.zeros((4, 4))
    H[0, 1] = H[1, 2] = H[2, 0] = 1.0  # a cycle of equally strong helpers
    H[2, 3] = 2.0
    parents = helper_graph(H, keep=1)
    order = topological_sample(parents, np.random.default_rng(0))
    rank = {x: k for k, x in enumerate(order)}
    assert sorted(order) == [0, 1, 2, 3]
    assert all(rank[p] < rank[i] for i, ps in enumerate(parents) for p in ps)
    assert sum(len(p) for p in parents) == 3  # the weakest edge of the cycle was left out


def test_no_signal_no_helpers():
    orders = random_orders(6, 100, seed=0)
    flat = [[1.0] * 6 for _ in orders]
    H = fit_precedence(orders, flat, groups=[0] * 100)
    assert np.allclose(H, 0.0)
    assert all(len(p) == 0 for p in helper_graph(H, keep=2))
    assert len(propose_orders(H, 5, np.random.default_rng(0))) == 5
    assert min(kendall_tau_distance(o, (0, 1, 2, 3, 4, 5)) for o in propose_orders(H, 5, np.random.default_rng(0))) >= 0
