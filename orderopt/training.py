"""Training a GPT on one generation order, and measuring exact-match success.

Orders are applied on the fly (``torch.gather`` of the canonical targets), so the same tensors
serve any order or mixture of orders without copies of the dataset.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from orderopt.errors import ConfigError
from orderopt.model import GPT, GPTConfig
from orderopt.orders import Order, validate_order
from orderopt.tasks import Splits, Task

__all__ = [
    "TrainConfig",
    "TrainResult",
    "SuccessReport",
    "pick_device",
    "autocast",
    "seed_everything",
    "make_batch",
    "sequence_losses",
    "make_model",
    "train",
    "success_rate",
    "lr_at",
]


@dataclass
class TrainConfig:
    """How long and how to train. ``steps`` (when set) overrides ``epochs``."""

    steps: int | None = None
    epochs: float = 1.0
    batch_size: int = 128
    lr: float = 1e-3
    warmup_steps: int = 0
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    n_train: int = 100_000
    n_val: int = 1_000
    n_test: int = 1_000
    checkpoints: int = 10
    seed: int = 0
    device: str = "auto"

    def total_steps(self) -> int:
        if self.steps is not None:
            return int(self.steps)
        return max(1, math.ceil(self.epochs * self.n_train / self.batch_size))

    def check(self) -> TrainConfig:
        for name in ("batch_size", "n_train", "n_val", "n_test", "checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        return self


@dataclass
class TrainResult:
    model: GPT
    order: Order
    curve: list[tuple[int, float]]  # (step, validation loss) at each checkpoint
    steps: int
    seconds: float
    device: str
    splits: Splits = field(repr=False)


@dataclass
class SuccessReport:
    """Exact match over all ``L`` targets, and accuracy by canonical position ``y_i``."""

    success_rate: float
    position_accuracy: list[float]
    n: int


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


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


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


def sequence_losses(model: GPT, x: torch.Tensor, y: torch.Tensor, orders: torch.Tensor) -> torch.Tensor:
    """Per-row mean cross-entropy over the ``L`` targets, shape ``(B,)``."""
    inp, labels, tidx = make_batch(x, y, orders, model.config.vocab_size)
    logits, _ = model(inp, target_index=tidx)
    n_in = x.shape[1]
    tl = logits[:, n_in:].float()
    ce = F.cross_entropy(tl.flatten(0, 1), labels[:, n_in:].flatten(), reduction="none")
    return ce.view(x.shape[0], -1).mean(dim=1)


def make_model(task: Task, shape, *, target_index: bool = False) -> GPT:
    """A fresh GPT sized for ``task`` with the layer sizes of ``shape`` (a ``ModelShape``)."""
    config = GPTConfig(
        vocab_size=task.vocab_size,
        block_size=task.input_length + task.length,
        length=task.length,
        n_layer=shape.n_layer,
        n_head=shape.n_head,
        n_embd=shape.n_embd,
        ffn=shape.ffn,
        dropout=shape.dropout,
        target_index=target_index,
    )
    return GPT(config)


def lr_at(step: int, config: TrainConfig, total: int) -> float:
    """Linear warmup then linear decay to 0."""
    if config.warmup_steps and step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, total - config.warmup_steps)
    return config.lr * max(0.0, 1.0 - (step - config.warmup_steps) / span)


def _optimizer(model: GPT, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=device.type == "cuda")


def checkpoint_steps(total: int, n: int) -> list[int]:
    """``n`` roughly even steps in ``1..total``, always ending at ``total``."""
    return sorted({max(1, round(total * (i + 1) / n)) for i in range(n)})


class BatchStream:
    """Row indices of training batches: a fresh permutation of the rows every epoch."""

    def __init__(self, n_rows: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size = n_rows, batch_size
        self.rng = np.random.default_rng([seed, 0xBA7C])
        self.perm, self.cursor = self.rng.permutation(n_rows), 0
        self.epoch_started = True

    def next(self) -> np.ndarray:
        self.epoch_started = self.cursor + self.batch_size > self.n
        if self.epoch_started:
            self.perm, self.cursor = self.rng.permutation(self.n), 0
        rows = self.perm[self.cursor:self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return rows


def optimizer_step(
    model: GPT, opt: torch.optim.Optimizer, config: TrainConfig, step: int, total: int,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], device: torch.device,
) -> torch.Tensor:
    """One AdamW step at ``step`` of ``total`` (scheduled LR, autocast, gradient clipping)."""
    for group in opt.param_groups:
        group["lr"] = lr_at(step, config, total)
    inp, labels, tidx = batch
    with autocast(device):
        _, loss = model(inp, labels, tidx)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    opt.step()
    return loss


@torch.no_grad()
def _validation_loss(model: GPT, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor, device: torch.device) -> float:
    model.eval()
    total = 0.0
    for i in range(0, len(x), 1024):
        with autocast(device):
            total += float(sequence_losses(model, x[i:i + 1024], y[i:i + 1024], order).sum())
    model.train()
    return total / len(x)


def train(
    task: Task,
    order: Sequence[int],
    shape,
    config: TrainConfig,
    *,
    splits: Splits | None = None,
    progress: bool = True,
    on_checkpoint: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a fresh model to emit ``task``'s targets in ``order``; returns it with its loss curve."""
    config.check()
    order = validate_order(order, task.length)
    device = pick_device(config.device)
    seed_everything(config.seed)
    splits = splits or task.splits(config.n_train, config.n_val, config.n_test, seed=config.seed)
    model = make_model(task, shape).to(device)
    opt = _optimizer(model, config, device)
    x_tr = torch.as_tensor(splits.x_train, device=device)
    y_tr = torch.as_tensor(splits.y_train, device=device)
    x_va = torch.as_tensor(splits.x_val, device=device)
    y_va = torch.as_tensor(splits.y_val, device=device)
    order_t = torch.as_tensor(order, device=device)
    total = config.total_steps()
    marks = set(checkpoint_steps(total, config.checkpoints))
    stream = BatchStream(len(x_tr), config.batch_size, config.seed)
    curve: list[tuple[int, float]] = []
    start = time.perf_counter()
    bar = tqdm(total=total, desc=f"train {task.name} L={task.length}", disable=not progress, leave=False)
    model.train()
    for step in range(total):
        idx = torch.as_tensor(stream.next(), device=device)
        batch = make_batch(x_tr[idx], y_tr[idx], order_t, task.vocab_size)
        optimizer_step(model, opt, config, step, total, batch, device)
        bar.update(1)
        if step + 1 in marks:
            val = _validation_loss(model, x_va, y_va, order_t, device)
            curve.append((step + 1, val))
            bar.set_postfix(val_loss=f"{val:.3f}")
            if on_checkpoint:
                on_checkpoint(step + 1, val)
    bar.close()
    model.eval()
    return TrainResult(model, order, curve, total, time.perf_counter() - start, str(device), splits)


@torch.no_grad()
def greedy_decode(model: GPT, x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Generate ``L`` targets in ``order`` greedily; returns them in generation order ``(B, L)``."""
    B = x.shape[0]
    L = order.shape[-1]
    cfg = model.config
    orders = order.unsqueeze(0).expand(B, L) if order.dim() == 1 else order
    seq = torch.cat([x, torch.full((B, 1), cfg.vocab_size, dtype=x.dtype, device=x.device)], dim=1)
    n_in = x.shape[1]
    none = torch.full((B, n_in), L, dtype=orders.dtype, device=x.device)
    tidx_full = torch.cat([none, orders], dim=1)
    for t in range(L):
        with autocast(x.device):
            logits, _ = model(seq, target_index=tidx_full[:, : seq.shape[1]])
        nxt = logits[:, -1].argmax(dim=-1, keepdim=True).to(x.dtype)
        seq = torch.cat([seq, nxt], dim=1)
    return seq[:, n_in + 1:]


@torch.no_grad()
def success_rate(
    model: GPT, x: np.ndarray, y: np.ndarray, order: Sequence[int], *, batch_size: int = 1024
) -> SuccessReport:
    """Exact-match rate (all ``L`` targets right) and per-position accuracy, by greedy decoding."""
    model.eval()
    device = next(model.parameters()).device
    order = validate_order(order, y.shape[1])
    order_t = torch.as_tensor(order, device=device)
    hits = np.zeros(y.shape[1], dtype=np.int64)
    exact = 0
    for i in range(0, len(x), batch_size):
        xb = torch.as_tensor(x[i:i + batch_size], device=device)
        yb = torch.as_tensor(y[i:i + batch_size], device=device)
        pred = greedy_decode(model, xb, order_t)
        right = pred == yb[:, order_t]
        exact += int(right.all(dim=1).sum())
        hits[list(order)] += right.sum(dim=0).cpu().numpy()
    n = len(x)
    return SuccessReport(exact / n, (hits / n).tolist(), n)


def with_overrides(config: TrainConfig, **overrides) -> TrainConfig:
    """``config`` with the non-``None`` overrides applied."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
