"""The training core shared by full training (:mod:`orderopt.training`) and every profiling mode
(:mod:`orderopt.profiling`): device and seeds, batches with orders applied on the fly, the loss on
target positions, the optimizer, the learning-rate schedule and one optimizer step.

Keeping these in one place is what makes a profile score and a full training comparable: both
see the same batches, the same loss and the same schedule for the same seed.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from orderopt.budget import RunLength, checkpoint_steps
from orderopt.errors import ConfigError
from orderopt.model import GPT, GPTConfig, ModelShape
from orderopt.tasks import Splits, Task

__all__ = [
    "request_stop",
    "clear_stop",
    "TrainConfig",
    "DeviceSplits",
    "BatchStream",
    "pick_device",
    "autocast",
    "seed_everything",
    "make_batch",
    "target_losses",
    "sequence_losses",
    "make_model",
    "make_optimizer",
    "lr_at",
    "fixed_schedule",
    "set_lr",
    "optimizer_step",
    "checkpoint_steps",
]

_STREAM_SALT = 0xBA7C  # seeds the batch stream apart from data generation and initialisation


@dataclass
class TrainConfig:
    """How long and how to train. ``steps`` (when set) overrides ``epochs``."""

    steps: int | None = None
    epochs: float = 1.0
    batch_size: int = 128
    lr: float = 1e-3
    warmup_steps: int = 0
    # share of the steps after warmup held at the peak LR before the linear decay to 0
    # (warmup-stable-decay); 0 decays from the end of warmup
    hold_fraction: float = 0.0
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    n_train: int = 100_000
    n_val: int = 1_000
    n_test: int = 1_000
    checkpoints: int = 10
    seed: int = 0
    device: str = "auto"
    # full training only (see orderopt.budget): stop once solved, go on past ``steps`` while the
    # validation loss still falls, up to ``max_steps`` (default 4 x steps) or ``budget_minutes``
    adaptive: bool = False
    max_steps: int | None = None
    budget_minutes: float | None = None
    extend_gain: float = 0.1
    extend_window: float = 0.2

    def total_steps(self) -> int:
        """Optimizer steps of the whole run."""
        if self.steps is not None:
            return int(self.steps)
        return max(1, math.ceil(self.epochs * self.n_train / self.batch_size))

    def check(self) -> TrainConfig:
        """Raise :class:`ConfigError` for values no run can use (NaN and infinity included)."""
        for name in ("batch_size", "n_train", "n_val", "n_test", "checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a finite number > 0, got {self.lr}")
        if not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ConfigError(f"epochs must be a finite number > 0, got {self.epochs}")
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0.0 <= self.hold_fraction < 1.0:
            raise ConfigError(f"hold_fraction is a share of the steps in [0, 1), got {self.hold_fraction}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.budget_minutes is not None and not (math.isfinite(self.budget_minutes) and self.budget_minutes > 0):
            raise ConfigError(f"budget_minutes must be a positive number of minutes, got {self.budget_minutes}")
        if not (0.0 < self.extend_gain < 1.0 and 0.0 < self.extend_window <= 1.0):
            raise ConfigError("extend_gain must be in (0, 1) and extend_window in (0, 1]")
        return self


def pick_device(device: str | None = "auto") -> torch.device:
    """CUDA when available (``auto``), else CPU; an explicit name is honoured."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device} requested but CUDA is not available; use --device cpu")
    return dev


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; full precision on CPU (reproducible scores)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), Python's and numpy's global generators. orderopt's own data and
    batch streams use explicit numpy generators; this covers model initialisation and dropout."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


class DeviceSplits:
    """Train and validation tensors of one task's splits on the device (test stays in numpy:
    :func:`orderopt.training.success_rate` moves it in batches)."""

    def __init__(self, splits: Splits, device: torch.device, *, n_val: int | None = None) -> None:
        v = len(splits.x_val) if n_val is None else min(n_val, len(splits.x_val))
        self.x_train = torch.as_tensor(splits.x_train, device=device)
        self.y_train = torch.as_tensor(splits.y_train, device=device)
        self.x_val = torch.as_tensor(splits.x_val[:v], device=device)
        self.y_val = torch.as_tensor(splits.y_val[:v], device=device)
        self.device = device


class BatchStream:
    """Row indices of training batches: a fresh permutation of the rows every epoch (the tail
    that does not fill a batch is skipped). With ``active`` orders (mixture profiling) every row
    also gets one order, balanced across the active orders and re-drawn every epoch."""

    def __init__(self, n_rows: int, batch_size: int, seed: int, active: Sequence[int] | None = None) -> None:
        self.n, self.batch_size = n_rows, batch_size
        self.rng = np.random.default_rng([seed, _STREAM_SALT])
        self.active = list(active) if active is not None else None
        self._new_epoch()

    def _new_epoch(self) -> None:
        self.perm, self.cursor = self.rng.permutation(self.n), 0
        if self.active is not None:
            self.assign = self._balanced(self.n)

    def _balanced(self, size: int) -> np.ndarray:
        reps = np.tile(np.asarray(self.active), math.ceil(size / len(self.active)))[:size]
        return self.rng.permutation(reps)

    def next(self) -> np.ndarray:
        """The next batch's row indices."""
        if self.cursor + self.batch_size > self.n:
            self._new_epoch()
        rows = self.perm[self.cursor:self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return rows

    def next_with_orders(self) -> tuple[np.ndarray, np.ndarray]:
        """The next batch's row indices and the index of the order each row is trained on."""
        start = self.cursor if self.cursor + self.batch_size <= self.n else 0
        rows = self.next()
        return rows, self.assign[start:start + self.batch_size]

    def set_active(self, active: Sequence[int]) -> None:
        """Orders were dropped: the rest of this epoch is re-balanced over the remaining ones."""
        self.active = list(active)
        rest = self.n - self.cursor
        if rest > 0:
            self.assign[self.cursor:] = self._balanced(rest)


def make_batch(
    x: torch.Tensor, y: torch.Tensor, orders: torch.Tensor, sep: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Model input, labels (``-1`` outside the targets) and target indices for a batch.

    ``orders`` is ``(L,)`` (one order for all rows) or ``(B, L)`` (one order per row).
    """
    B, n_in = x.shape
    L = y.shape[1]
    if orders.dim() == 1:
        orders = orders.unsqueeze(0).expand(B, L)
    y_ordered = torch.gather(y, 1, orders)
    sep_col = torch.full((B, 1), sep, dtype=x.dtype, device=x.device)
    inp = torch.cat([x, sep_col, y_ordered[:, :-1]], dim=1)
    labels = torch.cat([torch.full((B, n_in), -1, dtype=x.dtype, device=x.device), y_ordered], dim=1)
    none = torch.full((B, n_in), L, dtype=orders.dtype, device=x.device)
    target_index = torch.cat([none, orders], dim=1)
    return inp, labels, target_index


def target_losses(logits: torch.Tensor, labels: torch.Tensor, n_in: int) -> torch.Tensor:
    """Cross-entropy at every target position, shape ``(B, L)`` (generation order)."""
    tl = logits[:, n_in:].float()
    ce = F.cross_entropy(tl.flatten(0, 1), labels[:, n_in:].flatten(), reduction="none")
    return ce.view(logits.shape[0], -1)


def sequence_losses(model: GPT, x: torch.Tensor, y: torch.Tensor, orders: torch.Tensor) -> torch.Tensor:
    """Per-row mean cross-entropy over the ``L`` targets, shape ``(B,)``."""
    inp, labels, tidx = make_batch(x, y, orders, model.config.vocab_size)
    logits, _ = model(inp, target_index=tidx)
    return target_losses(logits, labels, x.shape[1]).mean(dim=1)


def make_model(task: Task, shape: ModelShape, *, target_index: bool = False) -> GPT:
    """A fresh GPT sized for ``task`` with the layer sizes of ``shape``."""
    return GPT(GPTConfig(
        vocab_size=task.vocab_size, block_size=task.input_length + task.length, length=task.length,
        n_layer=shape.n_layer, n_head=shape.n_head, n_embd=shape.n_embd, ffn=shape.ffn, dropout=shape.dropout,
        target_index=target_index,
    ))


def make_optimizer(params: Sequence[torch.nn.Parameter], config: TrainConfig, device: torch.device, *,
                   matrix_dim: int = 2) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (``dim >= matrix_dim``; stacked models use 3)."""
    params = list(params)
    groups = [{"params": [p for p in params if p.dim() >= matrix_dim], "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.dim() < matrix_dim], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=device.type == "cuda")


def lr_at(step: int, config: TrainConfig, total: int) -> float:
    """The fixed schedule's learning rate at ``step`` of ``total`` (see :class:`RunLength`)."""
    return fixed_schedule(config, total).lr_at(step)


def fixed_schedule(config: TrainConfig, total: int) -> RunLength:
    """Linear warmup, the peak held for a share ``hold_fraction`` of the rest, then linear decay to
    0 at ``total`` (profiles, and full trainings that are not adaptive)."""
    return RunLength(lr=config.lr, nominal=total, warmup=config.warmup_steps, hold_fraction=config.hold_fraction,
                     checkpoints=config.checkpoints)


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """Apply one learning rate to every parameter group."""
    for group in opt.param_groups:
        group["lr"] = lr



_STOP = threading.Event()


def request_stop() -> None:
    """Make the next training step raise ``KeyboardInterrupt``. The CLI's Ctrl-C handler calls
    it beside raising at once, because CPython swallows an exception raised by a signal handler
    that happens to run inside a weakref callback: the interrupt then still arrives here."""
    _STOP.set()


def clear_stop() -> None:
    """Forget a stop request (the CLI calls it when a command ends inside a Python process)."""
    _STOP.clear()


def optimizer_step(
    model: GPT, opt: torch.optim.Optimizer, config: TrainConfig, lr: float,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], device: torch.device,
) -> torch.Tensor:
    """One AdamW step at learning rate ``lr`` (autocast, gradient clipping)."""
    if _STOP.is_set():
        raise KeyboardInterrupt
    set_lr(opt, lr)
    inp, labels, tidx = batch
    with autocast(device):
        _, loss = model(inp, labels, tidx)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    opt.step()
    return loss
