"""User tasks: a Python callable ``generate(n, rng) -> (x, y)`` or a dataset file.

Dataset files: ``.npz`` with integer arrays ``x`` (n, input_length) and ``y`` (n, L), or JSON
(``.jsonl``/``.json``), one object ``{"input": [...], "target": [...]}`` per line or one array of
them (both forms accept every name of :data:`FIELDS`), or ``.csv`` with a header naming each
column ``x...`` (an input) or ``y...`` (a target, in column order). Values may be any integers;
token ``t`` is the file's ``t``-th smallest value. A generator of few distinct inputs is split
like a file (:meth:`CallableTask.rows`). A file may name orders of its own: ``.npz`` arrays
``order_<name>``, or a first JSON line ``{"orders": {"<name>": [...]}}``; a generator its
``orders`` attribute. ``--order <name>`` then works as for built-ins.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import inspect
import json
import os
import pkgutil
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from orderopt.errors import DatasetError, InvalidOrderError, TaskConfigError
from orderopt.orders import Order, validate_order
from orderopt.tasks.base import MAX_VOCAB, Task, _row_keys, check_size

__all__ = ["CallableTask", "DatasetTask", "from_callable", "from_file", "import_path_of", "load_callable", "DATASET_SUFFIXES", "TRUST_ENV",
           "trust_import", "is_trusted", "trusted_imports"]

DATASET_SUFFIXES = (".npz", ".jsonl", ".json", ".csv")
_INT_LIMIT = 2**31  # token values beyond this are not tokens (and overflow int64 arithmetic on the way)
Generate = Callable[[int, np.random.Generator], tuple[Any, Any]]
# A generator whose first FINITE_PROBE_ROWS draws hold fewer than LARGE_SPACE_SHARE new inputs is
# drawn on until a chunk brings fewer than SATURATED_SHARE new ones: its inputs are few, and held-out
# rows unseen in a 100,000-row training draw would run out, so its rows are split like a file's.
FINITE_PROBE_ROWS = 16_384
FINITE_PROBE_CHUNKS = 16
LARGE_SPACE_SHARE = 0.9  # ~80,000+ equally likely inputs
SATURATED_SHARE = 0.05


def _is_integral(value: Any) -> bool:
    """A JSON number that is an integer (``3`` or ``3.0``; not ``true``, not ``3.5``)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def as_tokens(arr: np.ndarray, where: str, error: type[Exception]) -> np.ndarray:
    """``arr`` as int64: integers and booleans as they are, floats only when every value is a
    whole number (data that passed through pandas or float arithmetic); anything else refused
    in one line that says how to fix it."""
    if arr.dtype == np.bool_:
        return arr.astype(np.int64)
    numeric = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    if numeric and arr.size and np.isfinite(arr).all() and (arr.max() > _INT_LIMIT or arr.min() < -_INT_LIMIT):
        low, high = arr.min().item(), arr.max().item()  # plain numbers: a numpy repr would read np.int64(...)
        extreme = f"values up to {high}" if high > _INT_LIMIT else f"values down to {low}"
        raise error(f"{where} holds {extreme}; token values must lie within +-{_INT_LIMIT}: map them to a smaller "
                    "range")
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        whole = np.isfinite(arr) & (arr == np.round(arr))
        if whole.all():
            return arr.astype(np.int64)
        bad = arr[~whole].ravel()[0].item()
        raise error(f"{where} holds non-integer values (e.g. {bad!r}); tokens are integers: round or bin the values "
                    "into a few integer levels")
    raise error(f"{where} has dtype {arr.dtype}; it must hold integers")


TRUST_ENV = "ORDEROPT_TRUSTED_IMPORTS"  # comma-separated modules (or module:function) this process may import
_TRUSTED: set[str] = set()


def trust_import(import_path: str) -> None:
    """Allow this process to import ``module:function`` when a study's spec names it."""
    _TRUSTED.add(import_path.strip())


def is_trusted(import_path: str) -> bool:
    """Named by this process (command line, API) or allow-listed in ``$ORDEROPT_TRUSTED_IMPORTS``."""
    path = import_path.strip()
    if path in _TRUSTED:
        return True
    module = path.split(":", 1)[0]
    allowed = [p.strip() for p in os.environ.get(TRUST_ENV, "").split(",") if p.strip()]
    return any(path == p or module == p or module.startswith(p + ".") for p in allowed)


def trusted_imports() -> list[str]:
    """The import paths trusted by this process (handed on to the worker processes it starts)."""
    return sorted(_TRUSTED)


def _split_import_path(import_path: str) -> tuple[str, str]:
    module_name, _, attr = import_path.strip().rpartition(":")
    if not module_name or not attr:
        raise TaskConfigError(f"bad import path {import_path!r}; write package.module:function or path/to/file.py:function")
    return module_name, attr


def is_file_path(module_name: str) -> bool:
    """``path/to/file.py`` rather than a dotted module name."""
    return module_name.endswith(".py") or "/" in module_name or os.sep in module_name


def normalise_import_path(import_path: str) -> str:
    """``file.py:function`` with the file made absolute (so that workers started elsewhere find
    it); a dotted ``module:function`` as it is."""
    module_name, attr = _split_import_path(import_path)
    if is_file_path(module_name):
        return f"{Path(module_name).expanduser().resolve()}:{attr}"
    return f"{module_name}:{attr}"


def _load_file_module(module_name: str) -> Any:
    path = Path(module_name).expanduser().resolve()
    if not path.is_file():
        raise TaskConfigError(f"cannot import {module_name!r}: no such file; give path/to/file.py:function")
    key = f"orderopt_user_{abs(hash(str(path)))}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise TaskConfigError(f"cannot import {module_name!r}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module  # before exec: pickling (worker processes) looks the module up by name
    folder = str(path.parent)
    sys.path.insert(0, folder)  # its sibling modules import as under `python file.py`
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: report it in one line
        del sys.modules[key]
        raise TaskConfigError(f"importing {module_name!r} raised {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(folder)
        if folder not in sys.path:
            sys.path.append(folder)  # last: imports made later, inside generate, still find them
    return module


def load_callable(import_path: str) -> Generate:
    """Import ``"package.module:function"`` or ``"path/to/file.py:function"``. A dotted module is
    looked up on ``sys.path`` and then in the working directory (as ``python -m`` would)."""
    module_name, attr = _split_import_path(import_path)
    try:
        if is_file_path(module_name):
            obj: Any = getattr(_load_file_module(module_name), attr)
        else:
            try:
                obj = pkgutil.resolve_name(f"{module_name}:{attr}")
            except ModuleNotFoundError as exc:
                if os.getcwd() in sys.path or exc.name != module_name.split(".")[0]:
                    raise
                sys.path.append(os.getcwd())  # the console script does not put the working directory on sys.path
                obj = pkgutil.resolve_name(f"{module_name}:{attr}")
    except TaskConfigError:
        raise
    except (ImportError, AttributeError, ValueError) as exc:
        raise TaskConfigError(f"cannot import {import_path!r} ({exc}); check the module is on PYTHONPATH or give "
                              "path/to/file.py:function") from None
    except Exception as exc:  # the module itself raised on import
        raise TaskConfigError(f"importing {import_path!r} raised {type(exc).__name__}: {exc}") from None
    if not callable(obj):
        raise TaskConfigError(f"{import_path!r} is not callable; it must be generate(n, rng) -> (x, y)")
    return obj


def _named_orders(raw: Any, length: int, where: str, error: type[Exception]) -> dict[str, Order]:
    """A task's own named orders (``{"friendly": [2, 0, 1], ...}``), each checked to be a
    permutation of ``0..length-1``."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise error(f"{where}: named orders must be a mapping name -> list of target indices, got {type(raw).__name__}")
    out = {}
    for name, order in raw.items():
        try:
            out[str(name).strip().lower()] = validate_order([int(v) for v in order], length)
        except (TypeError, ValueError, InvalidOrderError) as exc:
            raise error(f"{where}: named order {name!r} is not a permutation of the {length} targets ({exc})") from None
    return out


def _generated_pair(drawn: Any, n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A generator's return value as (x, y) token arrays of ``n`` rows. A 1-D ``x`` is one input
    per row; a dict with fields named as in a file (``{"x": ..., "y": ...}``) is a pair too; anything
    else that is not ``(n, inputs)`` and ``(n, L)`` is refused in one line."""
    if isinstance(drawn, dict):
        names = {kind: _pick(drawn, kind) for kind in FIELDS}
        if None in names.values():
            raise TaskConfigError(f"task {name}: generate(n, rng) returned a dict with keys {', '.join(map(repr, drawn))}; "
                                  "return a pair (x, y), or a dict with keys 'x' and 'y'")
        drawn = (drawn[names["input"]], drawn[names["target"]])
    if not isinstance(drawn, (tuple, list)) or len(drawn) != 2:
        got = f"a {len(drawn)}-tuple" if isinstance(drawn, (tuple, list)) else type(drawn).__name__
        fix = ""
        if isinstance(drawn, (tuple, list)) and len(drawn) == n:  # one (x_row, y_row) per sample
            got, fix = f"{n} items (one per row?)", "; from rows of (x_row, y_row) return x, y = map(np.array, zip(*rows))"
        raise TaskConfigError(f"task {name}: generate(n, rng) must return a pair (x, y), got {got}{fix}")
    x, y = (np.asarray(a) for a in drawn)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if y.ndim == 1 and len(y) == n:
        raise TaskConfigError(f"task {name}: generate's y has one target per row (shape {y.shape}); a task needs "
                              "at least 2 targets to have an order: return y of shape (n, L), one column per target")
    if x.ndim != 2 or y.ndim != 2 or len(x) != n or len(y) != n:
        raise TaskConfigError(f"task {name}: generate({n}, rng) must return x of shape ({n}, inputs) and y of shape "
                              f"({n}, L), got {x.shape} and {y.shape}")
    return (as_tokens(x, f"task {name}: generate's x", TaskConfigError),
            as_tokens(y, f"task {name}: generate's y", TaskConfigError))


def _check_signature(generate: Generate, name: str) -> None:
    """Refuse a function that cannot be called as ``generate(n, rng)`` before calling it, so the
    message names the convention rather than the TypeError of a call."""
    try:
        signature = inspect.signature(generate)
    except (TypeError, ValueError):  # a builtin or C callable: its call will tell
        return
    try:
        signature.bind(256, None)
    except TypeError:
        raise TaskConfigError(f"task {name}: generate{signature} cannot be called as generate(n, rng); a generator "
                              "takes the number of rows n and a numpy.random.Generator rng and returns (x, y)") from None


class CallableTask(Task):
    """Wraps ``generate(n, rng) -> (x, y)``; ``y`` must already be in canonical order. Named
    orders come from ``known_orders`` or from the function's own ``orders`` attribute
    (``generate.orders = {"friendly": [...]}``), so a generator named on the command line brings
    its orders along; likewise ``generate.vocab_size`` when its largest token is rare (else the
    largest token of a 16,384-row draw sets it)."""

    token_hint = "; set generate.vocab_size to the largest token + 1"

    def __init__(
        self,
        generate: Generate,
        *,
        name: str = "custom",
        vocab_size: int | None = None,
        known_orders: dict[str, Order] | None = None,
        formula: str = "user-defined generate(n, rng)",
        import_path: str | None = None,
    ) -> None:
        self._generate = generate
        self.name, self.formula, self.import_path = name, formula, import_path
        _check_signature(generate, name)
        try:
            drawn = generate(256, np.random.default_rng(0))
        except Exception as exc:  # a user's function: report it in one line, with how it is called
            raise TaskConfigError(f"task {name}: generate(256, rng) raised {type(exc).__name__}: {exc} (orderopt calls "
                                  "generate(n, rng) with n the number of rows and rng a numpy.random.Generator)") from None
        x, y = _generated_pair(drawn, 256, name)
        self.input_length, self.length = int(x.shape[1]), int(y.shape[1])
        if min(x.min(), y.min()) < 0:
            raise TaskConfigError(f"task {name}: generate returned the value {int(min(x.min(), y.min()))}; a generator "
                                  "returns token ids, integers from 0: shift its values up")
        vocab_size = vocab_size or getattr(generate, "vocab_size", None)
        if not vocab_size:  # the largest token of a larger draw: a rare large value must not end a run later
            wide = max(int(a.max()) for a in self._draw(FINITE_PROBE_ROWS, np.random.default_rng(1)))
            vocab_size = max(int(x.max()), int(y.max()), wide) + 1
            if vocab_size > MAX_VOCAB:  # token ids, not values: say so rather than count "distinct tokens"
                raise TaskConfigError(f"task {name}: generate returned token ids up to {vocab_size - 1}; ids index "
                                      f"an embedding table of at most {MAX_VOCAB:,} rows: number the values a "
                                      "generator can return 0, 1, 2, ... and return those ids")
        self.vocab_size = int(vocab_size)
        check_size(name, self.length, self.input_length, self.vocab_size)
        self._check(x, y, 256)
        self._check_draws_follow_rng(x, y)
        own = _named_orders(getattr(generate, "orders", None), self.length, f"task {name}: {name}.orders", TaskConfigError)
        self._known = {**own, **_named_orders(known_orders, self.length, f"task {name}", TaskConfigError)}

    def _check_draws_follow_rng(self, x: np.ndarray, y: np.ndarray) -> None:
        """Refuse a generator that ignores its ``rng``: its data would change from run to run (or,
        seeded inside, repeat in every draw, so held-out rows would be training rows)."""
        fix = ("draw every random number from the rng argument (rng.integers(...), not np.random, random or "
               "torch's global generator)")
        again = [np.asarray(a) for a in self._draw(256, np.random.default_rng(0))]
        if not (np.array_equal(again[0], x) and np.array_equal(again[1], y)):
            raise TaskConfigError(f"task {self.name}: generate(256, rng) gave different rows for the same seed, so "
                                  f"no run could be repeated; {fix}")
        other = [np.asarray(a) for a in self._draw(256, np.random.default_rng(1))]
        if len(np.unique(_row_keys(x))) > 1 and np.array_equal(other[0], x):
            raise TaskConfigError(f"task {self.name}: generate(256, rng) gave the same rows for two different seeds, so "
                                  f"every draw would repeat them; {fix}")

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if self.rows() is not None:  # few distinct inputs: drawn from the fixed rows, never a test row
            return self._draw_seen(n, rng)
        return self._draw(n, rng)

    def _draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return _generated_pair(self._generate(n, rng), n, self.name)

    def rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``None`` for a generator of many distinct inputs; for one of few (a small input space,
        which held-out rows unseen in training would soon exhaust), the rows it draws, kept once
        per input and then split like a dataset file (:meth:`Task.partition`)."""
        if not hasattr(self, "_finite_rows"):
            self._finite_rows = self._collect_finite_rows()
        return self._finite_rows

    def _collect_finite_rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Draw chunks until they bring almost no new input (a finite space: its rows) or until
        the space looks large (a first chunk nearly all new, or no saturation within the cap)."""
        rng = np.random.default_rng(0xF1417E)
        seen: set = set()
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        for chunk in range(FINITE_PROBE_CHUNKS):
            x, y = self._check(*self._draw(FINITE_PROBE_ROWS, rng), FINITE_PROBE_ROWS)
            keys = _row_keys(x)
            _, first = np.unique(keys, return_index=True)
            first = np.sort(first)
            fresh = first[np.fromiter((k not in seen for k in keys[first].tolist()), bool, len(first))]
            share_new = len(fresh) / FINITE_PROBE_ROWS
            if chunk == 0 and share_new >= LARGE_SPACE_SHARE:
                return None
            seen.update(keys[fresh].tolist())
            xs.append(x[fresh])
            ys.append(y[fresh])
            if share_new < SATURATED_SHARE:
                return np.concatenate(xs), np.concatenate(ys)
        return None

    def rows_wording(self) -> dict[str, str]:
        return {"has": "draws only {n:,} distinct inputs (kept as fixed rows)",
                "remedy": "More rows: a generator with more distinct inputs (longer inputs or more values)."}

    def known_orders(self) -> dict[str, Order]:
        return {**super().known_orders(), **self._known}

    def portable(self) -> bool:
        return self.import_path is not None

    def __reduce__(self):
        """Pickled by import path when it has one (another process, e.g. a training worker,
        imports the function again, from a file too); an in-memory function pickles as usual."""
        if self.import_path:
            return _rebuild_callable, (self.import_path, self.name, self.vocab_size, self._known)
        return super().__reduce__()

    def spec(self) -> dict[str, Any]:
        if not self.import_path:
            raise TaskConfigError(
                f"task {self.name} was built from a function other processes cannot import (a lambda, a nested "
                "function or a notebook cell); define generate at the top level of a .py file or module"
            )
        return {"name": "callable", "import_path": self.import_path, "vocab_size": self.vocab_size}


def _rebuild_callable(import_path: str, name: str, vocab_size: int, known: dict[str, Order]) -> CallableTask:
    """Unpickle a :class:`CallableTask` (the process that pickled it trusted its import path)."""
    trust_import(import_path)
    return CallableTask(load_callable(import_path), name=name, vocab_size=vocab_size, known_orders=known,
                        import_path=import_path)


def import_path_of(function: Any) -> str | None:
    """``module:function`` (or ``/abs/file.py:function`` for a running script) of a function
    defined at the top level of a module or script file; ``None`` for a lambda, a nested
    function or one defined in a notebook, which other processes cannot import."""
    name = getattr(function, "__qualname__", "")
    module = sys.modules.get(getattr(function, "__module__", None) or "")
    if not name.isidentifier() or module is None or getattr(module, name, None) is not function:
        return None
    if module.__name__ != "__main__":
        return f"{module.__name__}:{name}"
    file = getattr(module, "__file__", None)
    return f"{Path(file).resolve()}:{name}" if file and file.endswith(".py") else None


def from_callable(generate: Generate | str, *, name: str | None = None, trusted: bool = True,
                  **kwargs: Any) -> CallableTask:
    """Public constructor for a user task; ``generate`` may be an import path ``mod:function``,
    which the caller thereby trusts (see :func:`is_trusted`)."""
    if not isinstance(generate, str):
        derived = import_path_of(generate)
        if derived is not None and trusted:  # top-level: a study stores it, other processes import it by path
            trust_import(derived)
        return CallableTask(generate, name=name or getattr(generate, "__name__", "custom"), import_path=derived,
                            **kwargs)
    path = normalise_import_path(generate)
    if trusted:
        trust_import(path)
    module_name, attr = _split_import_path(path)
    default = Path(module_name).stem if is_file_path(module_name) else module_name.rsplit(".", 1)[-1]
    return CallableTask(load_callable(path), name=name or (default if attr == "generate" else attr),
                        import_path=path, **kwargs)


ORDER_PREFIX = "order_"  # .npz arrays order_<name>: the dataset's named orders
# The names inputs and targets may go by, in every form (.npz arrays, JSON fields, a generator's
# dict), first preferred: what users' own data files already call them.
FIELDS = {"input": ("x", "input", "inputs", "X"), "target": ("y", "target", "targets", "Y")}


def _pick(fields: Any, kind: str) -> str | None:
    """The name under which ``fields`` (array names, an object's keys) holds ``kind``."""
    return next((name for name in FIELDS[kind] if name in fields), None)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, list[int]]]:
    if not zipfile.is_zipfile(path):  # numpy's own error for this speaks of pickles, which misleads
        raise DatasetError(f"{path}: not an .npz archive (an .npz file is a zip of arrays; this one is not, e.g. "
                           "an .npy file renamed or a partial copy); save with np.savez(path, x=..., y=...)")
    try:
        with np.load(path, allow_pickle=False) as data:
            names = {kind: _pick(data.files, kind) for kind in FIELDS}
            missing = [FIELDS[kind][0] for kind, name in names.items() if name is None]
            if missing:
                raise DatasetError(f"{path}: missing array(s) {', '.join(missing)} (it holds {', '.join(data.files) or 'none'}); "
                                   "save with np.savez(path, x=..., y=...)")
            x, y = data[names["input"]], data[names["target"]]
            orders = {k[len(ORDER_PREFIX):]: data[k].ravel().tolist() for k in data.files if k.startswith(ORDER_PREFIX)}
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable .npz file ({exc}); save with np.savez(path, x=..., y=...)") from None
    x, y = as_tokens(x, f"{path}: array x", DatasetError), as_tokens(y, f"{path}: array y", DatasetError)
    for arr, key in ((x, "x"), (y, "y")):
        if arr.ndim != 2:
            raise DatasetError(f"{path}: array {key} has shape {arr.shape}; it must be 2-D (samples, positions)")
    if len(x) != len(y):
        raise DatasetError(f"{path}: x has {len(x)} rows but y has {len(y)}; they must match")
    return x, y, orders  # int64 already (as_tokens)


def _json_rows(path: Path) -> tuple[list[tuple[str, Any]], bool]:
    """A JSON file's rows with where each stands: JSON lines (one object per line), or a file
    holding one JSON array of objects (what ``json.dump(rows, f)`` writes); and whether its text
    holds a ``true``, ``false`` or ``null``, which bulk conversion would take for numbers."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    if text.lstrip().startswith("["):
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None  # JSON lines whose first line is an array: reported line by line below
        if isinstance(whole, list):
            return [(f"item {i}", row) for i, row in enumerate(whole)], _has_literals(text)
    rows = []
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((f"line {no}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}, line {no}: not valid JSON ({exc.msg}); each line must be {{\"input\": [...], "
                               "\"target\": [...]}") from None
    return rows, _has_literals(text)


def _has_literals(text: str) -> bool:
    return "true" in text or "false" in text or "null" in text


def _whole_arrays(rows: list[tuple[str, Any]]) -> tuple[np.ndarray, np.ndarray, dict[str, list[int]]] | None:
    """The rows of a well-formed file as arrays, checked in bulk (a 300,000-row file in about half
    the row-by-row time); ``None`` for anything unusual, which the row-by-row reader
    then names by line."""
    orders: dict[str, list[int]] = {}
    if rows and isinstance(rows[0][1], dict) and set(rows[0][1]) == {"orders"}:
        orders, rows = rows[0][1]["orders"], rows[1:]
    try:  # the first row's names for all: a row named otherwise fails here and is read row by row
        first = rows[0][1]
        x_name, y_name = _pick(first, "input"), _pick(first, "target")
        xs = [row[x_name] for _, row in rows]
        ys = [row[y_name] for _, row in rows]
        x, y = np.asarray(xs), np.asarray(ys)
    except (TypeError, KeyError, IndexError, ValueError, OverflowError):  # no rows, not objects, a missing field, ragged, huge
        return None
    if not isinstance(orders, dict):
        return None
    for arr in (x, y):
        if arr.ndim != 2 or arr.dtype.kind not in "iuf" or not arr.size:
            return None
        if np.abs(arr).max() > _INT_LIMIT or (arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr))):
            return None
    return x.astype(np.int64), y.astype(np.int64), orders


def _read_jsonl(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, list[int]]]:
    rows, has_literals = _json_rows(path)
    whole = None if has_literals else _whole_arrays(rows)  # true/false/null: the row-by-row reader refuses them
    if whole is not None:
        return whole
    xs: list[list[int]] = []
    ys: list[list[int]] = []
    orders: dict[str, list[int]] = {}
    for where, row in rows:
        if not isinstance(row, dict):
            raise DatasetError(f"{path}, {where}: expected an object with fields input and target")
        if not xs and not orders and set(row) == {"orders"}:  # a header: the dataset's named orders
            if not isinstance(row["orders"], dict):
                raise DatasetError(f"{path}, {where}: field 'orders' must map names to lists of target indices")
            orders = row["orders"]
            continue
        for field, out in (("input", xs), ("target", ys)):
            name = _pick(row, field) or field
            seq = row.get(name)
            if not isinstance(seq, list) or not all(_is_integral(v) for v in seq):
                got = f"got {seq!r:.60}" if name in row else f"the object has fields {', '.join(map(repr, row))}"
                hint = ("; tokens are integers: number the distinct strings 0, 1, 2, ... and write those"
                        if isinstance(seq, (str, list)) and any(isinstance(v, str) for v in seq) else "")
                raise DatasetError(f"{path}, {where}: field {field!r} (or {FIELDS[field][0]!r}) must be a list of "
                                   f"integers, {got}{hint}")
            seq = [int(v) for v in seq]
            if any(abs(v) > _INT_LIMIT for v in seq):
                raise DatasetError(f"{path}, {where}: field {name!r} holds a value beyond +-{_INT_LIMIT}; token "
                                   "values must be small integers")
            if out and len(seq) != len(out[0]):
                fix = ("every row must hold the same L targets" if field == "target" else
                       "pad every input to one length with a value of its own, e.g. -1")
                raise DatasetError(f"{path}, {where}: field {name!r} has length {len(seq)}, earlier rows have "
                                   f"{len(out[0])}; {fix}")
            out.append(seq)
    if not xs:
        raise DatasetError(f"{path}: no samples; write one JSON object per line")
    return np.asarray(xs, dtype=np.int64), np.asarray(ys, dtype=np.int64), orders


CSV_COLUMNS = {"x": "input", "input": "input", "y": "target", "target": "target"}  # header prefix: what a column holds
CSV_FORM = "a header row x0,x1,..,y0,y1,.. (inputs x..., targets y... in their canonical order), then one row per sample"


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, list[int]]]:
    """A CSV file with a header: columns named ``x...`` (or ``input...``) are inputs, ``y...`` (or
    ``target...``) targets, whose left to right order is the canonical order; every other cell an
    integer. Named orders are not part of the format: give them as ``--order 2,0,1,..``."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # -sig: Excel's byte-order mark
            header = [name.strip() for name in next(csv.reader(fh), [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read as CSV ({exc}); write {CSV_FORM}") from None
    if not any(header):
        raise DatasetError(f"{path}: no header on the first line (the file is empty or starts with a blank line); "
                           f"write {CSV_FORM}")
    kinds = [next((kind for prefix, kind in CSV_COLUMNS.items() if name.lower().startswith(prefix)), None)
             for name in header]
    if None in kinds:
        bad = header[kinds.index(None)]
        hint = " (the first row must be a header)" if bad.lstrip("-").replace(".", "", 1).isdigit() else ""
        raise DatasetError(f"{path}: column {bad!r} is neither an input (x...) nor a target (y...){hint}; "
                           f"write {CSV_FORM}")
    if "input" not in kinds or "target" not in kinds:
        raise DatasetError(f"{path}: the header names no {'input (x...)' if 'input' not in kinds else 'target (y...)'} "
                           f"column; write {CSV_FORM}")
    try:  # numpy's C parser, several times faster than the csv module on large files
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
            values = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2, encoding="utf-8-sig",
                                quotechar='"', comments=None)
    except ValueError as exc:
        _raise_csv_cell_error(path, header)  # names the line and column when the csv module can
        raise DatasetError(f"{path}: not readable as CSV ({exc}); write {CSV_FORM}") from None
    if not values.size:
        raise DatasetError(f"{path}: no samples below the header")
    if values.shape[1] != len(header):
        raise DatasetError(f"{path}: rows have {values.shape[1]} cells, the header has {len(header)}")
    columns = {kind: [i for i, k in enumerate(kinds) if k == kind] for kind in ("input", "target")}
    x, y = (as_tokens(values[:, columns[kind]], f"{path}: a{'n' if kind == 'input' else ''} {kind} column", DatasetError)
            for kind in ("input", "target"))
    return x, y, {}


def _raise_csv_cell_error(path: Path, header: list[str]) -> None:
    """Name the first row or cell numpy could not read: its line, its column, what it holds."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for no, row in enumerate(csv.reader(fh), 1):
            if no == 1 or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DatasetError(f"{path}, line {no}: {len(row)} cells, the header has {len(header)}")
            for name, cell in zip(header, row):
                try:
                    float(cell)
                except ValueError:
                    raise DatasetError(f"{path}, line {no}, column {name}: {cell!r} is not a number; every cell "
                                       "below the header must be an integer") from None


_READERS = {".npz": _read_npz, ".csv": _read_csv}  # any other suffix of DATASET_SUFFIXES is JSON


@functools.lru_cache(maxsize=2)
def _read_dataset(path: str, mtime_ns: int, size: int) -> tuple[np.ndarray, np.ndarray, dict[str, list[int]]]:
    """A file read once per process while it is unchanged: a search or verification rebuilds its
    task from the study several times. The arrays are read-only, being shared."""
    del mtime_ns, size  # the cache key: an edited file is read again
    file = Path(path)
    x, y, orders = _READERS.get(file.suffix.lower(), _read_jsonl)(file)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y, orders


class DatasetTask(Task):
    """A fixed dataset: its rows are split once, by input, into training, validation and test
    parts (:meth:`Task.partition`)."""

    def __init__(self, path: str | Path, *, name: str | None = None) -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_file():
            raise DatasetError(f"dataset file {path} does not exist; give an existing .npz, .jsonl, .json or .csv file")
        suffix = self.path.suffix.lower()
        if suffix not in DATASET_SUFFIXES:
            raise DatasetError(f"dataset file {path} has suffix {suffix!r}; use one of {', '.join(DATASET_SUFFIXES)}")
        stat = self.path.stat()
        x, y, orders = _read_dataset(str(self.path), stat.st_mtime_ns, stat.st_size)
        if len(x) == 0:
            raise DatasetError(f"{path}: no samples; the file must hold at least 3 rows")
        if y.shape[1] < 1 or x.shape[1] < 1:
            raise DatasetError(f"{path}: inputs and targets must be non-empty")
        # Token t is the t-th smallest value the file holds: a file's rows are all the rows there are,
        # so no unseen value can turn up later, and values 0, 100, 200 cost 3 embedding rows, not 201.
        self._values = np.unique(np.concatenate([x.ravel(), y.ravel()]))
        if len(self._values) > MAX_VOCAB:
            raise DatasetError(f"{path}: holds {len(self._values)} distinct values (x holds {int(x.min())}..{int(x.max())}, "
                               f"y holds {int(y.min())}..{int(y.max())}), above orderopt's limit of {MAX_VOCAB} "
                               "distinct tokens; bin them into fewer levels")
        self.offset = -int(self._values[0])  # exact for a file whose values leave no gap; values() is exact always
        self.x, self.y = np.searchsorted(self._values, x), np.searchsorted(self._values, y)
        self.name = name or self.path.name  # with its suffix: data.npz and data.jsonl are two tasks
        self.length, self.input_length = int(y.shape[1]), int(x.shape[1])
        self.vocab_size = len(self._values)
        try:
            check_size(self.name, self.length, self.input_length, self.vocab_size)
        except TaskConfigError as exc:
            raise DatasetError(f"{path}: {exc}") from None
        self.formula = f"dataset {self.path.name}: {len(x)} samples"
        self._known = _named_orders(orders, self.length, str(path), DatasetError)
        try:
            self.partition()  # refuse a file no split can use now, not in the middle of a command
        except TaskConfigError as exc:
            raise DatasetError(f"{path}: {exc}") from None

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x, self.y

    def known_orders(self) -> dict[str, Order]:
        return {**super().known_orders(), **self._known}

    def values(self, tokens: np.ndarray) -> np.ndarray:
        """Token ids back to the file's own values."""
        return self._values[np.asarray(tokens)]

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` rows drawn with replacement from the training and validation parts (never a test row)."""
        return self._draw_seen(n, rng)

    def spec(self) -> dict[str, Any]:
        return {"name": "file", "path": str(self.path)}


def from_file(path: str | Path, *, name: str | None = None) -> DatasetTask:
    """Public constructor for a dataset-file task."""
    return DatasetTask(path, name=name)
