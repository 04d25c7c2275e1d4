"""What a study's trials say, round by round: the rows every report renders.

Verdict trials (the search's found #1, recorded for Optuna's best trial) are conclusions, not
evaluations, and are left out of every count here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from orderopt.orders import Order
from orderopt.samplers import ROLE_ATTR, ROUND_ATTR, RUN_ATTR, STAGE_ATTR, trial_score
from orderopt.studies._search import geometric_mean, is_verdict, tournament_scores

__all__ = ["StageSummary", "stage_history", "tournament_table", "evaluations"]


@dataclass
class StageSummary:
    """One round of the search (one mixture run, or one stage of one-by-one trials): its number
    (1, 2, ... in the order the rounds ran), how many orders it profiled, how many of them were
    references, and the best of them."""

    stage: str
    round: int
    first_trial: int
    trials: int
    pruned: int
    references: int
    scores: list[float]  # comparable scores
    completed: list[float]  # comparable scores of the orders profiled to the round's end (not pruned)
    best_score: float | None
    best_order: Order | None


def evaluations(study: optuna.Study) -> list[FrozenTrial]:
    """Every finished evaluation of an order (COMPLETE or PRUNED, verdict trials left out)."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
            if "order" in t.user_attrs and not is_verdict(t)]


def _round_key(t: FrozenTrial) -> tuple:
    stage = t.system_attrs.get(STAGE_ATTR, t.user_attrs.get("stage", "?"))
    return str(stage), t.system_attrs.get(ROUND_ATTR), t.system_attrs.get(RUN_ATTR)


def stage_history(study: optuna.Study) -> list[StageSummary]:
    """Scored trials grouped by round, in the order the search ran them (numbered from 1, as the
    trials' user attr ``round`` numbers them)."""
    groups: dict[tuple, list[FrozenTrial]] = defaultdict(list)
    for t in evaluations(study):
        groups[_round_key(t)].append(t)
    out = []
    for (stage, _, _), trials in sorted(groups.items(), key=lambda kv: min(t.number for t in kv[1])):
        scored = [(trial_score(t), t) for t in trials]
        scored = [(s, t) for s, t in scored if s is not None]
        best = min(scored, key=lambda st: (st[0], st[1].number)) if scored else None
        out.append(StageSummary(
            stage, len(out) + 1, min(t.number for t in trials), len(trials),
            sum(t.state == TrialState.PRUNED for t in trials),
            sum(t.system_attrs.get(ROLE_ATTR) in ("reference", "tournament") for t in trials),
            [s for s, _ in scored], [s for s, t in scored if t.state == TrialState.COMPLETE],
            best[0] if best else None, tuple(best[1].user_attrs["order"]) if best else None,
        ))
    return out


def tournament_table(study: optuna.Study) -> list[tuple[Order, list[float], float]]:
    """``(order, scores in the tournament runs, geometric mean)`` of every tournament entrant,
    best first: the rule that chooses found #1 (:func:`orderopt.studies.best_orders`)."""
    rows = [(o, v, geometric_mean(v)) for o, v in tournament_scores(study).items()]
    return sorted(rows, key=lambda r: (r[2], r[0]))
