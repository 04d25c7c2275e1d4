"""Which items should come before which, learned from the per-item costs of evaluated orders.

Some objectives over permutations decompose over the items. A generation order's profile loss
is the mean of its targets' losses, and under teacher forcing a target is cheap exactly when the
states it is computed from were emitted before it. When trials report such per-item costs
(system attr ``ITEM_SCORES_ATTR``, one cost per item in the items' own numbering), the costs of
many orders tell which items help which: for every item ``i``, a ridge regression of its log cost
on the indicators "``j`` comes before ``i``" (centred within each batch, since batches have their
own scale) gives ``H[j, i]``, positive when ``j`` before ``i`` lowers ``i``'s cost.

Proposals are orders that satisfy the strongest of these precedences: topological orders of the
graph of each item's 1, 2 or 3 strongest helpers, then local optima of the linear ordering
problem ``max sum_{j before i} H[j, i]``. One round of 512 random orders of scrambled ``square``
(L = 12) names the true predecessor of all 11 dependent targets, so the first kind of proposal
is the chain itself. Proposals are only candidates: the objective still decides.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from ._orders import Order

__all__ = ["ITEM_SCORES_ATTR", "fit_precedence", "propose_orders", "lop_value"]

ITEM_SCORES_ATTR = "orderopt:item_scores"  # per-item costs of a trial, item i at index i (system attr)
_LOG_FLOOR = 1e-3  # costs below this are as good as solved: log(cost + floor) flattens them
_NO_EFFECT = 1e-6  # a helper weight below this (in log cost) is numerical noise


def fit_precedence(orders: Sequence[Order], costs: Sequence[Sequence[float]], groups: Sequence[Hashable],
                   ridge: float = 1.0) -> np.ndarray:
    """``H`` (n x n): ``H[j, i]`` = how much ``j`` before ``i`` lowers the log cost of ``i``."""
    order_arr = np.asarray(orders, dtype=np.int64)
    y_all = np.log(np.asarray(costs, dtype=np.float64) + _LOG_FLOOR)
    n = order_arr.shape[1]
    position = np.argsort(order_arr, axis=1)  # position of every item in every order
    before = (position[:, :, None] < position[:, None, :]).astype(np.float64)  # [row, j, i]: j before i
    keys = list(groups)
    index = {g: k for k, g in enumerate(dict.fromkeys(keys))}
    gid = np.fromiter((index[g] for g in keys), dtype=np.int64, count=len(keys))
    counts = np.bincount(gid).astype(np.float64)[:, None]

    def centred(a: np.ndarray) -> np.ndarray:  # subtract each group's mean (rows of a group share a scale)
        flat = a.reshape(len(a), -1)
        sums = np.zeros((counts.shape[0], flat.shape[1]))
        np.add.at(sums, gid, flat)
        return (flat - (sums / counts)[gid]).reshape(a.shape)

    x_all, y_all = centred(before), centred(y_all)
    H = np.zeros((n, n))
    for i in range(n):
        others = np.delete(np.arange(n), i)
        X, y = x_all[:, others, i], y_all[:, i]
        w = np.linalg.solve(X.T @ X + ridge * np.eye(n - 1), X.T @ y)
        H[others, i] = -w
    return H


def sharpen(H: np.ndarray, keep: int) -> np.ndarray:
    """``H`` with only each item's ``keep`` strongest positive helpers."""
    out = np.zeros_like(H)
    for i in range(H.shape[0]):
        column = H[:, i]
        for j in np.argsort(-column, kind="stable")[:keep]:
            if column[j] > 0:
                out[j, i] = column[j]
    return out


def lop_value(H: np.ndarray, order: Order) -> float:
    """``sum over pairs (j before i) of H[j, i]``."""
    o = np.asarray(order)
    upper = np.triu(np.ones((len(o), len(o)), dtype=bool), k=1)
    return float(H[np.ix_(o, o)][upper].sum())


def _local_optimum(H: np.ndarray, start: Order) -> Order:
    """Best-improvement insertion moves until none improves the linear ordering value."""
    D = H - H.T  # D[y, x]: gain when y moves before x
    o = list(start)
    n = len(o)
    for _ in range(4 * n * n):
        best, move = 1e-9, None
        arr = np.asarray(o)
        for a in range(n):
            x = arr[a]
            if a + 1 < n:  # x moves right past arr[a+1..b]: those items now come before x
                gains = np.cumsum(D[arr[a + 1:], x])
                b = int(np.argmax(gains))
                if gains[b] > best:
                    best, move = gains[b], (a, a + 1 + b)
            if a > 0:  # x moves left past arr[b..a-1]: x now comes before them
                gains = np.cumsum(D[x, arr[a - 1::-1]])
                b = int(np.argmax(gains))
                if gains[b] > best:
                    best, move = gains[b], (a, a - 1 - b)
        if move is None:
            break
        a, b = move
        item = o.pop(a)
        o.insert(b, item)
    return tuple(int(v) for v in o)


def helper_graph(H: np.ndarray, keep: int, strength: float = 0.25) -> list[list[int]]:
    """``parents[i]``: item ``i``'s ``keep`` strongest helpers whose weight is at least
    ``strength`` times the strongest weight of all, added strongest first and skipping any edge
    that would close a cycle (so the graph always has a topological order)."""
    n = H.shape[0]
    top = float(H.max())
    if top <= _NO_EFFECT:  # no order of the items makes any of them cheaper
        return [[] for _ in range(n)]
    edges = []
    for i in range(n):
        for j in np.argsort(-H[:, i], kind="stable")[:keep]:
            if H[j, i] >= strength * top:
                edges.append((float(H[j, i]), int(j), i))
    parents: list[list[int]] = [[] for _ in range(n)]
    children: list[list[int]] = [[] for _ in range(n)]

    def reaches(a: int, b: int) -> bool:
        stack, seen = [a], {a}
        while stack:
            node = stack.pop()
            if node == b:
                return True
            for c in children[node]:
                if c not in seen:
                    seen.add(c)
                    stack.append(c)
        return False

    for _, j, i in sorted(edges, reverse=True):
        if not reaches(i, j):  # j -> i would close a cycle if i already reaches j
            parents[i].append(j)
            children[j].append(i)
    return parents


def topological_sample(parents: list[list[int]], rng: np.random.Generator) -> Order:
    """A topological order of the graph, ready items taken in random order."""
    n = len(parents)
    indeg = [len(p) for p in parents]
    children: list[list[int]] = [[] for _ in range(n)]
    for i, ps in enumerate(parents):
        for j in ps:
            children[j].append(i)
    ready = [i for i in range(n) if indeg[i] == 0]
    out = []
    while ready:
        item = ready.pop(int(rng.integers(len(ready))))
        out.append(item)
        for c in children[item]:
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
    return tuple(out)


def propose_orders(H: np.ndarray, count: int, rng: np.random.Generator, starts: Sequence[Order] = (),
                   exclude: set[Order] | frozenset[Order] = frozenset(), samples: int = 8) -> list[Order]:
    """Up to ``count`` distinct orders not in ``exclude``, best first: topological orders of the
    helper graphs that keep each item's 1, 2 or 3 strongest helpers (``samples`` random ones of
    each, best by the linear ordering value), then local optima of the full linear ordering
    problem from ``starts`` and random starts, then insertion neighbours of those."""
    n = H.shape[0]
    found: dict[Order, tuple[int, float]] = {}

    def add(order: Order, group: int) -> None:
        key = (group, -lop_value(H, order))
        if order not in found or key < found[order]:
            found[order] = key

    for group, keep in enumerate((1, 2, 3)):
        parents = helper_graph(H, keep)
        for _ in range(samples):
            add(topological_sample(parents, rng), group)
    begin = [tuple(int(v) for v in s) for s in starts] + [tuple(int(v) for v in rng.permutation(n))
                                                           for _ in range(samples)]
    for start in begin:
        add(_local_optimum(H, start), 3)
    out = [o for o in sorted(found, key=lambda o: (found[o], o)) if o not in exclude][:count]
    for base in list(out):
        for a in range(n):
            for b in range(n):
                if len(out) >= count:
                    return out
                if a == b:
                    continue
                o = list(base)
                o.insert(b, o.pop(a))
                cand = tuple(o)
                if cand not in exclude and cand not in out:
                    out.append(cand)
    return out
