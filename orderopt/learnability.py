"""Learnability check: can a profile of this length tell the task's orders apart at all?

A search ranks orders by their early loss. If no order leaves the loss plateau within the
profile, the ranking is noise, and a search would spend its whole budget on it. Before a new
search, this check profiles a small panel of orders (forward, reverse, the dependency probe's
order and random ones) twice, under two profile seeds, and reads two signals:

* **a target learned by some orders and not by others**: its loss fell below half its plateau
  (the entropy of its values, which a model that learned nothing but their frequencies reaches)
  under one order and not under another. Targets every order learns (a copied input) or none
  does say nothing about orders.
* **rank agreement** of the two seeds (Spearman's rho over the panel): noise does not repeat, a
  real difference between orders does, even while every order is still on its plateau.
* **pattern agreement** of the two seeds: which orders do better *on which target*. Each target's
  loss is standardised across the panel, and the two seeds' (orders x targets) patterns are
  correlated; its z-score is against the same statistic with one seed's orders shuffled, which
  is what noise gives. A task whose orders trade one target for another (prod: each order
  learns some digits early and others late) repeats this pattern long before the orders'
  mean losses rank alike, so this signal tells apart orders that rank agreement misses.

If neither shows, the profile is lengthened (doubled) and the check repeated, up to
``max_factor`` times the preset's steps. If even then neither shows, the verdict is "no order
learned": the search stops instead of ranking noise, and says what to try. The thresholds are a
first choice that tells the user tasks of ``examples/`` (``benchmarks/results/user_tasks/``) and
the built-in tasks from targets drawn as noise (the tests); ``benchmarks/learnability.py`` measures
them per task.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from orderopt.orders import Order, identity, random_orders, reverse
from orderopt.profiling import ProfileConfig, profile, profile_splits
from orderopt.tasks import Task

__all__ = ["CheckConfig", "CheckRound", "Learnability", "check_learnability", "pattern_agreement", "plateau_losses",
           "rank_agreement"]


@dataclass(frozen=True)
class CheckConfig:
    """How the check profiles and what counts as signal."""

    orders: int = 32  # panel size (forward, reverse, the given seed orders, then random ones)
    max_factor: int = 4  # lengthen the profile (doubling) up to this many times its steps
    agreement: float = 0.5  # Spearman's rho of two seeds at or above this: orders differ
    pattern_z: float = 4.0  # the two seeds' per-target patterns agree this many null SDs above chance: orders differ
    learned_share: float = 0.5  # a target's loss below this share of its plateau: learned
    seed_stride: int = 7919  # the second profile's seed: seed + stride


@dataclass
class CheckRound:
    """One length tried: its two profiles' agreement and the targets some orders learned and others did not."""

    steps: int
    agreement: float
    informative: list[int]  # canonical targets learned under some panel orders and not others
    learned_by_all: list[int]  # targets every panel order learned
    best_gap: float  # the best order's mean loss below the plateau, as a share of it
    seconds: float
    signal: bool  # a target some orders learned and others not, or seeds that agree (ranks or pattern)
    pattern: float = 0.0  # correlation of the seeds' per-target standardised losses (0 in rounds stored before it)
    pattern_z: float = 0.0  # ... in null standard deviations (orders shuffled)


@dataclass
class Learnability:
    """The check's outcome: the profile length the search should use, or the verdict that no
    order learned within ``max_factor`` times the planned length."""

    steps: int
    learned: bool
    rounds: list[CheckRound] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        return "learns" if self.learned else "no order learned"

    def to_dict(self) -> dict:
        return {"steps": self.steps, "learned": self.learned, "verdict": self.verdict, "seconds": round(self.seconds, 1),
                "rounds": [asdict(r) for r in self.rounds]}

    def line(self) -> str:
        """One line for the terminal and the report."""
        last = self.rounds[-1]
        tried = ", ".join(f"{r.steps:,}" for r in self.rounds)
        if self.learned:
            why = (f"target(s) {', '.join(f'y{j}' for j in last.informative)} learned under some orders and not "
                   "others" if last.informative else
                   f"two profile seeds agree on which orders do better (rho {last.agreement:.2f}, "
                   f"pattern z {last.pattern_z:.1f})")
            longer = f" (lengthened from {self.rounds[0].steps:,})" if len(self.rounds) > 1 else ""
            return (f"learnability check: profiles of {last.steps:,} steps{longer} tell orders apart: {why} "
                    f"({self.seconds:.0f} s)")
        return (f"no order learned: after profiles of {tried} steps no order learned a target that another did not, "
                f"and two profile seeds ranked the orders no more alike than chance (rho {last.agreement:.2f}, pattern "
                f"z {last.pattern_z:.1f}; best "
                f"order {100 * max(last.best_gap, 0.0):.0f}% below the loss plateau). Try longer profiles (--steps "
                f"{4 * last.steps}), a larger preset (--preset paper) or, for a dataset file, more rows")


def plateau_losses(y: np.ndarray) -> np.ndarray:
    """Each target's loss plateau (nats): the entropy of its values in ``y`` (rows x targets)."""
    out = np.zeros(y.shape[1])
    for j in range(y.shape[1]):
        counts = np.unique(y[:, j], return_counts=True)[1]
        p = counts / counts.sum()
        out[j] = float(-(p * np.log(p)).sum())
    return out


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    for v in np.unique(values):  # ties share their mean rank
        tied = values == v
        ranks[tied] = ranks[tied].mean()
    return ranks


def rank_agreement(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rho of two score lists (0 when either is constant)."""
    ra, rb = _ranks(np.asarray(a, float)), _ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def pattern_agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """How alike two (orders x targets) loss matrices rank the orders target by target: the
    correlation of their entries after standardising each target (column) across orders, and its
    z-score under shuffled orders. Columns constant in either matrix are left out.

    With every column centred and scaled, the correlation is ``trace(G) / (orders * targets)`` for
    ``G = za @ zb.T``, and shuffling ``b``'s rows gives the trace a mean of 0 and a variance of
    ``sum(G**2) / (orders - 1)`` (G's rows and columns sum to 0), so the z-score needs no sampling.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = (a.std(axis=0) > 1e-12) & (b.std(axis=0) > 1e-12)
    n, k = a.shape[0], int(keep.sum())
    if n < 3 or k == 0:
        return 0.0, 0.0
    za, zb = ((m[:, keep] - m[:, keep].mean(axis=0)) / m[:, keep].std(axis=0) for m in (a, b))
    g = za @ zb.T
    spread = float(np.sqrt((g ** 2).sum() / (n - 1)))
    trace = float(np.trace(g))
    return trace / (n * k), (trace / spread if spread > 0 else 0.0)


def panel(task: Task, size: int, seed: int, seed_orders: Sequence[Order] = ()) -> list[Order]:
    """Forward, reverse, the seed orders, then random orders: ``size`` distinct orders at most."""
    fixed = list(dict.fromkeys([identity(task.length), reverse(task.length), *map(tuple, seed_orders)]))
    room = min(size, math.factorial(min(task.length, 12))) - len(fixed)
    return fixed + (random_orders(task.length, room, seed, exclude=fixed) if room > 0 else [])


def check_round(task: Task, orders: list[Order], config: ProfileConfig, check: CheckConfig) -> CheckRound:
    """Profile ``orders`` under two seeds at ``config``'s length and read the signals."""
    start = time.perf_counter()
    runs = []
    for seed in (config.train.seed, config.train.seed + check.seed_stride):
        cfg = replace(config, train=replace(config.train, seed=seed))
        splits = profile_splits(task, cfg)
        runs.append((profile(task, orders, cfg, splits=splits, progress=False), plateau_losses(splits.y_train)))
    informative, by_all, gaps = set(range(task.length)), set(range(task.length)), []
    some: set[int] = set()
    for result, plateau in runs:
        losses = result.position_scores  # (orders, targets), canonical
        active = plateau > 1e-6  # a constant target has no plateau to leave
        learned = (losses < check.learned_share * plateau) & active
        some |= set(np.flatnonzero(learned.any(axis=0)).tolist())
        by_all &= set(np.flatnonzero(learned.all(axis=0) & active).tolist())
        informative &= set(np.flatnonzero(learned.any(axis=0) & ~learned.all(axis=0)).tolist())
        gaps.append(float(1.0 - losses.mean(axis=1).min() / max(plateau.mean(), 1e-9)))
    agreement = rank_agreement(runs[0][0].scores, runs[1][0].scores)
    active = (runs[0][1] > 1e-6) & (runs[1][1] > 1e-6)
    pattern, pattern_z = pattern_agreement(runs[0][0].position_scores[:, active], runs[1][0].position_scores[:, active])
    return CheckRound(config.train.total_steps(), round(agreement, 4), sorted(informative), sorted(by_all),
                      round(min(gaps), 4), round(time.perf_counter() - start, 1),
                      bool(informative) or agreement >= check.agreement or pattern_z >= check.pattern_z,
                      round(pattern, 4), round(pattern_z, 2))


def check_learnability(task: Task, config: ProfileConfig, *, seed_orders: Sequence[Order] = (),
                       check: CheckConfig | None = None, lengthen: bool = True,
                       log: Callable[[str], None] | None = None) -> Learnability:
    """Check that profiles of ``config``'s length tell ``task``'s orders apart, lengthening
    them (doubling, up to ``check.max_factor`` times) while they do not; see the module docstring."""
    check = check or CheckConfig()
    start = time.perf_counter()
    orders = panel(task, check.orders, config.train.seed, seed_orders)
    steps, rounds = config.train.total_steps(), []
    while True:
        cfg = replace(config, mode="mixture", train=replace(config.train, steps=steps))
        rounds.append(check_round(task, orders, cfg, check))
        if log:
            r = rounds[-1]
            log(f"  {steps:>6,} profile steps: {len(r.informative)} target(s) learned by some orders only, seeds "
                f"agree rho {r.agreement:.2f}, pattern z {r.pattern_z:.1f} ({r.seconds:.0f} s)")
        if rounds[-1].signal or not lengthen or 2 * steps > check.max_factor * config.train.total_steps():
            break
        steps *= 2
    learned = rounds[-1].signal
    return Learnability(steps if learned else config.train.total_steps(), learned, rounds,
                        time.perf_counter() - start)
