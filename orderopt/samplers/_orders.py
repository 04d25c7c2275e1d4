"""Permutation algebra for generation orders (numpy only).

It ships inside the sampler package so that the package is self-contained (OptunaHub);
:mod:`orderopt.orders` re-exports it for the rest of orderopt.

An *order* is a tuple ``(o_0, ..., o_{L-1})`` that is a permutation of ``0..L-1``: position ``t``
of the generated sequence holds ``y[o_t]``. ``forward`` is the identity.

Conventions used throughout the package:

* ``apply_order(y, o)`` is ``y[..., o]``; ``undo_order`` is its inverse.
* ``compose(p, q)`` is ``p[q]``, so ``apply_order(apply_order(y, p), q) == apply_order(y,
  compose(p, q))``.
* Block split rule (:func:`block_sizes`): ``n`` items into ``k`` blocks of sizes ``n // k`` or
  ``n // k + 1``, the *first* ``n % k`` blocks being the longer ones. Explicit sizes may be uneven.
* Hierarchical encoding (:func:`hierarchical_encode`): relative to a *base* order (identity by
  default) cut into contiguous blocks, an order is (the order of the blocks, the order inside
  each block); each part is a Lehmer code. Only orders that keep every base block contiguous are
  representable; with one block (or ``n`` singleton blocks) every permutation is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ._errors import InvalidOrderError

__all__ = [
    "Order",
    "validate_order",
    "is_order",
    "identity",
    "reverse",
    "random_order",
    "random_orders",
    "named_order",
    "parse_order",
    "format_order",
    "apply_order",
    "undo_order",
    "invert",
    "compose",
    "block_sizes",
    "split_blocks",
    "join_blocks",
    "lehmer_encode",
    "lehmer_decode",
    "hierarchical_encode",
    "hierarchical_decode",
    "kendall_tau_distance",
]

Order = tuple[int, ...]

_MAX_SHOWN = 12


def _short(seq: Sequence[int]) -> str:
    items = list(seq)
    text = ",".join(str(v) for v in items[:_MAX_SHOWN])
    return text + (",..." if len(items) > _MAX_SHOWN else "")


def validate_order(order: Iterable[int], length: int | None = None) -> Order:
    """Return ``order`` as a tuple of ints, or raise :class:`InvalidOrderError` saying why not."""
    items: list[int] = []
    for raw in order:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise InvalidOrderError(f"order entry {raw!r} is not an integer; give e.g. '2,0,1'") from None
        if value != raw:
            raise InvalidOrderError(f"order entry {raw!r} is not an integer; give e.g. '2,0,1'")
        items.append(value)
    n = len(items)
    if length is not None and n != length:
        raise InvalidOrderError(
            f"order {_short(items)} has length {n} but the task has L={length}; "
            f"give a permutation of 0..{length - 1}"
        )
    if n == 0:
        raise InvalidOrderError("order is empty; give a permutation of 0..L-1")
    bad = [v for v in items if v < 0 or v >= n]
    if bad:
        raise InvalidOrderError(
            f"order {_short(items)} has entries out of range ({_short(bad)}); "
            f"entries must be 0..{n - 1}"
        )
    seen: set[int] = set()
    dups = sorted({v for v in items if v in seen or seen.add(v)})  # type: ignore[func-returns-value]
    if dups:
        missing = sorted(set(range(n)) - set(items))
        raise InvalidOrderError(
            f"order {_short(items)} repeats {_short(dups)} and misses {_short(missing)}; "
            f"each of 0..{n - 1} must appear exactly once"
        )
    return tuple(items)


def is_order(order: Iterable[int], length: int | None = None) -> bool:
    """True when ``order`` is a permutation of ``0..length-1``."""
    try:
        validate_order(order, length)
    except InvalidOrderError:
        return False
    return True


def identity(n: int) -> Order:
    """The ``forward`` order."""
    return tuple(range(n))


def reverse(n: int) -> Order:
    """The ``reverse`` order."""
    return tuple(range(n - 1, -1, -1))


def random_order(n: int, seed: int) -> Order:
    """A uniformly random order, the same for the same ``(n, seed)``."""
    return tuple(int(v) for v in np.random.default_rng(seed).permutation(n))


def random_orders(n: int, count: int, seed: int, exclude: Iterable[Sequence[int]] = ()) -> list[Order]:
    """``count`` distinct uniformly random orders, none in ``exclude``; the same for the same seed."""
    import math

    excluded = {tuple(int(v) for v in o) for o in exclude}
    if count > math.factorial(n) - len(excluded):
        raise InvalidOrderError(f"cannot draw {count} distinct orders of length {n}; ask for fewer")
    rng = np.random.default_rng([int(seed), n])
    out: dict[Order, None] = {}
    while len(out) < count:
        o = tuple(int(v) for v in rng.permutation(n))
        if o not in excluded:
            out[o] = None
    return list(out)


def named_order(name: str, n: int, known: Mapping[str, Sequence[int]] | None = None) -> Order:
    """Resolve ``forward``, ``reverse``, ``random:SEED`` or a name from ``known``."""
    key = name.strip().lower()
    if known:
        for k, v in known.items():
            if k.lower() == key:
                return validate_order(v, n)
    if key in ("forward", "identity"):
        return identity(n)
    if key == "reverse":
        return reverse(n)
    if key.startswith("random:"):
        try:
            seed = int(key.split(":", 1)[1])
        except ValueError:
            raise InvalidOrderError(f"bad random order {name!r}; write random:SEED, e.g. random:3") from None
        return random_order(n, seed)
    names = ["forward", "reverse", "random:SEED", *(known or {})]
    raise InvalidOrderError(f"unknown order name {name!r}; use one of {', '.join(dict.fromkeys(names))} or a list like '2,0,1'")


def parse_order(text: str, length: int | None = None, known: Mapping[str, Sequence[int]] | None = None) -> Order:
    """Parse ``"3,1,0,2"`` (also space separated) or a named order into an :data:`Order`."""
    stripped = text.strip()
    if not stripped:
        raise InvalidOrderError("order is empty; give a name (forward, reverse, random:SEED) or a list like '2,0,1'")
    if stripped[0].isdigit() or stripped[0] in "-[(":
        parts = [p for p in stripped.strip("[]()").replace(",", " ").split() if p]
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise InvalidOrderError(f"cannot read order {text!r}; write comma-separated integers like '2,0,1'") from None
        return validate_order(values, length)
    if length is None:
        raise InvalidOrderError(f"named order {text!r} needs a length")
    return named_order(stripped, length, known)


def format_order(order: Sequence[int]) -> str:
    """``(3, 1, 0, 2)`` -> ``"3,1,0,2"`` (the inverse of :func:`parse_order`)."""
    return ",".join(str(int(v)) for v in order)


def apply_order(y: np.ndarray, order: Sequence[int] | np.ndarray) -> np.ndarray:
    """Reorder the last axis: position ``t`` of the result holds ``y[..., order[t]]``."""
    return np.asarray(y)[..., np.asarray(order, dtype=np.intp)]


def undo_order(z: np.ndarray, order: Sequence[int] | np.ndarray) -> np.ndarray:
    """Inverse of :func:`apply_order`: back to canonical order."""
    return np.asarray(z)[..., np.asarray(invert(order), dtype=np.intp)]


def invert(order: Sequence[int] | np.ndarray) -> Order:
    """The order ``q`` with ``compose(order, q) == identity``."""
    arr = np.asarray(order, dtype=np.intp)
    inv = np.empty_like(arr)
    inv[arr] = np.arange(arr.size)
    return tuple(int(v) for v in inv)


def compose(p: Sequence[int], q: Sequence[int]) -> Order:
    """``p[q]``: apply ``p`` first, then ``q`` to the result."""
    if len(p) != len(q):
        raise InvalidOrderError(f"cannot compose orders of lengths {len(p)} and {len(q)}")
    return tuple(int(p[int(i)]) for i in q)


def block_sizes(n: int, k: int) -> tuple[int, ...]:
    """Split ``n`` items into ``k`` contiguous blocks; the first ``n % k`` are one longer."""
    if not 1 <= k <= n:
        raise InvalidOrderError(f"cannot split {n} items into {k} blocks; use 1 <= blocks <= {n}")
    q, r = divmod(n, k)
    return tuple(q + 1 if i < r else q for i in range(k))


def _check_sizes(sizes: Sequence[int], n: int) -> tuple[int, ...]:
    sizes = tuple(int(s) for s in sizes)
    if not sizes or any(s < 1 for s in sizes) or sum(sizes) != n:
        raise InvalidOrderError(
            f"block sizes {list(sizes)} do not split {n} items; give positive sizes that sum to {n}"
        )
    return sizes


def split_blocks(order: Sequence[int], sizes: Sequence[int] | int) -> list[Order]:
    """Cut ``order`` into contiguous runs of the given sizes (or into ``sizes`` even blocks)."""
    n = len(order)
    sizes = block_sizes(n, sizes) if isinstance(sizes, int) else _check_sizes(sizes, n)
    out, start = [], 0
    for s in sizes:
        out.append(tuple(int(v) for v in order[start:start + s]))
        start += s
    return out


def join_blocks(blocks: Iterable[Sequence[int]]) -> Order:
    """Concatenate blocks back into one order."""
    return tuple(int(v) for b in blocks for v in b)


def lehmer_encode(order: Sequence[int]) -> tuple[int, ...]:
    """Lehmer code: digit ``i`` counts later entries smaller than ``order[i]``."""
    arr = np.asarray(validate_order(order))
    return tuple(int(np.sum(arr[i + 1:] < arr[i])) for i in range(arr.size))


def lehmer_decode(digits: Sequence[int]) -> Order:
    """Inverse of :func:`lehmer_encode`; any digits with ``0 <= d_i <= n-1-i`` are valid."""
    n = len(digits)
    pool = list(range(n))
    out = []
    for i, d in enumerate(digits):
        d = int(d)
        if not 0 <= d < n - i:
            raise InvalidOrderError(f"Lehmer digit {i} is {d}; it must be in 0..{n - 1 - i}")
        out.append(pool.pop(d))
    return tuple(out)


def hierarchical_encode(
    order: Sequence[int], sizes: Sequence[int], base: Sequence[int] | None = None
) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """Encode ``order`` as (Lehmer code of the block order, Lehmer code inside each block).

    Blocks are contiguous runs of ``base`` with the given sizes; inner codes are indexed by the
    block (not by its position in ``order``). Raises if ``order`` splits a base block.
    """
    order = validate_order(order)
    n = len(order)
    base = identity(n) if base is None else validate_order(base, n)
    sizes = _check_sizes(sizes, n)
    blocks = split_blocks(base, sizes)
    block_of = {v: j for j, b in enumerate(blocks) for v in b}
    block_order: list[int] = []
    inner: list[tuple[int, ...]] = [()] * len(blocks)
    start = 0
    while start < n:
        j = block_of[order[start]]
        run = order[start:start + sizes[j]]
        if len(run) != sizes[j] or any(block_of[v] != j for v in run):
            raise InvalidOrderError(
                f"order {_short(order)} splits block {j} ({_short(blocks[j])}); "
                "it is not representable with these blocks"
            )
        pos = {v: i for i, v in enumerate(blocks[j])}
        inner[j] = lehmer_encode([pos[v] for v in run])
        block_order.append(j)
        start += sizes[j]
    return lehmer_encode(block_order), tuple(inner)


def hierarchical_decode(
    block_digits: Sequence[int],
    inner_digits: Sequence[Sequence[int]],
    sizes: Sequence[int],
    base: Sequence[int] | None = None,
) -> Order:
    """Inverse of :func:`hierarchical_encode`; every in-range digit vector gives a valid order."""
    sizes = _check_sizes(sizes, sum(int(s) for s in sizes))
    n = sum(sizes)
    base = identity(n) if base is None else validate_order(base, n)
    if len(block_digits) != len(sizes) or len(inner_digits) != len(sizes):
        raise InvalidOrderError(f"need {len(sizes)} block digits and {len(sizes)} inner codes")
    blocks = split_blocks(base, sizes)
    out: list[int] = []
    for j in lehmer_decode(block_digits):
        if len(inner_digits[j]) != sizes[j]:
            raise InvalidOrderError(f"inner code of block {j} has {len(inner_digits[j])} digits, expected {sizes[j]}")
        out.extend(blocks[j][i] for i in lehmer_decode(inner_digits[j]))
    return tuple(out)


def kendall_tau_distance(p: Sequence[int], q: Sequence[int]) -> int:
    """Number of item pairs that ``p`` and ``q`` put in different relative order."""
    p, q = validate_order(p), validate_order(q)
    if len(p) != len(q):
        raise InvalidOrderError(f"cannot compare orders of lengths {len(p)} and {len(q)}")
    rank_q = np.asarray(invert(q))
    seq = rank_q[np.asarray(p)]  # q-ranks read in p's order: count its inversions
    return int(np.sum(seq[:, None] > seq[None, :], where=np.triu(np.ones((seq.size,) * 2, bool), 1)))
