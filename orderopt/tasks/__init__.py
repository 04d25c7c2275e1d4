"""Tasks: deterministic generators of (input, canonical target) sequences.

Built-in tasks are looked up by name with :func:`make_task`; user tasks come from
:func:`from_callable` or :func:`from_file`. :func:`resolve_task` accepts any of the three
spellings the CLI takes (name, dataset path, ``module:function``).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

from orderopt.errors import DatasetError, TaskConfigError, UnknownTaskError
from orderopt.tasks.base import MAX_LENGTH, SPLIT_NAMES, Splits, Task, check_size
from orderopt.tasks.custom import (
    DATASET_SUFFIXES,
    TRUST_ENV,
    CallableTask,
    DatasetTask,
    from_callable,
    from_file,
    is_trusted,
    trust_import,
    trusted_imports,
)
from orderopt.tasks.delay import DelayTask
from orderopt.tasks.index import IndexTask
from orderopt.tasks.prod import ProdTask
from orderopt.tasks.recurrences import RECURRENCES
from orderopt.tasks.scramble import ScrambledTask, scrambled

__all__ = [
    "Task",
    "Splits",
    "SPLIT_NAMES",
    "CallableTask",
    "DatasetTask",
    "ScrambledTask",
    "scrambled",
    "TASKS",
    "make_task",
    "resolve_task",
    "task_from_spec",
    "spec_label",
    "from_callable",
    "from_file",
    "list_tasks",
    "trust_import",
    "is_trusted",
    "trusted_imports",
]

TASKS: dict[str, Callable[..., Task]] = {
    **RECURRENCES,
    "index": IndexTask,
    "prod": ProdTask,
    "delay": DelayTask,
}


def make_task(name: str, length: int | None = None, *, scramble: int | None = None, **options: Any) -> Task:
    """Build a registered task by name (``relu``, ``square``, ...); ``length`` defaults to 8.
    ``scramble=SEED`` relabels its target indices (see :func:`scrambled`)."""
    if scramble is not None:
        return scrambled(make_task(name, length, **options), scramble)
    key = name.strip().lower()
    if key not in TASKS:
        raise UnknownTaskError(
            f"unknown task {name!r}; choose one of {', '.join(TASKS)}, a dataset file "
            f"({'/'.join(DATASET_SUFFIXES)}) or module:function (run `orderopt tasks` for the list)"
        )
    kwargs = {k: v for k, v in options.items() if v is not None}
    for option in kwargs:
        if option not in _options_of(TASKS[key]):
            owners = [name for name, factory in TASKS.items() if option in _options_of(factory)]
            whose = f" (an option of {', '.join(owners)})" if owners else ""
            raise TaskConfigError(f"task {key} takes no {_flag(option)}{whose}; drop it")
    length = 8 if length is None else int(length)
    if length > MAX_LENGTH:  # refuse before building anything of that size
        raise TaskConfigError(f"task {key} with L={length} targets is above orderopt's limit of {MAX_LENGTH}; "
                              "use a smaller --length")
    try:
        task = TASKS[key](length=length, **kwargs)
    except TypeError as exc:
        raise TaskConfigError(f"task {key}: bad option ({exc})") from None
    check_size(task.name, task.length, task.input_length, task.vocab_size)
    return task


def _options_of(factory: Callable[..., Task]) -> set[str]:
    """The keyword options a built-in task's constructor takes (besides ``length``)."""
    return set(inspect.signature(factory).parameters) - {"self", "length"}


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def resolve_task(text: str, length: int | None = None, *, scramble: int | None = None, **options: Any) -> Task:
    """A task from a registered name, a dataset path or an import path ``module:function``;
    ``scramble=SEED`` relabels its target indices."""
    if scramble is not None:
        return scrambled(resolve_task(text, length, **options), scramble)
    if Path(text).expanduser().is_dir():
        raise DatasetError(f"--task {text} is a directory; give a dataset file inside it (.npz, .jsonl, .json or .csv), "
                           "a built-in task name or module:function")
    if text.lower().endswith(DATASET_SUFFIXES) or Path(text).is_file():
        task: Task = from_file(text)
    elif ":" in text and text.strip().lower() not in TASKS:
        task = from_callable(text)  # named by the caller: trusted for this process
    else:
        return make_task(text, length, **options)
    given = [_flag(k) for k, v in options.items() if v is not None]
    if given:  # silently ignored, a built-in's option would leave the user thinking it applied
        raise TaskConfigError(f"{', '.join(given)} set{'s' if len(given) == 1 else ''} an option of a built-in task; "
                              f"{text} is your own task and takes none: drop {'it' if len(given) == 1 else 'them'}")
    if length is not None and int(length) != task.length:
        raise TaskConfigError(f"{text} has targets of length {task.length}, but --length {length} was given; drop --length")
    return task


def task_from_spec(spec: dict[str, Any]) -> Task:
    """Inverse of :meth:`Task.spec` (used to rebuild a study's task in another worker)."""
    spec = dict(spec)
    if spec.get("scramble") is not None:
        seed = spec.pop("scramble")
        return scrambled(task_from_spec(spec), seed)
    spec.pop("scramble", None)
    name = spec.pop("name")
    if name == "file":
        if not Path(spec["path"]).is_file():  # a worker on another machine, or the file moved since
            raise DatasetError(f"this study's task is the dataset file {spec['path']}, which is not there on this "
                               "machine; copy it to that path (every worker reads the file the study was created with)")
        return from_file(spec["path"])
    if name == "callable":
        path = spec["import_path"]
        if not is_trusted(path):
            raise TaskConfigError(
                f"this study's task imports {path!r}, named in the study storage, not by you; anyone who can write "
                f"that database could make this process run code. If you trust it: orderopt worker --trust-import "
                f"{path} (or set {TRUST_ENV}={path.split(':')[0]})")
        return from_callable(path, vocab_size=spec.get("vocab_size"), trusted=True)
    return make_task(name, **spec)


def spec_label(spec: dict[str, Any]) -> str:
    """A task spec (:meth:`Task.spec`) in words: the built-in name, the dataset's file or the
    generator's import path, and the scramble seed if any."""
    name = spec.get("name")
    label = {"file": spec.get("path"), "callable": spec.get("import_path")}.get(str(name)) or str(name)
    if name == "file":
        label = Path(str(label)).name
    return f"{label} scrambled by seed {spec['scramble']}" if spec.get("scramble") is not None else label


def list_tasks() -> list[Task]:
    """One default-length instance of every built-in task (for `orderopt tasks`)."""
    return [factory() for factory in TASKS.values()]
