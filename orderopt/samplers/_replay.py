"""Drive a :class:`~orderopt.samplers._schedule.Schedule` in memory with a batch objective,
each batch rescaled by its anchoring references as the mixture search does: for tests and
benchmarks of the schedule itself, without a study or a storage."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from ._orders import Order
from ._schedule import Schedule, Stage
from ._scores import anchor_factor

__all__ = ["replay_batches"]


def replay_batches(schedule: Schedule, evaluate: Callable[[Stage], Mapping[Order, float]],
                   max_stages: int | None = None) -> tuple[dict[Order, list[float]], int]:
    """Evaluate the schedule's stages one batch at a time (``evaluate`` gets a stage and returns
    the raw scores of its ``items()``, lower is better) until it is done or ``max_stages`` ran. Returns
    every order's comparable scores in the order they were made, and the number of stages run."""
    observations: dict[int, dict[Order, float]] = {}
    evaluated: dict[Order, float] = {}
    scores: dict[Order, list[float]] = {}
    stages = 0
    while max_stages is None or stages < max_stages:
        stage = schedule.trace(observations, (), evaluated)
        if stage is None:
            break
        stages += 1
        raw = dict(evaluate(stage))
        pairs = [(raw[o], a) for o, a in zip(stage.references, stage.anchors) if not math.isnan(a)]
        factor = anchor_factor(*zip(*pairs)) if pairs else 1.0
        observations[stage.index] = {o: v * factor for o, v in raw.items()}
        for o, v in observations[stage.index].items():
            evaluated.setdefault(o, v)
            scores.setdefault(o, []).append(v)
    return scores, stages
