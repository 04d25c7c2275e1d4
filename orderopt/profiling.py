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
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from orderopt.engine import (
    BatchStream,
    DeviceSplits,
    TrainConfig,
    autocast,
    checkpoint_steps,
    fixed_schedule,
    make_batch,
    make_model,
    make_optimizer,
    optimizer_step,
    pick_device,
    seed_everything,
    set_lr,
    target_losses,
)
from orderopt.errors import ConfigError, InvalidOrderError
from orderopt.model import GPT, ModelShape
from orderopt.orders import Order, format_order, validate_order
from orderopt.tasks import Splits, Task

__all__ = ["ProfileConfig", "ProfileResult", "profile", "profile_splits", "config_from_preset", "screen_size", "MODES", "SIGNALS",
           "VALIDATIONS", "CheckpointHook"]

SIGNALS = ("index", "none")
# How the mixture scores its orders at a checkpoint (see ``_Validator``):
VALIDATIONS = ("halving", "full")

# hook(step, {order: current validation loss of every active order}) -> orders to drop
CheckpointHook = Callable[[int, dict[Order, float]], Iterable[Sequence[int]] | None]


@dataclass
class ProfileConfig:
    """A profiling run. ``train`` and ``model`` come from a preset's profile model by default.

    Every order is scored on the same validation samples. ``validation`` sets how many
    (mixture mode): ``"full"`` scores every active order on all ``val_per_order`` samples at
    every checkpoint; ``"halving"`` (default) scores them on the first screen samples at the
    checkpoints before the last, and at the last checkpoint screens all of them on those samples
    and scores the best quarter (at least ``finalists``) on all ``val_per_order``; the others keep
    their screen score shifted by how much the finalists' scores moved. A screen holds
    ``screen_budget // T`` samples for ``T`` active orders (at least ``screen_samples``, at most
    ``val_per_order``): at T = 1,024 that is 16, at T <= 128 every sample, so both schemes give
    the same scores (see ``_Validator``)."""

    train: TrainConfig
    model: ModelShape
    mode: str = "mixture"
    signal: str = "index"
    val_per_order: int = 128
    validation: str = "halving"
    screen_samples: int = 16
    # (order, sample) pairs one screen may score: a small mixture is cheap to validate in full,
    # and a short screen of a small mixture let prod's friendly order miss the finalists
    # (benchmarks/results/profiling/profile_prod_scrambled.md)
    screen_budget: int = 16_384
    finalists: int = 32
    eval_batch_rows: int = 8192

    def check(self) -> ProfileConfig:
        """Raise :class:`ConfigError` for settings no run can use."""
        if self.mode not in MODES:
            raise ConfigError(f"unknown profiling mode {self.mode!r}; use one of {', '.join(MODES)}")
        if self.signal not in SIGNALS:
            raise ConfigError(f"unknown signal {self.signal!r}; use one of {', '.join(SIGNALS)}")
        if self.validation not in VALIDATIONS:
            raise ConfigError(f"unknown validation scheme {self.validation!r}; use one of {', '.join(VALIDATIONS)}")
        for name in ("val_per_order", "screen_samples", "screen_budget", "finalists", "eval_batch_rows"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        self.train.check()
        return self


@dataclass
class ProfileResult:
    """Scores of one profiling run, in the order the candidates were given."""

    orders: list[Order]
    scores: np.ndarray  # (T,) last validation loss of each order (lower = friendlier)
    steps: list[int]  # checkpoint steps
    curves: np.ndarray  # (len(steps), T); NaN once an order was dropped
    dropped_at: dict[Order, int] = field(default_factory=dict)
    seconds: float = 0.0
    mode: str = "mixture"
    device: str = "cpu"
    # (T, L) loss of each canonical target y_i under each order, from the order's last scoring
    position_scores: np.ndarray | None = None
    samples: np.ndarray | None = None  # (T,) validation samples behind each score
    train_seconds: float = 0.0  # of ``seconds``, time spent in training steps

    def ranking(self) -> list[tuple[int, Order, float]]:
        """``(rank, order, score)`` best first; ties broken by the order itself."""
        idx = sorted(range(len(self.orders)), key=lambda i: (self.scores[i], self.orders[i]))
        return [(r + 1, self.orders[i], float(self.scores[i])) for r, i in enumerate(idx)]

    def rank_of(self, order: Sequence[int]) -> int:
        """1-based rank of ``order`` in :meth:`ranking`."""
        order = tuple(order)
        for rank, o, _ in self.ranking():
            if o == order:
                return rank
        raise InvalidOrderError(f"order {format_order(order)} was not profiled")

    def score_of(self, order: Sequence[int]) -> float:
        """The score of ``order``."""
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


@dataclass
class _RunLog:
    """What every mode records: checkpoints, per-order curves, scores, position scores and drops."""

    orders: list[Order]
    device: torch.device
    data: DeviceSplits
    total: int
    checkpoints: list[int]
    curves: np.ndarray
    scores: np.ndarray
    positions: np.ndarray
    samples: np.ndarray
    dropped_at: dict[Order, int] = field(default_factory=dict)
    start: float = field(default_factory=time.perf_counter)
    train_seconds: float = 0.0

    @classmethod
    def create(cls, orders: list[Order], config: ProfileConfig, splits: Splits) -> _RunLog:
        tc = config.train
        device = pick_device(tc.device)
        total = tc.total_steps()
        checkpoints = checkpoint_steps(total, tc.checkpoints)
        T, L = len(orders), len(orders[0])
        return cls(orders, device, DeviceSplits(splits, device, n_val=config.val_per_order), total, checkpoints,
                   np.full((len(checkpoints), T), np.nan), np.full(T, np.nan), np.full((T, L), np.nan),
                   np.zeros(T, dtype=np.int64))

    def record(self, step: int, scored: dict[int, _Score]) -> None:
        c = self.checkpoints.index(step)
        for i, s in scored.items():
            self.curves[c, i] = self.scores[i] = s.loss
            self.positions[i] = s.positions
            self.samples[i] = s.samples

    def result(self, mode: str) -> ProfileResult:
        return ProfileResult(self.orders, self.scores, self.checkpoints, self.curves, self.dropped_at,
                             time.perf_counter() - self.start, mode, str(self.device), self.positions,
                             self.samples, self.train_seconds)


@dataclass
class _Score:
    loss: float  # mean cross-entropy per target token
    positions: np.ndarray  # (L,) mean loss of each canonical target y_i
    samples: int


def screen_size(config: ProfileConfig, n_orders: int) -> int:
    """Validation samples per order in a ``halving`` screen of ``n_orders`` orders: the budget
    shared out, within ``screen_samples .. val_per_order``. Noise, not cost, limits a small
    mixture, so it screens on every sample."""
    return min(config.val_per_order, max(config.screen_samples, config.screen_budget // max(1, n_orders)))


class _Validator:
    """Scores active orders on the shared validation samples; the cost follows what the ranking needs.

    Every (order, sample) pair is one forward pass, so scoring T orders on V samples costs T*V
    sequences: at T = 1024 and six checkpoints that is several times the training run itself.
    ``halving`` therefore screens orders on a few samples wherever nothing final is decided and
    spends the full sample budget only on the orders that can still end up on top."""

    def __init__(self, model: GPT, data: DeviceSplits, orders_t: torch.Tensor, config: ProfileConfig) -> None:
        self.model, self.data, self.orders_t = model, data, orders_t
        self.scheme, self.rows = config.validation, config.eval_batch_rows
        self.V = len(data.x_val)
        self.config = config
        self.finalists = config.finalists
        L = orders_t.shape[1]
        self.inverse = torch.argsort(orders_t, dim=1)  # generation position of each canonical target
        self.sums = np.zeros((len(orders_t), L))  # per-position loss sums of the current checkpoint
        self.counts = np.zeros(len(orders_t), dtype=np.int64)

    @torch.no_grad()
    def _add(self, ids: list[int], lo: int, hi: int) -> None:
        """Add the per-position loss sums of samples ``lo..hi-1`` under orders ``ids``."""
        self.model.eval()
        x_va, y_va = self.data.x_val[lo:hi], self.data.y_val[lo:hi]
        n = hi - lo
        per_chunk = max(1, self.rows // n)  # orders per forward pass
        device = self.data.device
        for start in range(0, len(ids), per_chunk):
            chunk = ids[start:start + per_chunk]
            k = len(chunk)
            idx = torch.as_tensor(chunk, device=device)
            orders = self.orders_t[idx].repeat_interleave(n, dim=0)
            inp, labels, tidx = make_batch(x_va.repeat(k, 1), y_va.repeat(k, 1), orders, self.model.config.vocab_size)
            n_in = x_va.shape[1]
            with autocast(device):  # the input x is the same under every order: computed once per sample
                logits = self.model.forward_shared_prefix(x_va, inp[:, n_in:], tidx[:, n_in:])
            per_pos = target_losses(logits, labels[:, n_in:], 0).view(k, n, -1).sum(dim=1)  # generation order
            canonical = torch.gather(per_pos, 1, self.inverse[idx])
            self.sums[chunk] += canonical.double().cpu().numpy()
            self.counts[chunk] += n
        self.model.train()

    def score(self, active: list[int], final: bool) -> dict[int, _Score]:
        """Scores of the active orders at a checkpoint (the last one when ``final``)."""
        self.sums[active] = 0.0
        self.counts[active] = 0
        screen = min(self.V, screen_size(self.config, len(active)))
        if self.scheme == "full" or screen >= self.V:
            self._add(active, 0, self.V)
        elif not final:
            self._add(active, 0, screen)
        else:
            self._add(active, 0, screen)
            keep = max(self.finalists, -(-len(active) // 4))
            if keep < len(active):
                means = self.sums[active].sum(axis=1) / self.counts[active]
                ranked = sorted(range(len(active)), key=lambda j: (means[j], j))
                finalists = sorted(active[j] for j in ranked[:keep])
            else:
                finalists = active
            screened = self.sums[finalists] / self.counts[finalists][:, None]
            self._add(finalists, screen, self.V)
            # The screen's samples are easier or harder than the whole set by a margin common to
            # every order (prod: 0.98 vs 0.89 per token), so a bare screen score is not on the
            # finalists' scale: shift it by how the finalists' scores moved per target.
            shift = (self.sums[finalists] / self.counts[finalists][:, None] - screened).mean(axis=0)
        out = {}
        for i in active:
            positions = self.sums[i] / self.counts[i]
            if final and self.counts[i] < self.V:  # losses stay >= 0 (the precedence model takes their log)
                positions = np.maximum(positions + shift, 0.0)
            out[i] = _Score(float(positions.mean()), positions, int(self.counts[i]))
        return out


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
    log = _RunLog.create(orders, config, splits)
    device, data = log.device, log.data
    seed_everything(tc.seed)
    model = make_model(task, config.model, target_index=config.signal == "index").to(device)
    opt = make_optimizer(model.parameters(), tc, device)
    orders_t = torch.as_tensor(orders, device=device)
    validator = _Validator(model, data, orders_t, config)
    active = list(range(len(orders)))
    stream = BatchStream(len(data.x_train), tc.batch_size, tc.seed, active=active)
    schedule = fixed_schedule(tc, log.total)
    bar = tqdm(total=log.total, desc=f"profile {len(orders)} orders (mixture)", disable=not progress, leave=False)
    model.train()
    for step in range(log.total):
        tick = time.perf_counter()
        rows, assign = stream.next_with_orders()
        rows_t = torch.as_tensor(rows, device=device)
        batch = make_batch(data.x_train[rows_t], data.y_train[rows_t], orders_t[torch.as_tensor(assign, device=device)],
                           task.vocab_size)
        optimizer_step(model, opt, tc, schedule.lr_at(step), batch, device)
        log.train_seconds += time.perf_counter() - tick
        bar.update(1)
        if step + 1 in log.checkpoints:
            scored = validator.score(active, final=step + 1 == log.total)
            log.record(step + 1, scored)
            losses = {i: s.loss for i, s in scored.items()}
            bar.set_postfix(active=len(active), best=f"{min(losses.values()):.3f}")
            remaining = _apply_drops(hook, step + 1, losses, orders, active, log.dropped_at)
            if not remaining:
                break
            if remaining != active:
                active = remaining
                stream.set_active(active)
    bar.close()
    return log.result("mixture")


def _train_separate(task: Task, orders: list[Order], config: ProfileConfig, splits: Splits,
                    hook: CheckpointHook | None, progress: bool) -> ProfileResult:
    """One run per order; all runs share data, seed and checkpoints. The hook sees every active
    order's loss at a checkpoint once all runs reached it, so runs advance checkpoint by checkpoint."""
    log = _RunLog.create(orders, config, splits)
    active = list(range(len(orders)))
    bar = tqdm(total=log.total * len(orders), desc=f"profile {len(orders)} orders (separate)",
               disable=not progress, leave=False)
    if hook is None:  # no drops: one run at a time, so memory does not grow with the number of orders
        for i in active:
            single = _SingleRun(task, orders[i], config, log)
            for mark in log.checkpoints:
                single.advance(mark)
                log.record(mark, {i: single.validation()})
            bar.update(log.total)
    else:
        singles = [_SingleRun(task, o, config, log) for o in orders]
        done_steps = 0
        for mark in log.checkpoints:
            scored = {}
            for i in active:
                singles[i].advance(mark)
                scored[i] = singles[i].validation()
                bar.update(mark - done_steps)
            log.record(mark, scored)
            done_steps = mark
            active = _apply_drops(hook, mark, {i: s.loss for i, s in scored.items()}, orders, active, log.dropped_at)
            if not active:
                break
    bar.close()
    return log.result("separate")


class _SingleRun:
    """Resumable training of one model on one order (for ``separate`` mode)."""

    def __init__(self, task: Task, order: Order, config: ProfileConfig, log: _RunLog) -> None:
        tc = config.train
        seed_everything(tc.seed)
        self.model = make_model(task, config.model, target_index=False).to(log.device)
        self.opt = make_optimizer(self.model.parameters(), tc, log.device)
        self.config, self.log = config, log
        self.order_t = torch.as_tensor(order, device=log.device)
        self.validator = _Validator(self.model, log.data, self.order_t.unsqueeze(0), replace(config, validation="full"))
        self.stream = BatchStream(len(log.data.x_train), tc.batch_size, tc.seed)
        self.schedule = fixed_schedule(tc, log.total)
        self.step, self.sep = 0, task.vocab_size

    def advance(self, until: int) -> None:
        tick = time.perf_counter()
        self.model.train()
        data = self.log.data
        while self.step < until:
            idx = torch.as_tensor(self.stream.next(), device=self.log.device)
            batch = make_batch(data.x_train[idx], data.y_train[idx], self.order_t, self.sep)
            optimizer_step(self.model, self.opt, self.config.train, self.schedule.lr_at(self.step), batch,
                           self.log.device)
            self.step += 1
        self.log.train_seconds += time.perf_counter() - tick

    def validation(self) -> _Score:
        return self.validator.score([0], final=True)[0]


def _train_batched(task: Task, orders: list[Order], config: ProfileConfig, splits: Splits,
                   hook: CheckpointHook | None, progress: bool) -> ProfileResult:
    """``separate`` runs stacked: one vmapped forward/backward for all active models."""
    from torch.func import functional_call, stack_module_state, vmap

    tc = config.train
    log = _RunLog.create(orders, config, splits)
    device, data, total = log.device, log.data, log.total
    models = []
    for _ in orders:  # identical initialisation to `separate` (same seed for each run)
        seed_everything(tc.seed)
        models.append(make_model(task, config.model, target_index=False).to(device))
    base = copy.deepcopy(models[0]).to("meta").use_explicit_attention()
    params, buffers = stack_module_state(models)
    params = {k: torch.nn.Parameter(v) for k, v in params.items()}
    opt = make_optimizer(params.values(), tc, device, matrix_dim=3)  # stacked matrices have 3 dims
    orders_t = torch.as_tensor(orders, device=device)
    sep = task.vocab_size

    def per_model_loss(p, b, x, y, order):
        inp, labels, tidx = make_batch(x, y, order, sep)
        _, loss = functional_call(base, (p, b), (inp, labels, tidx))
        return loss

    batched_loss = vmap(per_model_loss, in_dims=(0, 0, None, None, 0), randomness="different")
    stream = BatchStream(len(data.x_train), tc.batch_size, tc.seed)
    schedule = fixed_schedule(tc, total)
    active = list(range(len(orders)))
    mask = torch.ones(len(orders), device=device)
    bar = tqdm(total=total, desc=f"profile {len(orders)} orders (batched)", disable=not progress, leave=False)
    for step in range(total):
        tick = time.perf_counter()
        idx = torch.as_tensor(stream.next(), device=device)
        set_lr(opt, schedule.lr_at(step))
        with autocast(device):
            losses = batched_loss(params, buffers, data.x_train[idx], data.y_train[idx], orders_t)
        opt.zero_grad(set_to_none=True)
        (losses * mask).sum().backward()
        if tc.grad_clip:  # per-model clipping, as in `separate`
            norms = torch.sqrt(sum((p.grad.flatten(1) ** 2).sum(1) for p in params.values() if p.grad is not None))
            factor = (tc.grad_clip / (norms + 1e-6)).clamp(max=1.0)
            for p in params.values():
                if p.grad is not None:
                    p.grad.mul_(factor.view(-1, *([1] * (p.dim() - 1))))
        opt.step()
        log.train_seconds += time.perf_counter() - tick
        bar.update(1)
        if step + 1 in log.checkpoints:
            with torch.no_grad():
                scored = _batched_validation(base, params, buffers, data, orders_t, sep, device)
            scored = {i: scored[i] for i in active}
            log.record(step + 1, scored)
            active = _apply_drops(hook, step + 1, {i: s.loss for i, s in scored.items()}, orders, active,
                                  log.dropped_at)
            mask.zero_()
            mask[active] = 1.0  # dropped models stop learning (their score stays)
            if not active:
                break
    bar.close()
    return log.result("batched")


def _batched_validation(base: GPT, params, buffers, data: DeviceSplits, orders_t: torch.Tensor, sep: int,
                        device: torch.device) -> list[_Score]:
    from torch.func import functional_call, vmap

    n_in = data.x_val.shape[1]

    def per_model(p, b, order):
        inp, labels, tidx = make_batch(data.x_val, data.y_val, order, sep)
        logits, _ = functional_call(base, (p, b), (inp, None, tidx))
        return target_losses(logits, labels, n_in).mean(dim=0)  # (L,) generation order

    base.eval()
    with autocast(device):
        per_pos = vmap(per_model, in_dims=(0, 0, 0), randomness="different")(params, buffers, orders_t)
    base.train()
    canonical = torch.gather(per_pos.float(), 1, torch.argsort(orders_t, dim=1)).double().cpu().numpy()
    V = len(data.x_val)
    return [_Score(float(row.mean()), row, V) for row in canonical]


MODES: dict[str, Callable[..., ProfileResult]] = {
    "mixture": _train_mixture,
    "separate": _train_separate,
    "batched": _train_batched,
}


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
    splits = splits or profile_splits(task, config)
    return MODES[config.mode](task, checked, config, splits, on_checkpoint, progress)


def profile_splits(task: Task, config: ProfileConfig) -> Splits:
    """The rows a profile of ``config`` trains and validates on (the task's profiling draw)."""
    tc = config.train
    return task.splits(tc.n_train, max(tc.n_val, config.val_per_order), tc.n_test, seed=tc.seed, profiling=True)


_OWN_FIELDS = ("mode", "signal", "val_per_order", "validation", "screen_samples", "screen_budget", "finalists",
               "eval_batch_rows")


def config_from_preset(preset, **overrides) -> ProfileConfig:
    """A :class:`ProfileConfig` from a preset's profile model, with keyword overrides (any
    :class:`ProfileConfig` or :class:`~orderopt.engine.TrainConfig` field; ``None`` = keep)."""
    own = {k: overrides.pop(k) for k in _OWN_FIELDS if k in overrides}
    train = replace(preset.profile_train, **{k: v for k, v in overrides.items() if v is not None})
    return ProfileConfig(train=train, model=preset.profile_model, **{k: v for k, v in own.items() if v is not None})
