"""The global-local search schedule over permutations, replayed from evaluated results.

The schedule is a deterministic function of (configuration, results so far): each stage's
candidates depend only on the results of earlier stages' candidates. Any process can therefore
replay it from storage and agree on the current stage; no search state lives in memory.

Stages (``T = (K + 1)!`` for ``K`` global levels):

* ``global-1``: ``T`` initial orders (orders already in the study first, then user seed orders,
  then random or structured ones). Keep the best ``T / 2!``.
* ``global-k`` (``k = 2..K``): every incumbent with its ``k`` blocks (even split) permuted in
  all ``k!`` ways; keep the best ``T / (k+1)!`` (at least 1).
* ``local-l-inner`` (``l = 2..n//2``): the incumbent cut into blocks of length ``l``; every
  inner permutation of each block (at most ``local_cap`` per block, sampled when ``l!`` is
  larger). The best candidate becomes the incumbent when it improves.
* ``local-l-moves``: block moves around the incumbent: rotations, pairwise swaps and reversal of
  the block order.

After the last stage (or while a stage waits for running trials) trials explore mutations of the
elite orders.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from orderopt.orders import Order, block_sizes, join_blocks, random_order, split_blocks

__all__ = ["Stage", "Schedule", "mutate", "local_block_sizes"]


@dataclass(frozen=True)
class Stage:
    index: int
    label: str
    candidates: tuple[Order, ...]


def local_block_sizes(n: int, length: int) -> tuple[int, ...]:
    """Blocks of exactly ``length`` items, the last one shorter when ``length`` does not divide ``n``."""
    sizes = [length] * (n // length)
    if n % length:
        sizes.append(n % length)
    return tuple(sizes)


def _unique(orders: Iterator[Order] | Sequence[Order], keep: Callable[[Order], bool]) -> tuple[Order, ...]:
    seen: dict[Order, None] = {}
    for o in orders:
        if o not in seen and keep(o):
            seen[o] = None
    return tuple(seen)


def mutate(order: Order, rng: np.random.Generator) -> Order:
    """One random local move: swap, adjacent swap, insertion, segment reversal or segment move."""
    n = len(order)
    if n < 2:
        return order
    items = list(order)
    move = int(rng.integers(5))
    i, j = sorted(int(v) for v in rng.choice(n, size=2, replace=False))
    if move == 0:  # swap two positions
        items[i], items[j] = items[j], items[i]
    elif move == 1:  # adjacent swap
        items[i], items[i + 1] = items[i + 1], items[i]
    elif move == 2:  # insertion: take item i, put it at j
        items.insert(j, items.pop(i))
    elif move == 3:  # reverse a segment
        items[i:j + 1] = items[i:j + 1][::-1]
    else:  # move a segment elsewhere
        seg = items[i:j + 1]
        rest = items[:i] + items[j + 1:]
        k = int(rng.integers(len(rest) + 1))
        items = rest[:k] + seg + rest[k:]
    return tuple(items)


class Schedule:
    """Generates the stages; see the module docstring."""

    def __init__(
        self,
        n: int,
        *,
        levels: int = 3,
        seed: int = 0,
        init: str = "random",
        seed_orders: Sequence[Order] = (),
        structured_block: int | None = None,
        local_cap: int = 24,
        representable: Callable[[Order], bool] = lambda o: True,
    ) -> None:
        self.n = n
        self.levels = max(1, min(levels, n))
        self.population = math.factorial(self.levels + 1)
        self.seed = seed
        self.init = init
        self.seed_orders = tuple(tuple(o) for o in seed_orders)
        self.structured_block = structured_block
        self.local_cap = local_cap
        self.representable = representable

    # ------------------------------------------------------------ candidates
    def initial(self, study_orders: Sequence[Order]) -> tuple[Order, ...]:
        T = self.population
        pool = list(study_orders[:T]) + list(self.seed_orders)
        rng = np.random.default_rng([self.seed, 1])
        if self.init == "structured":
            pool += self._structured(rng)
        keep = self.representable
        out = list(_unique(pool, keep))[:T]
        attempt = 0
        while len(out) < min(T, math.factorial(self.n)) and attempt < 100 * T:
            cand = random_order(self.n, int(rng.integers(2**31)))
            attempt += 1
            if cand not in out and keep(cand):
                out.append(cand)
        return tuple(out)

    def _structured(self, rng: np.random.Generator) -> list[Order]:
        """Seed orders (default forward and reverse) cut into blocks of ``b`` and permuted."""
        n, T = self.n, self.population
        bases = list(self.seed_orders) or [tuple(range(n)), tuple(range(n - 1, -1, -1))]
        b = self.structured_block or max(1, n // self.levels)
        out: list[Order] = []
        for base in bases:
            blocks = split_blocks(base, local_block_sizes(n, b))
            k = len(blocks)
            if math.factorial(k) <= T:
                perms = list(itertools.permutations(range(k)))
            else:
                perms = [tuple(rng.permutation(k)) for _ in range(T)]
            out += [join_blocks(blocks[i] for i in p) for p in perms]
        order = rng.permutation(len(out))
        return [out[i] for i in order]

    def _block_permutations(self, incumbent: Order, k: int) -> Iterator[Order]:
        blocks = split_blocks(incumbent, block_sizes(self.n, k))
        for perm in itertools.permutations(range(k)):
            yield join_blocks(blocks[i] for i in perm)

    def _inner(self, incumbent: Order, length: int, salt: int) -> Iterator[Order]:
        blocks = split_blocks(incumbent, local_block_sizes(self.n, length))
        rng = np.random.default_rng([self.seed, 2, length, salt])
        for j, block in enumerate(blocks):
            s = len(block)
            if s < 2:
                continue
            if math.factorial(s) - 1 <= self.local_cap:
                perms: Iterator[tuple[int, ...]] = itertools.permutations(range(s))
            else:
                perms = (tuple(int(v) for v in rng.permutation(s)) for _ in range(self.local_cap))
            for p in perms:
                new = list(blocks)
                new[j] = tuple(block[i] for i in p)
                yield join_blocks(new)

    def _moves(self, incumbent: Order, length: int) -> Iterator[Order]:
        blocks = split_blocks(incumbent, local_block_sizes(self.n, length))
        k = len(blocks)
        if k < 2:
            return
        for r in range(1, k):
            yield join_blocks(blocks[r:] + blocks[:r])
        for i, j in itertools.combinations(range(k), 2):
            new = list(blocks)
            new[i], new[j] = new[j], new[i]
            yield join_blocks(new)
        yield join_blocks(blocks[::-1])

    # ------------------------------------------------------------------ replay
    def stages(self, results: Mapping[Order, float], study_orders: Sequence[Order] = ()) -> Iterator[Stage]:
        """All stages in order. A stage's candidates are only computed once every candidate of
        the stages before it has a result in ``results``."""

        def rank(cands: Sequence[Order]) -> list[Order]:
            return sorted(cands, key=lambda o: (results[o], o))

        keep = self.representable
        T = self.population
        index = 0
        initial = self.initial(study_orders)
        yield Stage(index, "global-1", initial)
        seen = list(initial)
        incumbents = rank(initial)[: max(1, T // 2)]
        for k in range(2, self.levels + 1):
            index += 1
            cands = _unique(itertools.chain.from_iterable(self._block_permutations(o, k) for o in incumbents), keep)
            yield Stage(index, f"global-{k}", cands)
            seen += cands
            incumbents = rank(cands)[: max(1, T // math.factorial(k + 1))]
        best = rank(seen)[0]
        for length in range(2, self.n // 2 + 1):
            for kind in ("inner", "moves"):
                index += 1
                gen = self._inner(best, length, index) if kind == "inner" else self._moves(best, length)
                cands = _unique((o for o in gen if o != best), keep)
                yield Stage(index, f"local-{length}-{kind}", cands)
                if cands:
                    top = rank(cands)[0]
                    if (results[top], top) < (results[best], best):
                        best = top

    def locate(self, results: Mapping[Order, float], study_orders: Sequence[Order] = ()) -> Stage | None:
        """The first stage with a candidate that has no result yet; ``None`` when all are done."""
        return self.trace(results, study_orders)[0]

    def trace(self, results: Mapping[Order, float], study_orders: Sequence[Order] = ()
              ) -> tuple[Stage | None, tuple[Order, ...]]:
        """``locate`` plus every candidate it looked at: the answer depends only on their results
        (and on the first ``population`` study orders), which lets callers memoise it."""
        seen: list[Order] = []
        for stage in self.stages(results, study_orders):
            seen += stage.candidates
            if any(c not in results for c in stage.candidates):
                return stage, tuple(seen)
        return None, tuple(seen)
