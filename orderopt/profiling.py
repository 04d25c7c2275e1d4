"""Loss profiling: score candidate orders by their validation loss after a short training run.

Learning-friendly orders make the loss drop faster early in training (Sato, Kawamoto, Kera,
arXiv 2506.23875), so a short run ranks them. Three modes share one data pipeline (orders are
applied on the fly with a gather; no per-order copy of the data):

* ``mixture``: one model trains on all candidate orders at once; every training sample carries
  one order (balanced across the active orders, re-drawn each epoch). With ``signal="index"``
  the model is told, at each step, which canonical position it must emit next (the
  target-index embedding); with ``signal="none"`` it is not (the paper's literal reading).
* ``separate``: one independent short run per order (same data, same seed): the baseline.
* ``batched``: the ``separate`` runs stacked into one vectorised model (``torch.func``), for
  accelerator throughput; same ranking as ``separate`` up to floating-point noise.

Every order is scored on the *same* validation samples. At each checkpoint a hook may drop
orders: they leave the mixture and keep their last score (successive halving inside a run).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from orderopt.errors import ConfigError, InvalidOrderError
from orderopt.model import GPT
from orderopt.orders import Order, format_order, validate_order
from orderopt.tasks import Splits, Task
from orderopt.training import (
    BatchStream,
    TrainConfig,
    _optimizer,
    autocast,
    checkpoint_steps,
    lr_at,
    make_batch,
    make_model,
    optimizer_step,
    pick_device,
    seed_everything,
    sequence_losses,
)

__all__ = ["ProfileConfig", "ProfileResult", "profile", "MODES", "SIGNALS", "CheckpointHook"]

MODES = ("mixture", "separate", "batched")
SIGNALS = ("index", "none")

# hook(step, {order: current validation loss of every active order}) -> orders to drop
CheckpointHook = Callable[[int, dict[Order, float]], Iterable[Sequence[int]] | None]


@dataclass
class ProfileConfig:
    """A profiling run. ``train`` and ``model`` come from a preset's profile model by default;
    ``val_per_order`` validation samples (the same for every order) score each order."""

    train: TrainConfig
    model: object  # presets.ModelShape
    mode: str = "mixture"
    signal: str = "index"
    val_per_order: int = 128
    eval_batch_rows: int = 8192

    def check(self) -> ProfileConfig:
        if self.mode not in MODES:
            raise ConfigError(f"unknown profiling mode {self.mode!r}; use one of {', '.join(MODES)}")
        if self.signal not in SIGNALS:
            raise ConfigError(f"unknown signal {self.signal!r}; use one of {', '.join(SIGNALS)}")
        if self.val_per_order < 1:
            raise ConfigError(f"val_per_order must be >= 1, got {self.val_per_order}")
        self.train.check()
        return self


@dataclass
class ProfileResult:
    orders: list[Order]
    scores: np.ndarray  # (T,) last validation loss of each order (lower = friendlier)
    steps: list[int]  # checkpoint steps
    curves: np.ndarray  # (len(steps), T); NaN once an order was dropped
    dropped_at: dict[Order, int] = field(default_factory=dict)
    seconds: float = 0.0
    mode: str = "mixture"
    device: str = "cpu"

    def ranking(self) -> list[tuple[int, Order, float]]:
        """``(rank, order, score)`` best first; ties broken by the order itself."""
        idx = sorted(range(len(self.orders)), key=lambda i: (self.scores[i], self.orders[i]))
        return [(r + 1, self.orders[i], float(self.scores[i])) for r, i in enumerate(idx)]

    def rank_of(self, order: Sequence[int]) -> int:
        order = tuple(order)
        for rank, o, _ in self.ranking():
            if o == order:
                return rank
        raise InvalidOrderError(f"order {format_order(order)} was not profiled")

    def score_of(self, order: Sequence[int]) -> float:
        return float(self.scores[self.orders.index(tuple(order))])


def _check_orders(task: Task, orders: Sequence[Sequence[int]]) -> list[Order]:
    if len(orders) == 0:
        raise InvalidOrderError("no candidate orders to profile; give at least one order")
    checked = [validate_order(o, task.length) for o in orders]
    seen: dict[Order, int] = {}
    for i, o in enumerate(checked):
        if o in seen:
            raise InvalidOrderError(
                f"candidate order {format_order(o)} is listed twice (positions {seen[o]} and {i}); remove duplicates"
            )
        seen[o] = i
    return checked


class _Data:
    """Tensors of one split on the device; validation rows fixed for every order."""

    def __init__(self, splits: Splits, val_per_order: int, device: torch.device) -> None:
        self.x_tr = torch.as_tensor(splits.x_train, device=device)
        self.y_tr = torch.as_tensor(splits.y_train, device=device)
        v = min(val_per_order, len(splits.x_val))
        self.x_va = torch.as_tensor(splits.x_val[:v], device=device)
        self.y_va = torch.as_tensor(splits.y_val[:v], device=device)


@dataclass
class _Run:
    """What every mode tracks: checkpoints, per-order curves and scores, drops."""

    orders: list[Order]
    config: ProfileConfig
    device: torch.device
    data: _Data
    total: int
    marks: list[int]
    curves: np.ndarray
    scores: np.ndarray
    dropped_at: dict[Order, int] = field(default_factory=dict)
    start: float = field(default_factory=time.perf_counter)

    @classmethod
    def create(cls, orders: list[Order], config: ProfileConfig, splits: Splits) -> _Run:
        tc = config.train
        device = pick_device(tc.device)
        total = tc.total_steps()
        marks = checkpoint_steps(total, tc.checkpoints)
        shape = (len(marks), len(orders))
        return cls(orders, config, device, _Data(splits, config.val_per_order, device), total, marks,
                   np.full(shape, np.nan), np.full(len(orders), np.nan))

    def record(self, mark: int, losses: dict[int, float]) -> None:
        c = self.marks.index(mark)
        for i, v in losses.items():
            self.curves[c, i] = self.scores[i] = v

    def result(self, mode: str) -> ProfileResult:
        return ProfileResult(self.orders, self.scores, self.marks, self.curves, self.dropped_at,
                             time.perf_counter() - self.start, mode, str(self.device))


@torch.no_grad()
def _validation_losses(model: GPT, data: _Data, orders_t: torch.Tensor, active: list[int], rows: int,
                       device: torch.device) -> dict[int, float]:
    """Mean validation loss of each active order: all (order, sample) pairs, batched."""
    model.eval()
    V = len(data.x_va)
    per_chunk = max(1, rows // V)  # orders per forward pass
    out: dict[int, float] = {}
    for start in range(0, len(active), per_chunk):
        ids = active[start:start + per_chunk]
        k = len(ids)
        x = data.x_va.repeat(k, 1)
        y = data.y_va.repeat(k, 1)
        o = orders_t[torch.as_tensor(ids, device=device)].repeat_interleave(V, dim=0)
        with autocast(device):
            losses = sequence_losses(model, x, y, o).view(k, V).mean(dim=1)
        out.update(zip(ids, losses.float().cpu().tolist()))
    model.train()
    return out


class _Balancer:
    """Assigns one active order to every training sample, balanced, re-drawn each epoch."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n, self.rng = n, rng
        self.cursor = n  # forces a new epoch on first use

    def new_epoch(self, active: list[int]) -> None:
        self.perm = self.rng.permutation(self.n)
        self.assign = self._balanced(active, self.n)
        self.cursor = 0

    def _balanced(self, active: list[int], size: int) -> np.ndarray:
        reps = np.tile(np.asarray(active), math.ceil(size / len(active)))[:size]
        return self.rng.permutation(reps)

    def redraw_rest(self, active: list[int]) -> None:
        rest = self.n - self.cursor
        if rest > 0:
            self.assign[self.cursor:] = self._balanced(active, rest)

    def batch(self, size: int, active: list[int]) -> tuple[np.ndarray, np.ndarray]:
        if self.cursor + size > self.n:
            self.new_epoch(active)
        sl = slice(self.cursor, self.cursor + size)
        self.cursor += size
        return self.perm[sl], self.assign[sl]


def _apply_drops(hook: CheckpointHook | None, step: int, losses: dict[int, float], orders: list[Order],
                 active: list[int], dropped_at: dict[Order, int]) -> list[int]:
    if hook is None:
        return active
    drop = hook(step, {orders[i]: v for i, v in losses.items()}) or ()
    index = {o: i for i, o in enumerate(orders)}
    drop_ids = set()
    for o in drop:
        o = tuple(int(v) for v in o)
        if o not in index:
            raise InvalidOrderError(f"checkpoint hook dropped {format_order(o)}, which is not a candidate")
        drop_ids.add(index[o])
    for i in drop_ids & set(active):
        dropped_at[orders[i]] = step
    remaining = [i for i in active if i not in drop_ids]
    return remaining


def _train_mixture(task: Task, orders: list[Order], config: ProfileConfig, splits: Splits,
                   hook: CheckpointHook | None, progress: bool) -> ProfileResult:
    tc = config.train
    run = _Run.create(orders, config, splits)
    device, data = run.device, run.data
    seed_everything(tc.seed)
    model = make_model(task, config.model, target_index=config.signal == "index").to(device)
    opt = _optimizer(model, tc, device)
    orders_t = torch.as_tensor(orders, device=device)
    active = list(range(len(orders)))
    balancer = _Balancer(len(data.x_tr), np.random.default_rng([tc.seed, 0xBA7C]))
    bar = tqdm(total=run.total, desc=f"profile {len(orders)} orders (mixture)", disable=not progress, leave=False)
    model.train()
    for step in range(run.total):
        rows, assign = balancer.batch(tc.batch_size, active)
        rows_t = torch.as_tensor(rows, device=device)
        batch = make_batch(data.x_tr[rows_t], data.y_tr[rows_t], orders_t[torch.as_tensor(assign, device=device)],
                           task.vocab_size)
        optimizer_step(model, opt, tc, step, run.total, batch, device)
        bar.update(1)
        if step + 1 in run.marks:
            losses = _validation_losses(model, data, orders_t, active, config.eval_batch_rows, device)
            run.record(step + 1, losses)
            bar.set_postfix(active=len(active), best=f"{min(losses.values()):.3f}")
            new_active = _apply_drops(hook, step + 1, losses, orders, active, run.dropped_at)
            if not new_active:
                break
            if new_active != active:
                active = new_active
                balancer.redraw_rest(active)
    bar.close()
    return run.result("mixture")


def _train_separate(task: Task, orders: list[Order], config: ProfileConfig, splits: Splits,
                    hook: CheckpointHook | None, progress: bool) -> ProfileResult:
    """One run per order; all runs share data, seed and checkpoints. The hook sees every active
    order's loss at a checkpoint once all runs reached it, so runs advance checkpoint by checkpoint."""
    run = _Run.create(orders, config, splits)
    active = list(range(len(orders)))
    bar = tqdm(total=run.total * len(orders), desc=f"profile {len(orders)} orders (separate)",
               disable=not progress, leave=False)
    if hook is None:  # no drops: one run at a time, so memory does not grow with the number of orders
        for i in active:
            single = _SingleRun(task, orders[i], config, run.data, run.device)
            for mark in run.marks:
                single.advance(mark)
                run.record(mark, {i: single.validation()})
            bar.update(run.total)
    else:
        singles = [_SingleRun(task, o, config, run.data, run.device) for o in orders]
        done_steps = 0
        for mark in run.marks:
            losses = {}
            for i in active:
                singles[i].advance(mark)
                losses[i] = singles[i].validation()
                bar.update(mark - done_steps)
            run.record(mark, losses)
            done_steps = mark
            active = _apply_drops(hook, mark, losses, orders, active, run.dropped_at)
            if not active:
                break
    bar.close()
    return run.result("separate")


class _SingleRun:
    """Resumable training of one model on one order (for ``separate`` mode)."""

    def __init__(self, task: Task, order: Order, config: ProfileConfig, data: _Data, device: torch.device) -> None:
        tc = config.train
        seed_everything(tc.seed)
        self.model = make_model(task, config.model, target_index=False).to(device)
        self.opt = _optimizer(self.model, tc, device)
        self.config, self.data, self.device = config, data, device
        self.order_t = torch.as_tensor(order, device=device)
        self.stream = BatchStream(len(data.x_tr), tc.batch_size, tc.seed)
        self.step, self.total, self.sep = 0, tc.total_steps(), task.vocab_size

    def advance(self, until: int) -> None:
        self.model.train()
        while self.step < until:
            idx = torch.as_tensor(self.stream.next(), device=self.device)
            batch = make_batch(self.data.x_tr[idx], self.data.y_tr[idx], self.order_t, self.sep)
            optimizer_step(self.model, self.opt, self.config.train, self.step, self.total, batch, self.device)
            self.step += 1

    def validation(self) -> float:
        losses = _validation_losses(self.model, self.data, self.order_t.unsqueeze(0), [0],
                                    self.config.eval_batch_rows, self.device)
        return losses[0]


def _train_batched(task: Task, orders: list[Order], config: ProfileConfig, splits: Splits,
                   hook: CheckpointHook | None, progress: bool) -> ProfileResult:
    """``separate`` runs stacked: one vmapped forward/backward for all active models."""
    from torch.func import functional_call, stack_module_state, vmap

    tc = config.train
    run = _Run.create(orders, config, splits)
    device, data, total = run.device, run.data, run.total
    models = []
    for _ in orders:  # identical initialisation to `separate` (same seed for each run)
        seed_everything(tc.seed)
        models.append(make_model(task, config.model, target_index=False).to(device))
    base = copy.deepcopy(models[0]).to("meta").use_explicit_attention()
    params, buffers = stack_module_state(models)
    params = {k: torch.nn.Parameter(v) for k, v in params.items()}
    decay = [p for p in params.values() if p.dim() >= 3]  # stacked matrices
    no_decay = [p for p in params.values() if p.dim() < 3]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr, betas=tc.betas)
    orders_t = torch.as_tensor(orders, device=device)
    sep = task.vocab_size
    n_in = task.input_length

    def per_model_loss(p, b, x, y, order):
        inp, labels, tidx = make_batch(x, y, order, sep)
        _, loss = functional_call(base, (p, b), (inp, labels, tidx))
        return loss

    batched_loss = vmap(per_model_loss, in_dims=(0, 0, None, None, 0), randomness="different")
    stream = BatchStream(len(data.x_tr), tc.batch_size, tc.seed)
    active = list(range(len(orders)))
    mask = torch.ones(len(orders), device=device)
    bar = tqdm(total=total, desc=f"profile {len(orders)} orders (batched)", disable=not progress, leave=False)
    for step in range(total):
        idx = torch.as_tensor(stream.next(), device=device)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc, total)
        with autocast(device):
            losses = batched_loss(params, buffers, data.x_tr[idx], data.y_tr[idx], orders_t)
        opt.zero_grad(set_to_none=True)
        (losses * mask).sum().backward()
        if tc.grad_clip:  # per-model clipping, as in `separate`
            norms = torch.sqrt(sum((p.grad.flatten(1) ** 2).sum(1) for p in params.values() if p.grad is not None))
            factor = (tc.grad_clip / (norms + 1e-6)).clamp(max=1.0)
            for p in params.values():
                if p.grad is not None:
                    p.grad.mul_(factor.view(-1, *([1] * (p.dim() - 1))))
        opt.step()
        bar.update(1)
        if step + 1 in run.marks:
            with torch.no_grad():
                vals = _batched_validation(base, params, buffers, data, orders_t, sep, n_in, device)
            losses_d = {i: float(vals[i]) for i in active}
            run.record(step + 1, losses_d)
            active = _apply_drops(hook, step + 1, losses_d, orders, active, run.dropped_at)
            mask.zero_()
            mask[active] = 1.0  # dropped models stop learning (their score stays)
            if not active:
                break
    bar.close()
    return run.result("batched")


def _batched_validation(base, params, buffers, data: _Data, orders_t, sep, n_in, device) -> torch.Tensor:
    from torch.func import functional_call, vmap

    def per_model(p, b, order):
        inp, labels, tidx = make_batch(data.x_va, data.y_va, order, sep)
        logits, _ = functional_call(base, (p, b), (inp, None, tidx))
        ce = torch.nn.functional.cross_entropy(
            logits[:, n_in:].float().flatten(0, 1), labels[:, n_in:].flatten(), reduction="mean"
        )
        return ce

    for m in (base,):
        m.eval()
    with autocast(device):
        out = vmap(per_model, in_dims=(0, 0, 0), randomness="different")(params, buffers, orders_t)
    base.train()
    return out.float().cpu()


def profile(
    task: Task,
    orders: Sequence[Sequence[int]],
    config: ProfileConfig,
    *,
    splits: Splits | None = None,
    on_checkpoint: CheckpointHook | None = None,
    progress: bool = True,
) -> ProfileResult:
    """Score every order in ``orders`` by a short training run; see the module docstring."""
    config.check()
    checked = _check_orders(task, orders)
    tc = config.train
    splits = splits or task.splits(tc.n_train, max(tc.n_val, config.val_per_order), tc.n_test, seed=tc.seed)
    run = {"mixture": _train_mixture, "separate": _train_separate, "batched": _train_batched}[config.mode]
    return run(task, checked, config, splits, on_checkpoint, progress)


def config_from_preset(preset, **overrides) -> ProfileConfig:
    """A :class:`ProfileConfig` from a preset's profile model, with keyword overrides
    (``mode``, ``signal``, ``val_per_order`` or any :class:`TrainConfig` field)."""
    own = {k: overrides.pop(k) for k in ("mode", "signal", "val_per_order", "eval_batch_rows") if k in overrides}
    train = replace(preset.profile_train, **{k: v for k, v in overrides.items() if v is not None})
    return ProfileConfig(train=train, model=preset.profile_model, **{k: v for k, v in own.items() if v is not None})
