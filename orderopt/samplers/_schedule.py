"""The global-local search schedule over permutations, replayed from evaluated results.

The schedule is a deterministic function of (configuration, results so far): each stage's plan
depends only on the results of *earlier* stages, so any process can replay it from storage and
agree on the current stage; no search state lives in memory.

Stages (``T`` = ``population``, by default ``(K + 1)!`` for ``K`` global levels):

* ``global-1``: ``T`` initial orders (orders already in the study first, then user seed orders,
  then random or structured ones).
* ``global-k`` (``k = 2..K``): the best ``T / k!`` orders so far, each with its ``k`` blocks (even
  split) permuted in all ``k!`` ways.
* local stages, in one of two styles:

  - ``sequential`` (the paper's, default for a plain Optuna study): for ``l = 2..n//2``,
    ``local-l-inner`` tries inner permutations of each length-``l`` block of the best order (at
    most ``local_cap`` per block) and ``local-l-moves`` its block rotations, swaps and reversal;
  - ``rounds`` (for batch evaluation, e.g. mixture profiles of thousands of orders):
    ``local-r`` puts the whole neighbourhood of the best ``incumbents`` orders in one stage
    (block moves and inner permutations at every block length, insertions, swaps), at most
    ``round_size`` orders, and repeats until ``patience`` stages in a row bring no gain of
    more than ``min_gain`` (relative) over the best score, or the neighbourhood is used up.
    Without that margin a flat objective never stops: the minimum of many noisy scores keeps
    drifting down (measured on scrambled ``delay`` L = 8, where ten local rounds each "improved"
    the best profile loss by 0.01-0.5%).

* with ``model_proposals`` and trials that report per-item costs, every stage after
  ``global-1`` also gets that many candidates from the precedence model fitted on the earlier
  stages (:mod:`orderopt.samplers._precedence`), first in its list;
* ``tournament-j`` (``j = 1..tournament_runs``, optional): the best ``tournament_size`` orders of
  the whole search and up to half as many stage winners (each stage's best candidate by its own
  run, earliest stage first, which no rescaling can distort) evaluated again, together, once per
  run.

A stage may name **references**: orders evaluated before that are evaluated again beside its
candidates, so that a noisy, batch-dependent objective (a mixture profile) can be compared
across stages (see :mod:`orderopt.samplers._scores`): the best orders so far, plus the **panel**
(the first stage's references, kept to the end), which alone sets every later stage's scale.
Each stage carries the panel's scores as of that stage (``anchors``; NaN for the other
references). After the last stage (or while a stage waits for running
trials) trials explore mutations of the elite orders.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ._errors import ConfigError
from ._orders import Order, block_sizes, join_blocks, random_order, split_blocks
from ._precedence import fit_precedence, propose_orders
from ._scores import reference_anchors

__all__ = ["Stage", "Schedule", "ScheduleConfig", "mutate", "local_block_sizes", "LOCAL_STYLES", "SCHEDULE_VERSION"]

SCHEDULE_VERSION = 4  # bump when the same configuration and results would give other stages (or anchors)
LOCAL_STYLES = ("sequential", "rounds")

# observations: stage index -> {order: score} of that stage's finished evaluations (lower is
# better; several evaluations of one order in a stage are averaged by the caller). Index -1
# holds orders the study evaluated without the schedule (enqueued or tried by hand).
# evaluated: {order: score of its first finished evaluation}, wherever it came from: a candidate
# that another process already evaluated (while exploring) counts as done with that score. The
# first, not the mean: re-evaluations come later and must not change stages already done.
Observations = Mapping[int, Mapping[Order, float]]
Evaluated = Mapping[Order, float]
# items: stage index -> (order, per-item costs, batch id) of that stage's finished evaluations
# that reported per-item costs (see orderopt.samplers._precedence)
ItemRows = Mapping[int, Sequence[tuple[Order, Sequence[float], Hashable]]]


@dataclass(frozen=True)
class Stage:
    """One stage of the schedule: new ``candidates`` and already-evaluated ``references``."""

    index: int
    label: str
    candidates: tuple[Order, ...]
    references: tuple[Order, ...] = ()
    anchors: tuple[float, ...] = ()  # score of each reference before this stage (NaN: it sets no scale)
    proposed: tuple[Order, ...] = ()  # the candidates the precedence model proposed

    @property
    def kind(self) -> str:
        """``global``, ``local`` or ``tournament``."""
        return self.label.split("-")[0]

    def items(self) -> tuple[Order, ...]:
        """Every order this stage evaluates (candidates, then references)."""
        return self.candidates + self.references


@dataclass(frozen=True)
class ScheduleConfig:
    """Sizes and styles of the schedule (see the module docstring). Defaults reproduce the
    paper's schedule with ``T = (K + 1)!`` as tuned for one-at-a-time Optuna trials."""

    levels: int = 3
    population: int | None = None
    local: str = "sequential"
    local_cap: int = 24
    incumbents: int = 4
    round_size: int = 1024
    patience: int = 2
    min_gain: float = 0.02
    references: int = 0
    tournament_size: int = 0
    tournament_runs: int = 2
    model_proposals: int = 0
    init: str = "random"
    structured_block: int | None = None

    def check(self) -> ScheduleConfig:
        """Raise :class:`ConfigError` for settings no schedule can use."""
        if self.levels < 1:
            raise ConfigError(f"levels must be >= 1, got {self.levels}")
        if self.population is not None and self.population < 1:
            raise ConfigError(f"population must be >= 1, got {self.population}")
        if self.local not in LOCAL_STYLES:
            raise ConfigError(f"local must be one of {', '.join(LOCAL_STYLES)}, got {self.local!r}")
        for name in ("local_cap", "incumbents", "round_size", "patience", "tournament_runs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.min_gain < 1:
            raise ConfigError(f"min_gain must be in [0, 1), got {self.min_gain}")
        for name in ("references", "tournament_size", "model_proposals"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.init not in ("random", "structured"):
            raise ConfigError(f"init must be random or structured, got {self.init!r}")
        return self


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


def insertions(order: Order) -> Iterator[Order]:
    """Every order made by taking one item out and putting it at another position."""
    n = len(order)
    for i in range(n):
        rest = order[:i] + order[i + 1:]
        for j in range(n):
            if j != i:
                yield rest[:j] + (order[i],) + rest[j:]


def swaps(order: Order) -> Iterator[Order]:
    """Every order made by exchanging two items."""
    for i, j in itertools.combinations(range(len(order)), 2):
        items = list(order)
        items[i], items[j] = items[j], items[i]
        yield tuple(items)


class _Book:
    """Every score of every order over the stages replayed so far, in the order they were made."""

    def __init__(self) -> None:
        self.values: dict[Order, list[float]] = {}
        self.total: dict[Order, float] = {}  # sum of values[o]: score() is on the replay's hot path
        self.panel: tuple[Order, ...] = ()  # the references that set every batch's scale
        self.winners: list[Order] = []  # each stage's best candidate, by its own run's scores

    def add(self, scores: Mapping[Order, float]) -> None:
        for o, v in scores.items():
            self.values.setdefault(o, []).append(v)
            self.total[o] = self.total.get(o, 0.0) + v

    def score(self, order: Order) -> float:
        return self.total[order] / len(self.values[order])

    def ranked(self) -> list[Order]:
        return sorted(self.values, key=lambda o: (self.score(o), o))

    def references(self, count: int, exclude: Sequence[Order]) -> tuple[Order, ...]:
        """The best ``count`` orders and the panel, minus ``exclude``. The panel is the first
        stage's references, kept for the whole search: a batch anchored on whichever orders are best
        *now* inherits their luck (the best of noisy scores are the luckiest), and when its own
        lucky best anchor the next batch the deflation compounds, round after round (a replay on a
        noisy synthetic objective drifted the best score 40% below the true one; scrambled ``prod``
        L = 6 drifted 0.852 -> 0.714 in six local rounds and lost the friendly order). Orders that
        were not chosen again for their scores carry no new luck."""
        if not count or not self.values:
            return ()
        top = self.ranked()[:count]
        self.panel = self.panel or tuple(top)
        skip = set(exclude)
        return tuple(o for o in dict.fromkeys([*top, *self.panel]) if o not in skip)

    def anchors(self, references: Sequence[Order]) -> tuple[float, ...]:
        """Each reference's anchor (NaN: it sets no scale): the panel's references anchor, by
        :func:`reference_anchors`; when none of them is there, every reference does."""
        setters = [o for o in references if o in self.panel] or list(references)
        value = dict(zip(setters, reference_anchors([self.values[o] for o in setters])))
        return tuple(value.get(o, math.nan) for o in references)

    def __contains__(self, order: Order) -> bool:
        return order in self.values


class Schedule:
    """Generates the stages; see the module docstring."""

    def __init__(
        self,
        n: int,
        config: ScheduleConfig | None = None,
        *,
        seed: int = 0,
        seed_orders: Sequence[Order] = (),
        pinned: Sequence[Order] = (),
        representable: Callable[[Order], bool] = lambda o: True,
        stop_local: int | None = None,
    ) -> None:
        self.n = n
        self.stop_local = stop_local  # local stages from this index on are skipped (budget spent)
        self.config = config = (config or ScheduleConfig()).check()
        self.levels = max(1, min(config.levels, n))
        self.population = min(config.population or math.factorial(self.levels + 1), math.factorial(n))
        self.seed = seed
        self.seed_orders = tuple(tuple(o) for o in seed_orders)
        self.pinned = tuple(tuple(o) for o in pinned)  # always tournament entrants (once evaluated)
        self.representable = representable

    # ------------------------------------------------------------ candidates
    def initial(self, study_orders: Sequence[Order]) -> tuple[Order, ...]:
        """The ``global-1`` candidates."""
        T = self.population
        pool = list(study_orders[:T]) + list(self.seed_orders)
        rng = np.random.default_rng([self.seed, 1])
        if self.config.init == "structured":
            pool += self._structured(rng)
        keep = self.representable
        out = list(_unique(pool, keep))[:T]
        chosen = set(out)
        attempt = 0
        while len(out) < T and attempt < 100 * T:
            cand = random_order(self.n, int(rng.integers(2**31)))
            attempt += 1
            if cand not in chosen and keep(cand):
                out.append(cand)
                chosen.add(cand)
        return tuple(out)

    def _structured(self, rng: np.random.Generator) -> list[Order]:
        """Seed orders (default forward and reverse) cut into blocks of ``b`` and permuted."""
        n, T = self.n, self.population
        bases = list(self.seed_orders) or [tuple(range(n)), tuple(range(n - 1, -1, -1))]
        b = self.config.structured_block or max(1, n // self.levels)
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
        cap = self.config.local_cap
        for j, block in enumerate(blocks):
            s = len(block)
            if s < 2:
                continue
            if math.factorial(s) - 1 <= cap:
                perms: Iterator[tuple[int, ...]] = itertools.permutations(range(s))
            else:
                perms = (tuple(int(v) for v in rng.permutation(s)) for _ in range(cap))
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

    def neighbourhood(self, incumbent: Order, salt: int) -> Iterator[Order]:
        """Everything a ``rounds`` local stage tries around one incumbent: insertions and swaps of
        single items, then block moves and inner permutations at every block length."""
        yield from insertions(incumbent)
        yield from swaps(incumbent)
        for length in range(2, self.n // 2 + 1):
            yield from self._moves(incumbent, length)
            yield from self._inner(incumbent, length, salt)

    def _local_round(self, incumbents: Sequence[Order], tried: set[Order], index: int) -> tuple[Order, ...]:
        """The union of the incumbents' neighbourhoods minus what was tried: the better an
        incumbent, the larger its share; at most ``round_size`` orders, in a seeded order."""
        rng = np.random.default_rng([self.seed, 4, index])
        pools = []
        for rank, inc in enumerate(incumbents):
            pool = list(_unique((o for o in self.neighbourhood(inc, index) if o not in tried), self.representable))
            pools.append([pool[i] for i in rng.permutation(len(pool))])
        out: dict[Order, None] = {}
        cursors = [0] * len(pools)
        # round robin weighted by rank: incumbent r takes ceil(m / (r + 1)) orders per turn
        shares = [max(1, math.ceil(len(pools) / (r + 1))) for r in range(len(pools))]
        while len(out) < self.config.round_size and any(c < len(p) for c, p in zip(cursors, pools)):
            for r, pool in enumerate(pools):
                take = 0
                while take < shares[r] and cursors[r] < len(pool) and len(out) < self.config.round_size:
                    cand = pool[cursors[r]]
                    cursors[r] += 1
                    if cand not in out:
                        out[cand] = None
                        take += 1
        return tuple(out)

    # ------------------------------------------------------------------ replay
    def _stage(self, index: int, label: str, candidates: Sequence[Order], book: _Book,
               model: Callable[[int], tuple[Order, ...]] = lambda index: ()) -> Stage:
        proposed = model(index)
        candidates = tuple(dict.fromkeys((*proposed, *candidates)))
        refs = book.references(self.config.references, candidates)
        return Stage(index, label, candidates, refs, book.anchors(refs), proposed)

    def _model(self, rows: list[tuple[Order, Sequence[float], Hashable]], book: _Book, tried: set[Order],
               index: int) -> tuple[Order, ...]:
        """The precedence model's proposals for stage ``index`` from the rows of earlier stages."""
        count = self.config.model_proposals
        if not count or len(rows) < 2 * self.n:
            return ()
        orders, costs, groups = zip(*rows)
        H = fit_precedence(orders, costs, groups)
        rng = np.random.default_rng([self.seed, 5, index])
        proposals = propose_orders(H, count, rng, starts=book.ranked()[: self.config.incumbents], exclude=tried)
        return tuple(o for o in proposals if self.representable(o))

    def stages(self, observations: Observations, study_orders: Sequence[Order] = (),
               evaluated: Evaluated | None = None, items: ItemRows | None = None) -> Iterator[Stage]:
        """All stages in order. A stage is only generated once every item of the stages before it
        has a result (see :meth:`complete`)."""
        config, keep, T = self.config, self.representable, self.population
        evaluated, items = evaluated or {}, items or {}
        rows: list[tuple[Order, Sequence[float], Hashable]] = []
        model = lambda index: self._model(rows, book, tried, index)  # noqa: E731
        book = _Book()
        book.add(observations.get(-1, {}))
        tried: set[Order] = set(book.values)
        index = 0

        def run(stage: Stage) -> Iterator[Stage]:
            yield stage
            if not self.complete(stage, observations, evaluated):
                return
            seen = observations.get(stage.index, {})
            book.add({o: seen[o] if o in seen else evaluated[o] for o in stage.candidates})
            book.add({o: v for o, v in seen.items() if o not in set(stage.candidates)})
            own = [o for o in stage.candidates if o in seen]
            if own:
                book.winners.append(min(own, key=lambda o: (seen[o], o)))
            tried.update(stage.candidates)
            rows.extend(items.get(stage.index, ()))

        initial = tuple(o for o in self.initial(study_orders) if o not in tried)  # not the study's own again
        yield from run(self._stage(index, "global-1", initial, book))
        if not self.complete(Stage(index, "", initial), observations, evaluated):
            return
        for k in range(2, self.levels + 1):
            index += 1
            incumbents = book.ranked()[: max(1, T // math.factorial(k))]
            cands = _unique((o for inc in incumbents for o in self._block_permutations(inc, k) if o not in tried), keep)
            stage = self._stage(index, f"global-{k}", cands, book, model)
            yield from run(stage)
            if not self.complete(stage, observations, evaluated):
                return
        done = lambda stage: self.complete(stage, observations, evaluated)  # noqa: E731
        if config.local == "sequential":
            yield from self._sequential_local(index, done, book, tried, run)
        else:
            yield from self._round_local(index, done, book, tried, run, model)

    def _sequential_local(self, index, done, book, tried, run) -> Iterator[Stage]:
        best = book.ranked()[0]
        for length in range(2, self.n // 2 + 1):
            for kind in ("inner", "moves"):
                index += 1
                gen = self._inner(best, length, index) if kind == "inner" else self._moves(best, length)
                cands = _unique((o for o in gen if o != best and o not in tried), self.representable)
                stage = self._stage(index, f"local-{length}-{kind}", cands, book)
                yield from run(stage)
                if not done(stage):
                    return
                if cands:
                    top = min(cands, key=lambda o: (book.score(o), o))
                    if (book.score(top), top) < (book.score(best), best):
                        best = top
        yield from self._tournament(index, done, book)

    def _round_local(self, index, done, book, tried, run, model) -> Iterator[Stage]:
        config = self.config
        unchanged, r = 0, 0
        mark = book.score(book.ranked()[0])  # the score a new best must beat by min_gain
        while unchanged < config.patience:
            if self.stop_local is not None and index + 1 >= self.stop_local:
                break
            index += 1
            r += 1
            incumbents = book.ranked()[: config.incumbents]
            stage = self._stage(index, f"local-{r}", self._local_round(incumbents, tried, index), book, model)
            if not stage.candidates:
                break
            yield from run(stage)
            if not done(stage):
                return
            now = book.score(book.ranked()[0])
            if mark - now > config.min_gain * abs(mark):  # a real gain, not the noise of a lucky run
                unchanged, mark = 0, now
            else:
                unchanged += 1
        yield from self._tournament(index, done, book)

    def _tournament(self, index, done, book) -> Iterator[Stage]:
        size = self.config.tournament_size
        if size < 2 or len(book.values) < 2:
            return
        # The best orders on the common scale, then up to size / 2 more: each stage's own winner
        # not among them, earliest stage first. A winner's rank within its own run needs no
        # rescaling, so a round whose scale came out high (its panel happened to run well) still
        # sends its best; ranking the winners on the common scale would drop exactly those.
        pinned = [o for o in self.pinned if o in book]
        top = tuple(dict.fromkeys([*pinned, *book.ranked()]))[:max(size, len(pinned))]
        taken = set(top)
        extra = tuple(o for o in dict.fromkeys(book.winners) if o not in taken)[: size // 2]
        entrants = top + extra
        anchors = book.anchors(entrants)
        for j in range(1, self.config.tournament_runs + 1):
            stage = Stage(index + j, f"tournament-{j}", (), entrants, anchors)
            yield stage
            if not done(stage):
                return

    @staticmethod
    def complete(stage: Stage, observations: Observations, evaluated: Evaluated | None = None) -> bool:
        """Every candidate of ``stage`` was evaluated (in it or anywhere), and every reference in
        it, unless none of the candidates was: references only anchor the stage's own runs, so a
        stage whose candidates were all evaluated elsewhere (or that has none) needs no run. A
        tournament stage (only references) needs all of them."""
        seen = observations.get(stage.index, {})
        evaluated = evaluated or {}
        if not all(o in seen or o in evaluated for o in stage.candidates):
            return False
        ran_here = stage.kind == "tournament" or any(o in seen for o in stage.candidates)
        return not ran_here or all(o in seen for o in stage.references)

    def trace(self, observations: Observations, study_orders: Sequence[Order] = (),
              evaluated: Evaluated | None = None, items: ItemRows | None = None) -> Stage | None:
        """The first stage with an item that has no result yet; ``None`` when all are done."""
        for stage in self.stages(observations, study_orders, evaluated, items):
            if not self.complete(stage, observations, evaluated):
                return stage
        return None
