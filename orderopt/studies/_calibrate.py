"""Profile length: how long the profile model must train before orders can be told apart.

A profile ranks orders only once the loss of some of them has started to fall, and only until
the others catch up. Measured on 1 + 127 random orders (``benchmarks/results/profile_length.md``):
on ``prod`` L = 6 the spread of the random orders' losses is 0.8% after the ``cpu`` preset's
600 steps (lsd-first ranked 40th), 4.2% after 1,200 (lsd-first 1st), 1.3% after 2,400 (1st)
and 1.8% after 4,800 (101st); on ``square`` it is over 90% at 600 steps (forward 1st).
Before its first round, a mixture search without an explicit ``--steps`` therefore profiles
a **probe** of 64 random orders at the preset's steps; while the probe is *flat* (its best loss
within ``FLAT_SPREAD`` of its median) it doubles the steps, as long as the spread grows and at
most ``profile_doublings`` times (a preset setting: 3 for ``cpu`` and ``paper``, 0 and no probe
for ``tiny``), and takes the steps of the widest spread. On scrambled ``delay`` L = 8 no length
helps (spread 0.0-0.3% at 600-2,400 steps, also with the final model's shape): the probe costs a
1,200-step run and the search keeps 600 steps. The choice and every probe are stored in the
study (user attr ``orderopt:profile_steps``), so a resumed search and every worker use the same
length without probing again.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import optuna

from orderopt.orders import random_orders
from orderopt.presets import get_preset
from orderopt.profiling import config_from_preset, profile
from orderopt.studies._spec import StudySpec
from orderopt.tasks import Task

__all__ = ["Probe", "calibrated_steps", "read_probes", "is_flat", "STEPS_ATTR", "PROBE_ORDERS", "FLAT_SPREAD"]

STEPS_ATTR = "orderopt:profile_steps"
PROBE_ORDERS = 64  # a round of 64 orders costs about one order's round (profiling_throughput.md)
FLAT_SPREAD = 0.05  # (median - best) / median below this: no order has started to learn faster
PROBE_SEED_OFFSET = 7919  # the probe's orders and training seed: not those of the first round


@dataclass
class Probe:
    """One probe profile: its steps, the best and median loss of its orders, and its cost."""

    steps: int
    best: float
    median: float
    seconds: float

    @property
    def spread(self) -> float:
        """How far the best order is below the median, relative to the median."""
        return (self.median - self.best) / self.median if self.median > 0 else 0.0


def is_flat(scores: np.ndarray) -> bool:
    """True when no order's loss has fallen clearly below the others' (see ``FLAT_SPREAD``).

    >>> is_flat(np.array([1.95, 1.94, 1.96, 1.95]))
    True
    >>> is_flat(np.array([0.01, 0.4, 0.5, 0.6]))
    False
    """
    median = float(np.median(scores))
    return median <= 0 or (median - float(np.min(scores))) / median < FLAT_SPREAD


def read_probes(study: optuna.Study) -> tuple[int | None, list[Probe]]:
    """The calibrated steps of ``study`` (``None`` before calibration) and its probes."""
    stored = study.user_attrs.get(STEPS_ATTR)
    if not stored:
        return None, []
    return int(stored["steps"]), [Probe(**p) for p in stored["probes"]]


def calibrated_steps(study: optuna.Study, task: Task, spec: StudySpec, device: str | None = None, *,
                     max_doublings: int | None = None, progress: bool = True, on_probe=None) -> int:
    """The profile steps of ``study``: ``spec.steps`` when given, else the stored calibration,
    else a new calibration (stored; ``max_doublings`` defaults to the preset's
    ``profile_doublings``). ``on_probe(probe)`` is called after every probe."""
    if spec.steps is not None:
        return spec.steps
    stored, _ = read_probes(study)
    if stored is not None:
        return stored
    preset = get_preset(spec.preset)
    steps = preset.profile_train.total_steps()
    max_doublings = preset.profile_doublings if max_doublings is None else max_doublings
    if max_doublings < 1:  # nothing to choose: no probe
        study.set_user_attr(STEPS_ATTR, {"steps": steps, "probes": []})
        return steps
    orders = random_orders(task.length, min(PROBE_ORDERS, math.factorial(task.length)), spec.seed + PROBE_SEED_OFFSET)
    probes: list[Probe] = []
    splits = None
    for _ in range(max_doublings + 1):
        config = config_from_preset(preset, signal=spec.signal, steps=steps, val_per_order=spec.val_per_order,
                                    seed=spec.seed + PROBE_SEED_OFFSET, device=device)
        if splits is None:
            tc = config.train
            splits = task.splits(tc.n_train, max(tc.n_val, config.val_per_order), tc.n_test, seed=tc.seed)
        t0 = time.perf_counter()
        result = profile(task, orders, config, splits=splits, progress=progress)
        probe = Probe(steps, float(np.min(result.scores)), float(np.median(result.scores)), time.perf_counter() - t0)
        probes.append(probe)
        if on_probe:
            on_probe(probe)
        if not is_flat(result.scores) or (len(probes) > 1 and probe.spread <= probes[-2].spread):
            break  # informative, or longer training stopped helping
        steps *= 2
    best = max(probes, key=lambda p: (p.spread, -p.steps))
    steps = best.steps
    if best.spread < FLAT_SPREAD:
        warnings.warn(f"the profile of {task.name} L={task.length} is flat at every probed length (widest spread "
                      f"{100 * best.spread:.1f}% at {steps} steps): the search may rank noise; a larger preset may "
                      "separate the orders", stacklevel=2)
    study.set_user_attr(STEPS_ATTR, {"steps": steps, "probes": [asdict(p) for p in probes]})
    return steps
