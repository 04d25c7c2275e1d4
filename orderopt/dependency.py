"""Dependency probe: which few variables determine each target, read from the data by counting.

Loss profiling needs a model that learns a target fast enough to tell orders apart. Where every
order leaves the targets on a loss plateau (scrambled ``delay``: flat profile), the data itself
still say which targets follow from which: a target that is a function of ``k`` other tokens has
near-zero conditional entropy given them. The probe estimates that held-out entropy by counting
(add-``alpha`` smoothing, half the samples to count, half to score) for every set of at most
``max_parents`` variables (inputs and other targets), and builds an order greedily: next comes the
target that the fewest variables already available (inputs and targets placed before it) explain,
ties broken by the lower entropy. The order is *explained* when every target was.

A target can also be a *lookup*: a copy of the input at a position that other tokens choose
(``index``: ``y_i = x_p`` with ``p`` a function of earlier states). No fixed small set determines
it, so the probe also scores, for each set, the rule "copy the input position that, for these
values of the set, matched the target most often in the counted half" (its held-out
cross-entropy, by the same add-``alpha`` counts). A lookup through ``k`` tokens counts as a set of
``k + 1`` (the copied input), and its parents read ``x[y3,y5]``. Counting sees
only small sets over small vocabularies, and at most ``max_evaluations`` of them: tasks whose targets depend on many tokens (``prod``) or
on too many values (large vocabularies) stay unexplained, and the search then relies on loss
profiling alone.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from orderopt.orders import Order
from orderopt.tasks import Task

__all__ = ["ProbeConfig", "DependencyResult", "probe_dependencies"]


@dataclass(frozen=True)
class ProbeConfig:
    """How hard the probe looks. Defaults: measured on scrambled ``delay`` (three-token updates
    over 19 values need ~50,000 samples to tell a function from noise) and kept under a minute."""

    max_parents: int = 3  # largest explaining set tried
    n_samples: int = 60_000  # half counted, half scored
    explained_nats: float = 0.1  # held-out entropy below this (nats) counts as "determined"
    alpha: float = 0.01  # add-alpha smoothing of the counts
    max_cells: int = 4_000_000  # skip sets whose joint values (times the target's) exceed this
    max_evaluations: int = 30_000  # sets scored at most per pass (~2 min); then what was found decides
    seed: int = 0


@dataclass
class DependencyResult:
    """The probe's order and, per target (canonical index), what explains it."""

    order: Order
    parents: list[tuple[str, ...]]  # variables ("x3", "y5"; "x[y5]" = a lookup) of each target's best set
    entropy: list[float]  # held-out entropy of each target given its set (nats)
    baseline: list[float]  # held-out entropy of each target alone (nats)
    explained: bool  # every target determined by variables placed before it
    seconds: float
    evaluations: int = 0
    notes: list[str] = field(default_factory=list)


class _Counter:
    """Held-out entropy of a column given a set of columns, by counting."""

    def __init__(self, columns: np.ndarray, n_inputs: int, config: ProbeConfig) -> None:
        self.raw, self.n_inputs = columns, n_inputs
        self._matches: dict[int, np.ndarray] = {}
        codes, cards = [], []
        for c in range(columns.shape[1]):
            values, inverse = np.unique(columns[:, c], return_inverse=True)
            codes.append(inverse.astype(np.int64))
            cards.append(len(values))
        self.codes, self.cards = np.stack(codes, 1), cards
        half = len(columns) // 2
        self.fit, self.score = slice(0, half), slice(half, 2 * half)
        self.config = config
        self.evaluations = 0

    def entropy(self, target: int, given: tuple[int, ...]) -> float:
        cards, cfg = self.cards, self.config
        cells = int(np.prod([cards[c] for c in given], dtype=np.float64)) if given else 1
        if cells * cards[target] > cfg.max_cells:
            return float("inf")
        self.evaluations += 1
        key = self._key(given)
        t = self.codes[:, target]
        k_fit, k_score = key[self.fit], key[self.score]
        joint = np.bincount(k_fit * cards[target] + t[self.fit], minlength=cells * cards[target])
        marginal = np.bincount(k_fit, minlength=cells)
        p = (joint[k_score * cards[target] + t[self.score]] + cfg.alpha) / (marginal[k_score] + cfg.alpha * cards[target])
        return float(-np.log(p).mean())

    def _key(self, given: tuple[int, ...]) -> np.ndarray:
        key = np.zeros(len(self.codes), dtype=np.int64)
        for c in given:
            key = key * self.cards[c] + self.codes[:, c]
        return key

    def lookup_entropy(self, target: int, given: tuple[int, ...]) -> float:
        """Held-out entropy of ``target`` under "copy input ``p(values of given)``", with ``p`` the
        input position that matched the target most often in the counted half (per value)."""
        cards, cfg, n_in = self.cards, self.config, self.n_inputs
        cells = int(np.prod([cards[c] for c in given], dtype=np.float64))
        if not given or cells * n_in > cfg.max_cells:
            return float("inf")
        self.evaluations += 1
        key = self._key(given)
        match = self._matches.get(target)
        if match is None:  # (rows, inputs): where the target equals each input
            match = self._matches[target] = self.raw[:, :n_in] == self.raw[:, target:target + 1]
        k_fit, m_fit = key[self.fit], match[self.fit]
        hits = np.bincount((k_fit[:, None] * n_in + np.arange(n_in)).ravel(), weights=m_fit.ravel(),
                           minlength=cells * n_in).reshape(cells, n_in)
        seen = np.bincount(k_fit, minlength=cells)
        pick = hits.argmax(axis=1)
        q = (hits[np.arange(cells), pick] + cfg.alpha) / (seen + 2 * cfg.alpha)  # P(target = the copy)
        k_score = key[self.score]
        copied = match[self.score][np.arange(len(k_score)), pick[k_score]]
        others = max(cards[target] - 1, 1)
        p = np.where(copied, q[k_score], (1 - q[k_score]) / others)
        return float(-np.log(p).mean())


def probe_dependencies(task: Task, config: ProbeConfig | None = None) -> DependencyResult:
    """Which variables explain each target of ``task``, and the order that places each target
    after what explains it (see the module docstring)."""
    config = config or ProbeConfig()
    start = time.perf_counter()
    x, y = task.generate(config.n_samples, np.random.default_rng(config.seed))
    x, y = np.asarray(x).reshape(len(x), -1), np.asarray(y).reshape(len(y), -1)
    n_in, L = x.shape[1], y.shape[1]
    # distinct rows only, shuffled: a row counted and scored twice (a small dataset file sampled
    # with replacement) would look determined by anything that identifies it
    rows = np.unique(np.concatenate([x, y], 1), axis=0)
    rows = rows[np.random.default_rng([config.seed, 1]).permutation(len(rows))]
    counter = _Counter(rows, n_in, config)
    names = [f"x{i}" for i in range(n_in)] + [f"y{j}" for j in range(L)]
    baseline = [counter.entropy(n_in + j, ()) for j in range(L)]
    # plain sets first; lookups only when they leave a target unexplained (each pass has its own
    # budget of sets), so tasks that sets explain get the same order at the same cost as without them
    order, notes, best, ok = _place_targets(counter, L, baseline, config, lookups=False)
    evaluations = counter.evaluations
    if not ok:
        counter.evaluations = 0
        with_lookups = _place_targets(counter, L, baseline, config, lookups=True)
        evaluations += counter.evaluations
        explained = lambda found: sum(b[1] < config.explained_nats for b in found)  # noqa: E731
        if with_lookups[3] or explained(with_lookups[2]) > explained(best):
            order, notes, best, ok = with_lookups

    def parents_of(j: int) -> tuple[str, ...]:
        _, _, given, lookup = best[j]
        named = tuple(names[c] for c in given)
        return (f"x[{','.join(named)}]",) if lookup else named

    return DependencyResult(
        order=tuple(order), parents=[parents_of(j) for j in range(L)],
        entropy=[best[j][1] for j in range(L)], baseline=baseline, explained=ok,
        seconds=time.perf_counter() - start, evaluations=evaluations, notes=notes,
    )


_Best = tuple[int, float, tuple[int, ...], bool]


def _place_targets(counter: _Counter, L: int, baseline: list[float], config: ProbeConfig, *,
                   lookups: bool) -> tuple[list[int], list[str], list[_Best], bool]:
    """One greedy pass: the order, notes, each target's best explanation and whether all were
    explained by tokens placed before them."""
    n_in = counter.n_inputs
    # best[j] = (size, entropy, set, lookup) of the smallest explaining set found so far (else the
    # lowest entropy); a lookup's size counts the copied input
    best: list[_Best] = [(0, baseline[j], (), False) for j in range(L)]

    def offer(j: int, size: int, value: float, given: tuple[int, ...], lookup: bool) -> None:
        old_size, h = best[j][0], best[j][1]
        explained = value < config.explained_nats
        if (explained and (h >= config.explained_nats or size < old_size or (size == old_size and value < h))) or \
                (not explained and h >= config.explained_nats and value < h):
            best[j] = (size, value, given, lookup)

    def consider(j: int, given: tuple[int, ...]) -> None:
        if counter.evaluations >= config.max_evaluations:
            return
        if best[j][1] < config.explained_nats and len(given) >= best[j][0]:
            return  # explained already by a set no larger
        value = counter.entropy(n_in + j, given)
        offer(j, len(given), value, given, False)
        size, h = best[j][0], best[j][1]
        if lookups and value >= config.explained_nats and not (h < config.explained_nats and size <= len(given) + 1):
            offer(j, len(given) + 1, counter.lookup_entropy(n_in + j, given), given, True)

    pool = list(range(n_in))
    for j in range(L):
        for k in range(1, config.max_parents + 1):
            for given in itertools.combinations(pool, k):
                consider(j, given)
    order: list[int] = []
    notes: list[str] = []
    timed_out = False
    unplaced = set(range(L))
    while unplaced:
        explained = [j for j in unplaced if best[j][1] < config.explained_nats]
        if explained:
            nxt = min(explained, key=lambda j: (best[j][0], best[j][1], j))
        else:
            nxt = min(unplaced, key=lambda j: (best[j][1] / max(baseline[j], 1e-9), j))
        order.append(nxt)
        unplaced.discard(nxt)
        if not timed_out and counter.evaluations >= config.max_evaluations:
            timed_out = True
            notes.append(f"stopped after {config.max_evaluations} sets; later targets placed by what was found")
        if timed_out:
            continue
        new = n_in + nxt
        others = pool + [n_in + p for p in order[:-1]]
        for j in unplaced:
            for k in range(0, config.max_parents):
                for rest in itertools.combinations(others, k):
                    consider(j, tuple(sorted(rest + (new,))))
    placed_before = {j: set(order[:i]) for i, j in enumerate(order)}
    ok = all(best[j][1] < config.explained_nats
             and all(c < n_in or (c - n_in) in placed_before[j] for c in best[j][2]) for j in range(L))
    return order, notes, best, ok
