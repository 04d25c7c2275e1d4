"""What the profile could not see: warnings and notes that qualify a search's ranking.

A flat profile (no round told its orders apart), targets that no order learned, the dependency
probe's part in the search and the learnability check's verdict each get one line that the
terminal, the report, the dashboard note and ``--json`` share.
"""

from __future__ import annotations

import numpy as np
import optuna
from optuna.trial import TrialState

from orderopt.orders import format_order
from orderopt.report.history import StageSummary, evaluations, stage_history
from orderopt.samplers import ITEM_SCORES_ATTR
from orderopt.studies import learnability_of, probe_of, read_spec
from orderopt.studies._search import stopped_by_check

__all__ = ["FLAT_SPREAD", "LEARNED_LOSS", "profile_spread", "flat_warning", "targets_learned", "unlearned_warning",
           "profile_warnings", "learnability_line", "no_order_learned", "probe_line"]


# A study whose rounds never spread further than this has a flat profile: below the line, no
# measured profile told orders apart (benchmarks/results/profiling/profile_separation.md).
FLAT_SPREAD = 0.01
SPREAD_MIN_ORDERS = 8  # smaller rounds (late local rounds, tournaments) say little about the spread


def profile_spread(study: optuna.Study, history: list[StageSummary] | None = None) -> float | None:
    """How far the profile told orders apart: the largest ``(median - best) / median`` of the
    scores of one round, over the study's rounds of at least ``SPREAD_MIN_ORDERS`` completed
    orders (``None`` before such a round). Pruned orders are left out (their scores are losses
    from an earlier step, which would widen the spread), and so are tournaments (a few already
    chosen orders). Within a round the comparable scores are the raw ones times one factor, so
    this is the spread of what the round measured. ``history``: the study's
    :func:`stage_history`, when the caller has it already."""
    spreads = []
    for h in stage_history(study) if history is None else history:
        median = float(np.median(h.completed)) if h.completed else 0.0
        if not h.stage.startswith("tournament") and len(h.completed) >= SPREAD_MIN_ORDERS and median > 0:
            spreads.append((median - min(h.completed)) / median)
    return max(spreads) if spreads else None


def flat_warning(study: optuna.Study, history: list[StageSummary] | None = None) -> str | None:
    """A one-paragraph warning when the profile is flat (see :data:`FLAT_SPREAD`), else ``None``."""
    spread = profile_spread(study, history)
    if spread is None or spread >= FLAT_SPREAD:
        return None
    return (f"warning: the profile is flat (no round's best order is more than {100 * spread:.1f}% below the round's "
            f"median; {100 * FLAT_SPREAD:.0f}% or more separates): loss profiling did not tell the orders apart, so "
            "found #1 may train no better than a random order. Profile longer (--steps) or with a larger preset, "
            "and check found #1 with --verify.")


# A target counts as learned under an order when its profile loss (nats per token) is below this.
# Few learned targets is a reason to verify, not a verdict: searches found the friendly order with
# few learned targets on some tasks and missed it on others (benchmarks/results/profiling/profile_learned.md).
LEARNED_LOSS = 0.1
LEARNED_SHARE = 0.5  # note when the profile learned fewer than this share of the targets


def targets_learned(study: optuna.Study) -> tuple[int, int] | None:
    """``(k, L)``: the most targets any one profiled order learned (per-target loss below
    :data:`LEARNED_LOSS`) out of the ``L`` targets, over the trials that stored per-target losses;
    ``None`` when none did (another objective, or no round has finished)."""
    best, length = -1, 0
    for t in evaluations(study):
        losses = t.system_attrs.get(ITEM_SCORES_ATTR) if t.state == TrialState.COMPLETE else None
        if losses:
            length = len(losses)
            best = max(best, sum(v < LEARNED_LOSS for v in losses))
    return None if best < 0 else (best, length)


def unlearned_warning(study: optuna.Study) -> str | None:
    """A note when the profile learned fewer than :data:`LEARNED_SHARE` of the targets under
    every order it profiled (see :data:`LEARNED_LOSS`), else ``None``."""
    learned = targets_learned(study)
    if learned is None or learned[0] >= LEARNED_SHARE * learned[1]:
        return None
    k, length = learned
    return (f"note: the profile learned at most {k} of the {length} targets under any order (validation loss "
            f"below {LEARNED_LOSS}); the other {length - k} were still on their loss plateau under every order, "
            "so they ranked orders only by how soon each would leave it. Searches like this found the friendly "
            "order on some tasks and missed it on others: check found #1 with --verify, and if it trains poorly "
            "profile longer (--steps) or with a larger preset.")


def profile_warnings(study: optuna.Study, history: list[StageSummary] | None = None) -> list[str]:
    """Every warning and note on what the profile could not see (flat scores, unlearned targets)."""
    return [w for w in (flat_warning(study, history), unlearned_warning(study)) if w]


def learnability_line(study: optuna.Study) -> str | None:
    """One line on the study's learnability check (see :mod:`orderopt.learnability`), if it ran."""
    checked = learnability_of(study)
    if not checked:
        return None
    from orderopt.learnability import CheckRound, Learnability

    rounds = [CheckRound(**r) for r in checked["rounds"]]
    line = Learnability(checked["steps"], checked["learned"], rounds, checked.get("seconds", 0.0)).line()
    if not checked["learned"] and not stopped_by_check(study):  # the probe's order carries the search
        line = (line.replace("no order learned:", "profiles did not tell orders apart:", 1) + ". The search goes on "
                "anyway: the dependency probe explained every target, and its order stays found #1 unless a profile "
                "beats it; check it with --verify")
    return line


def no_order_learned(study: optuna.Study) -> bool:
    """True when the study's learnability check found that no order learned and nothing was searched
    (see :func:`orderopt.studies.stopped_by_check`)."""
    return stopped_by_check(study)


def probe_line(study: optuna.Study) -> str | None:
    """One line on the study's dependency probe: how many targets it explained and what its order
    does in the search (seed only, or seed and tournament entrant that stays first unless beaten)."""
    probe = probe_of(study)
    spec = read_spec(study)
    if not probe or spec is None or spec.prior != "dependency":
        return None
    entropy = probe.get("entropy") or []
    explained = sum(h < 0.1 for h in entropy)
    role = ("a seed of global-1 and a tournament entrant that stays found #1 unless an order that keeps the "
            "dependencies it found profiles 1% better"
            if probe.get("explained") else "a seed of global-1 only (not every target was determined)")
    return (f"dependency probe: {explained} of {len(entropy)} targets determined by at most 3 earlier tokens "
            f"({probe.get('seconds', 0):.0f} s); its order {format_order(tuple(probe['order']))} is {role}")
