"""Scores of trials: one rule for the sampler, the pruner, the report and verification.

A trial's **score** is its value for a COMPLETE trial, its last reported intermediate value for
a PRUNED one, unless the trial carries a *comparable* score (system attr ``SCORE_ATTR``): then
that. Comparable scores exist when candidates are evaluated in batches whose scale drifts from
batch to batch (a mixture profile's loss drops at a run-dependent step): every batch then also
re-evaluates a few **references** (orders scored before), and each value is rescaled by how the
references fared in this batch compared with their earlier scores::

    comparable = raw * geomean(reference scores before the batch) / geomean(reference raws now)

so scores stay in the objective's units (e.g. validation loss) and orders of different batches
can be ranked together. The ratio needs positive values (losses are).

A reference's *anchor* leaves out the score that made it a reference: references are the best
orders so far, and the best of a batch of noisy scores are the luckiest, so a batch anchored on
those scores is deflated by that luck; its own best then anchor the next batch, and the deflation
compounds round after round (measured on scrambled ``prod`` L = 6: six local rounds each "improved"
the best score by more than 2%, 0.852 -> 0.714, and the friendly order fell out of the top 40).
See :func:`reference_anchors`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState

__all__ = ["SCORE_ATTR", "RAW_ATTR", "trial_score", "anchor_factor", "reference_anchors"]

SCORE_ATTR = "orderopt:score"  # comparable score, in the study's value space
RAW_ATTR = "orderopt:raw_score"  # the value as measured in its batch


def trial_score(trial: FrozenTrial) -> float | None:
    """The score of ``trial`` in the study's value space, or ``None`` when it has none (running,
    failed, or pruned before reporting anything)."""
    if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
        return None
    stored = trial.system_attrs.get(SCORE_ATTR)
    if stored is not None:
        return float(stored)
    if trial.state == TrialState.COMPLETE:
        return None if trial.value is None else float(trial.value)
    if trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return None


def anchor_factor(raw_references: Sequence[float], anchors: Sequence[float]) -> float:
    """The factor that puts a batch on the anchors' scale (see the module docstring): the
    geometric mean of ``anchors`` over the geometric mean of ``raw_references``."""
    if len(raw_references) != len(anchors) or not anchors:
        raise ValueError("give one raw value per anchor, and at least one")
    values = [*raw_references, *anchors]
    if any(not (v > 0 and math.isfinite(v)) for v in values):
        raise ValueError(f"comparable scores need positive finite values, got {values}")
    logs = [math.log(a) - math.log(r) for r, a in zip(raw_references, anchors)]
    return math.exp(sum(logs) / len(logs))


def reference_anchors(histories: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """The anchor of each reference from its scores in the order they were made (the first is the
    one it was chosen on): the mean of its later scores, or NaN (it sets no scale, it is only
    scored again) when it has none. When no reference has a later score (the first batch with
    references), every reference anchors on its mean: there is nothing unbiased yet."""
    if any(not h for h in histories):
        raise ValueError("give at least one score for every reference")
    if any(len(h) > 1 for h in histories):
        return tuple(sum(h[1:]) / (len(h) - 1) if len(h) > 1 else math.nan for h in histories)
    return tuple(sum(h) / len(h) for h in histories)
