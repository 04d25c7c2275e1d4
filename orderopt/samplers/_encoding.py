"""Permutations as Optuna params: hierarchical Lehmer digits (block order, then inner orders).

Every param is ``suggest_int(name, 0, m - 1 - i)``, so *any* value vector that any sampler picks
decodes to a valid permutation, and the distributions never depend on earlier choices.

Param names for an order called ``order`` with block sizes ``(s_0, .., s_{k-1})``:
``order.blocks.i`` (``i < k - 1``, Lehmer digits of the block order) and ``order.b{j}.{i}``
(``i < s_j - 1``, Lehmer digits inside block ``j``); the last digit of a Lehmer code is always 0
and is not suggested. The decoded order is stored as the JSON user attr ``order`` and the layout
as ``order_blocks``.

Trials that a batch creates itself (:meth:`HierarchicalOrderSampler.batch`), where no Optuna
sampler draws the params, may carry the readable encoding instead (:func:`step_params`): one
param per generation step, ``order[0]`` = the item placed first, so that a table of trials reads
as the orders themselves and importance or slice plots say which item placed where matters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna

from ._errors import ConfigError, InvalidOrderError
from ._orders import Order, block_sizes, hierarchical_decode, hierarchical_encode

__all__ = ["suggest_order", "layout_sizes", "order_param_names", "encode_params", "decode_params", "layout_attr",
           "step_param_names", "step_params"]


def layout_attr(name: str) -> str:
    """User attr holding the block sizes of order ``name``."""
    return f"{name}_blocks"


def layout_sizes(n: int, blocks: int | Sequence[int] | None) -> tuple[int, ...]:
    """Block sizes for ``n`` items: ``None`` = one block (flat Lehmer code, every permutation),
    an int ``k`` = ``k`` even blocks (first ``n % k`` one longer), or explicit sizes."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"an order needs n >= 1 items, got {n!r}")
    if blocks is None:
        return (n,)
    if isinstance(blocks, int):
        try:
            return block_sizes(n, blocks)
        except InvalidOrderError as exc:
            raise ConfigError(str(exc)) from None
    sizes = tuple(int(s) for s in blocks)
    if not sizes or any(s < 1 for s in sizes) or sum(sizes) != n:
        raise ConfigError(f"block sizes {list(sizes)} do not sum to n={n}; give positive sizes that sum to {n}")
    return sizes


def order_param_names(name: str, sizes: Sequence[int]) -> list[tuple[str, int]]:
    """``(param name, high)`` for every suggested digit, in suggestion order."""
    k = len(sizes)
    out = [(f"{name}.blocks.{i}", k - 1 - i) for i in range(k - 1)]
    for j, s in enumerate(sizes):
        out += [(f"{name}.b{j}.{i}", s - 1 - i) for i in range(s - 1)]
    return out


def encode_params(order: Sequence[int], name: str, sizes: Sequence[int]) -> dict[str, int]:
    """Param values that decode to ``order`` (raises if ``order`` splits a block)."""
    block_digits, inner = hierarchical_encode(order, sizes)
    values = dict(zip((f"{name}.blocks.{i}" for i in range(len(sizes) - 1)), block_digits))
    for j, digits in enumerate(inner):
        values.update({f"{name}.b{j}.{i}": d for i, d in enumerate(digits[:-1])})
    return {k: int(v) for k, v in values.items()}


def step_param_names(name: str, n: int) -> list[str]:
    """``order[0]`` .. ``order[n-1]`` (zero-padded, so that they sort by step): the readable params."""
    width = len(str(n - 1))
    return [f"{name}[{t:0{width}d}]" for t in range(n)]


def step_params(order: Sequence[int], name: str) -> tuple[dict[str, int], dict[str, optuna.distributions.IntDistribution]]:
    """The readable encoding of ``order``: ``{order[t]: item placed at step t}`` and the params'
    distributions (not searchable one by one: only whole permutations are valid)."""
    names = step_param_names(name, len(order))
    dist = optuna.distributions.IntDistribution(0, len(order) - 1)
    return {p: int(v) for p, v in zip(names, order)}, {p: dist for p in names}


def decode_params(params: Mapping[str, Any], name: str, sizes: Sequence[int]) -> Order:
    """The order encoded by ``params`` (missing digits count as 0)."""
    k = len(sizes)
    block_digits = [int(params.get(f"{name}.blocks.{i}", 0)) for i in range(k - 1)] + [0]
    inner = [[int(params.get(f"{name}.b{j}.{i}", 0)) for i in range(s - 1)] + [0] for j, s in enumerate(sizes)]
    return hierarchical_decode(block_digits, inner, sizes)


def suggest_order(
    trial: optuna.trial.BaseTrial,
    n: int,
    *,
    blocks: int | Sequence[int] | None = None,
    name: str = "order",
) -> Order:
    """Suggest a permutation of ``n`` items as hierarchical Lehmer digits.

    Works with any sampler; with :class:`HierarchicalOrderSampler` the digits come from its
    global-local schedule. Calling it again in the same trial returns the same order.

    Example:
        >>> import optuna
        >>> from orderopt.samplers import HierarchicalOrderSampler, suggest_order
        >>> def objective(trial):
        ...     order = suggest_order(trial, 6)
        ...     return sum(abs(o - i) for i, o in enumerate(order))
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study(sampler=HierarchicalOrderSampler(seed=0))
        >>> study.optimize(objective, n_trials=30)
        >>> len(study.best_trial.user_attrs["order"])
        6
    """
    sizes = layout_sizes(n, blocks)
    known = trial.user_attrs.get(name)
    if known is not None:
        if list(trial.user_attrs.get(layout_attr(name), [])) != list(sizes):
            raise ConfigError(f"order {name!r} was already suggested in this trial with other blocks")
        return tuple(int(v) for v in known)
    trial.set_user_attr(layout_attr(name), list(sizes))  # read by the sampler while it samples
    params = {pname: trial.suggest_int(pname, 0, high) for pname, high in order_param_names(name, sizes)}
    order = decode_params(params, name, sizes)
    trial.set_user_attr(name, list(order))
    return order
