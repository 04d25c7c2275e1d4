"""Full training of a GPT on one generation order, and exact-match success by greedy decoding.

Orders are applied on the fly (``torch.gather`` of the canonical targets), so the same tensors
serve any order or mixture of orders without copies of the dataset. The training core (batches,
loss, optimizer, schedule) lives in :mod:`orderopt.engine` and is shared with loss profiling.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from orderopt.engine import (
    BatchStream,
    DeviceSplits,
    TrainConfig,
    autocast,
    make_batch,
    make_model,
    make_optimizer,
    optimizer_step,
    pick_device,
    seed_everything,
    target_losses,
)
from orderopt.budget import STOP_REASONS, RunLength
from orderopt.model import GPT, ModelShape
from orderopt.orders import Order, validate_order
from orderopt.tasks import Splits, Task

__all__ = [
    "TrainConfig",
    "TrainResult",
    "SuccessReport",
    "train",
    "success_rate",
    "greedy_decode",
    "with_overrides",
    "pick_device",
    "save_checkpoint",
    "load_checkpoint",
]


@dataclass
class TrainResult:
    """A trained model with its validation curve, where and how long it trained, and why it
    stopped (:data:`orderopt.budget.STOP_REASONS`)."""

    model: GPT
    order: Order
    curve: list[tuple[int, float]]  # (step, validation loss) at each checkpoint
    steps: int
    seconds: float
    device: str
    splits: Splits = field(repr=False)
    stop_reason: str = "fixed"

    def stopped(self) -> str:
        """``1,234 steps (solved: every validation row right)``."""
        return f"{self.steps:,} steps ({self.stop_reason}: {STOP_REASONS[self.stop_reason]})"


@dataclass
class SuccessReport:
    """Exact match over all ``L`` targets, and accuracy by canonical position ``y_i``."""

    success_rate: float
    position_accuracy: list[float]
    n: int


@torch.no_grad()
def _validate(model: GPT, data: DeviceSplits, order: torch.Tensor) -> tuple[float, float]:
    """Validation loss and exact match. Teacher-forced: a row whose every next token is the
    argmax is also what greedy decoding produces, so this is the greedy exact match, at the cost
    of one forward pass."""
    model.eval()
    total, exact = 0.0, 0
    for i in range(0, len(data.x_val), 1024):
        x, y = data.x_val[i:i + 1024], data.y_val[i:i + 1024]
        inp, labels, tidx = make_batch(x, y, order, model.config.vocab_size)
        with autocast(data.device):
            logits, _ = model(inp, target_index=tidx)
        n_in = x.shape[1]
        total += float(target_losses(logits, labels, n_in).mean(dim=1).sum())
        exact += int((logits[:, n_in:].argmax(dim=-1) == labels[:, n_in:]).all(dim=1).sum())
    model.train()
    return total / len(data.x_val), exact / len(data.x_val)


def train(
    task: Task,
    order: Sequence[int],
    shape: ModelShape,
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
    opt = make_optimizer(model.parameters(), config, device)
    data = DeviceSplits(splits, device)
    order_t = torch.as_tensor(order, device=device)
    plan = RunLength.of(config)
    stream = BatchStream(len(data.x_train), config.batch_size, config.seed)
    start = time.perf_counter()
    bar = tqdm(total=plan.end, desc=f"train {task.name} L={task.length}", disable=not progress, leave=False)
    model.train()
    step = 0
    while step < plan.end:
        idx = torch.as_tensor(stream.next(), device=device)
        batch = make_batch(data.x_train[idx], data.y_train[idx], order_t, task.vocab_size)
        optimizer_step(model, opt, config, plan.lr_at(step), batch, device)
        step += 1
        bar.update(1)
        if plan.is_checkpoint(step):
            val, exact = _validate(model, data, order_t)
            stop = plan.checkpoint(step, val, exact, time.perf_counter() - start)
            bar.total = plan.end
            bar.set_postfix(val_loss=f"{val:.3f}", exact=f"{exact:.2f}")
            if on_checkpoint:
                on_checkpoint(step, val)
            if stop:
                break
    bar.close()
    model.eval()
    return TrainResult(model, order, list(plan.curve), step, time.perf_counter() - start, str(device), splits,
                       plan.reason or "settled")


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
    target_index = torch.cat([none, orders], dim=1)
    for _ in range(L):
        with autocast(x.device):
            logits, _ = model(seq, target_index=target_index[:, : seq.shape[1]])
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


def save_checkpoint(result: TrainResult, task: Task, shape: ModelShape, config: TrainConfig, path: str | Path,
                    *, success: float | None = None) -> Path:
    """Save a trained model as one ``torch.save`` file: weights, model config, the task spec, the
    order, the training config and curve (and the exact-match success when known), so that
    :func:`load_checkpoint` rebuilds the model without anything else."""
    return _write_checkpoint(result.model, checkpoint_meta(result, task, shape, config, success), Path(path))


def _write_checkpoint(model: GPT, meta: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "model_config": asdict(model.config), "meta": meta}, path)
    return path


def checkpoint_meta(result: TrainResult, task: Task, shape: ModelShape, config: TrainConfig,
                    success: float | None = None) -> dict:
    """What a saved model was trained on and how (JSON-serialisable)."""
    return {"task": task.spec(), "order": list(result.order), "model": asdict(shape), "train": asdict(config),
            "curve": [list(c) for c in result.curve], "steps": result.steps, "stop_reason": result.stop_reason,
            "seconds": result.seconds, "device": result.device, "success": success}


def load_checkpoint(path, device: str | None = "cpu") -> tuple[GPT, dict]:
    """The model saved by :func:`save_checkpoint` (in eval mode) and its metadata; ``path`` may
    also be an open binary file (e.g. an artifact downloaded from the dashboard)."""
    from orderopt.model import GPTConfig

    source = path if hasattr(path, "read") else Path(path)
    saved = torch.load(source, map_location=pick_device(device), weights_only=True)
    model = GPT(GPTConfig(**saved["model_config"]))
    model.load_state_dict(saved["state_dict"])
    return model.eval(), saved["meta"]


def write_output_dir(result: TrainResult, task: Task, shape: ModelShape, config: TrainConfig, directory: str | Path,
                     success: float | None = None) -> Path:
    """``directory/model.pt`` (see :func:`save_checkpoint`) plus its metadata as readable JSON."""
    directory = Path(directory)
    meta = checkpoint_meta(result, task, shape, config, success)
    _write_checkpoint(result.model, meta, directory / "model.pt")
    (directory / "config.json").write_text(json.dumps(meta, indent=2))
    return directory
