"""How long a full training runs: fixed, or as long as the task needs within a budget.

A preset's step count fits the tasks it was measured on. A user's task may need more (its
friendly order leaves the loss plateau late) or less (it is solved in a tenth of the steps). An
*adaptive* run therefore keeps the preset's warmup, peak learning rate and decay length, but

* ends at once when every validation row is right (teacher-forced exact match 1.0, which is the
  greedy exact match: a model whose every next-token prediction is right decodes the row);
* at the point where the preset's schedule would begin its decay, looks back one window: while
  the validation loss still fell by at least ``extend_gain`` (relative) over it, the peak learning
  rate is held one more checkpoint interval and the question is asked again, up to ``max_steps``
  (default :data:`EXTEND_FACTOR` times the preset's steps) and ``budget_minutes``;
* then decays over the preset's decay length and ends.

A run that is not extended follows exactly the preset's schedule. The rule's constants are a
first choice, checked on the user tasks' trainings (``benchmarks/results/user_tasks/``) and the
main job; ``benchmarks/adaptive_budget.py`` compares them with fixed runs.

No torch here: the training loop asks :class:`RunLength` for each step's learning rate and tells
it each checkpoint's validation loss and exact match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["RunLength", "STOP_REASONS", "EXTEND_FACTOR", "checkpoint_interval", "checkpoint_steps"]

EXTEND_FACTOR = 4  # an adaptive run may go on to this many times the preset's steps by default

STOP_REASONS = {
    "fixed": "ran the steps asked for",
    "solved": "every validation row right",
    "settled": "validation loss stopped falling; decayed and ended",
    "max-steps": "reached --max-steps while the loss still fell",
    "time": "reached --budget-minutes",
}


def checkpoint_steps(total: int, n: int) -> list[int]:
    """``n`` roughly even steps in ``1..total``, always ending at ``total``."""
    return sorted({max(1, round(total * (i + 1) / n)) for i in range(n)})


def checkpoint_interval(total: int, checkpoints: int) -> int:
    """Steps between validation checkpoints of a run planned for ``total`` steps."""
    return max(1, round(total / max(1, checkpoints)))


@dataclass
class RunLength:
    """The learning rate at each step and when to stop, for one full training (see the module
    docstring). ``nominal`` is the preset's step count; ``end`` moves when the run is extended
    or stopped early."""

    lr: float
    nominal: int
    warmup: int = 0
    hold_fraction: float = 0.0
    checkpoints: int = 10
    adaptive: bool = False
    max_steps: int | None = None
    budget_minutes: float | None = None
    extend_gain: float = 0.1
    extend_window: float = 0.2  # look-back window, as a share of ``nominal``
    end: int = field(init=False)
    decay_start: int = field(init=False)
    decay_len: int = field(init=False)
    reason: str | None = field(init=False, default=None)
    committed: bool = field(init=False, default=False)  # the decay's start is decided
    _seconds: float = field(init=False, default=0.0, repr=False)
    curve: list[tuple[int, float]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.end = self.nominal
        self.decay_start = self.warmup + int(self.hold_fraction * (self.nominal - self.warmup))
        self.decay_len = self.nominal - self.decay_start
        self.interval = checkpoint_interval(self.nominal, self.checkpoints)
        self._marks = set(checkpoint_steps(self.nominal, self.checkpoints))
        self.cap = self.nominal if not self.adaptive else int(self.max_steps or EXTEND_FACTOR * self.nominal)
        if not self.adaptive:
            self.reason, self.committed = "fixed", True
        elif self.cap < self.nominal:  # a budget below the preset's steps: the same schedule, squeezed
            self.end = self.cap
            self.decay_start = self.warmup + int(self.hold_fraction * (self.cap - self.warmup))
            self.decay_len = self.cap - self.decay_start

    @classmethod
    def of(cls, config) -> RunLength:
        """The run length of a :class:`~orderopt.engine.TrainConfig`."""
        return cls(lr=config.lr, nominal=config.total_steps(), warmup=config.warmup_steps,
                   hold_fraction=config.hold_fraction, checkpoints=config.checkpoints, adaptive=config.adaptive,
                   max_steps=config.max_steps, budget_minutes=config.budget_minutes, extend_gain=config.extend_gain,
                   extend_window=config.extend_window)

    def lr_at(self, step: int) -> float:
        """Linear warmup, the peak until the decay starts, then linear decay to 0 at ``end``."""
        if self.warmup and step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        if step < self.decay_start:
            return self.lr
        span = max(1, self.end - self.decay_start)
        return self.lr * max(0.0, 1.0 - (step - self.decay_start) / span)

    def is_checkpoint(self, step: int) -> bool:
        """Validate after ``step`` steps: the preset's checkpoints, every interval beyond them, and
        at the end."""
        return step in self._marks or step == self.end or (step > self.nominal and (step - self.nominal) % self.interval == 0)

    def checkpoint(self, step: int, loss: float, exact: float, seconds: float) -> bool:
        """Record a checkpoint (validation loss, validation exact match, seconds so far); ``True``
        when the run should stop now."""
        self.curve.append((step, loss))
        self._seconds = seconds
        if not self.adaptive:
            return step >= self.end
        if exact >= 1.0:
            self.reason, self.end = "solved", step
            return True
        if step >= self.end:
            self.reason = self.reason or "settled"
            return True
        if not self.committed and (step + self.interval > self.decay_start or not self._fits_time(step, step)):
            self._decide(step, seconds)
        return False

    def _fits_time(self, step: int, decay_from: int, seconds: float | None = None) -> bool:
        """Would a decay from ``decay_from`` end within ``budget_minutes``, at the pace so far?"""
        if self.budget_minutes is None or not step:
            return True
        pace = (seconds if seconds is not None else self._seconds) / step
        return pace * (decay_from + self.decay_len) <= 60.0 * self.budget_minutes

    def _decide(self, step: int, seconds: float) -> None:
        """At the last checkpoint before the decay: hold the peak one more interval while the loss
        still falls and the budget allows, else let the decay begin (where the preset's schedule
        begins it, or now if that point has passed)."""
        nxt = step + self.interval
        falling = self.falling(step)
        fits_steps = nxt + self.decay_len <= self.cap
        fits_time = self._fits_time(step, nxt, seconds)
        if falling and fits_steps and fits_time:
            self.decay_start, self.end = nxt, nxt + self.decay_len
            return
        self.committed = True
        self.reason = "max-steps" if falling and not fits_steps else "time" if not fits_time else "settled"
        if self.reason == "time" and self.decay_start > step:  # out of time: decay now, as long as time allows
            length = max(1, min(self.decay_len, int(60.0 * self.budget_minutes * step / max(seconds, 1e-9)) - step))
            self.decay_start, self.end = step, step + length

    def falling(self, step: int) -> bool:
        """The validation loss fell by ``extend_gain`` (relative) or more over the last window."""
        window = max(self.interval, round(self.extend_window * self.nominal))
        earlier = [loss for s, loss in self.curve if s <= step - window]
        if not earlier or not math.isfinite(self.curve[-1][1]):
            return False
        before, now = earlier[-1], self.curve[-1][1]
        return before > 0 and (before - now) / before >= self.extend_gain

    def describe(self) -> str:
        """``1,234 steps (solved: every validation row right)``."""
        reason = self.reason or "settled"
        return f"{self.end:,} steps ({reason}: {STOP_REASONS[reason]})"
