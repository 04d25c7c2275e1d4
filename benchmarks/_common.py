"""Helpers shared by the benchmarks: machine description and Markdown result files."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]  # where git names the code behind a run
RESULTS = REPOSITORY / "benchmarks" / "results"
# A search discovers when its found #1 trains to at least the friendly order's exact-match success
# minus this (discovery.py, search_acceptance.py).
DISCOVERY_TOLERANCE = 0.05


@lru_cache(maxsize=1)
def machine() -> str:
    """One line: CPU, cores, torch build and device (GPU name when CUDA is used)."""
    try:
        import torch

        dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        # "AMD EPYC" has named hosts of different speed (one step of the cpu preset's final model:
        # 54 ms on one, 150 ms on another with AVX2); record the vector unit torch dispatches to.
        tv = f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), {dev}"
    except ImportError:
        tv = "torch not installed"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {tv}, numpy {np.__version__}"


@lru_cache(maxsize=1)
def commit() -> str:
    """Short hash of the commit checked out when this benchmark started (it imports orderopt from
    the working tree then): records name the code that made them, even when a later commit lands
    while a long run is still going."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPOSITORY,
                          capture_output=True, text=True).stdout.strip()


commit()  # at import, i.e. when the benchmark starts


@lru_cache(maxsize=None)
def code_version(made_at: str | None) -> str | None:
    """The last commit at or before ``made_at`` that changed the package (``orderopt/``): records made
    at different commits of the same package code share it, so a table can say whether its rows come
    from one version of the code. None when ``made_at`` was not recorded or is not in this history."""
    if not made_at:
        return None
    out = subprocess.run(["git", "log", "-1", "--abbrev=7", "--format=%h", made_at, "--", ":/orderopt/"],
                         cwd=REPOSITORY, capture_output=True, text=True)
    return out.stdout.strip() or None


def code_line(records: list[dict]) -> str:
    """``orderopt/ as of 817159b (all 9 runs)``, or each version with its count of runs when the
    records (each with the ``commit`` that made it, where recorded) come from several."""
    versions = [code_version(rec.get("commit")) for rec in records]
    if one := _all_one(versions):
        return f"orderopt/ as of {one}"
    known, unrecorded = _tally(versions)
    return "; ".join((["orderopt/ as of " + ", ".join(known)] if known else []) + unrecorded)


def machine_line(records: list[dict]) -> str:
    """The machine(s) the ``records`` behind a table's rows ran on, with their count of runs: a table
    written from the cache names where its runs were made, not where it was written."""
    machines = [rec.get("machine") for rec in records]
    if one := _all_one(machines):
        return one
    known, unrecorded = _tally(machines)
    return "; ".join(known + unrecorded)


def _all_one(values: list[str | None]) -> str | None:
    """``value (all N runs)`` (or ``(1 run)``) when every run recorded the same value, else None."""
    if values[0] and len(set(values)) == 1:
        return f"{values[0]} ({f'all {len(values)} runs' if len(values) > 1 else '1 run'})"
    return None


def _tally(values: list[str | None]) -> tuple[list[str], list[str]]:
    """``value (N runs)`` for each recorded value, most runs first, and ``not recorded (N runs)`` (when
    some record lacks it): how a table's header lines count the runs behind its rows."""
    counts = Counter(values)
    known = [f"{v} ({_runs(n)})" for v, n in counts.most_common() if v]
    return known, [f"not recorded ({_runs(counts[None])})"] if None in counts else []


def _runs(n: int) -> str:
    return f"{n} run{'s' if n != 1 else ''}"


def host_notes(records: list[dict], label=None) -> str:
    """A sentence naming the host of every row made elsewhere than this machine (records keep the
    ``machine`` they ran on; older records without one ran on an unrecorded earlier host), so one
    table can mix hosts of different speed without misleading. ``label(rec)`` names a row; rows are
    numbered from 1 when ``label`` is None."""
    here = machine()
    away: dict[str, list[str]] = {}
    for number, rec in enumerate(records, 1):
        host = rec.get("machine", "an earlier host (not recorded)")
        if host != here:
            away.setdefault(host, []).append(label(rec) if label else number)
    return " ".join(f"{_spans(rows)}: ran on {host}." for host, rows in away.items())


def _spans(labels: list) -> str:
    """``rows 1-9, 12`` for row numbers, the labels joined otherwise."""
    if not all(isinstance(v, int) for v in labels):
        return ", ".join(map(str, labels))
    spans, start = [], labels[0]
    for prev, cur in zip(labels, labels[1:] + [None]):
        if cur != prev + 1:
            spans.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = cur
    return ("row " if len(labels) == 1 else "rows ") + ", ".join(spans)


def command_line() -> str:
    return "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0]), *sys.argv[1:]])


def commands_line(records: list[dict]) -> str | None:
    """The commands that made ``records`` (each with its count of runs), when any was not this one
    (``--rerun`` aside): a table written from the cache, or holding the runs of several sweeps, says
    which commands re-make its rows. None when this command made them all (or none was recorded)."""
    commands = [f"`{c}`" if (c := rec.get("command", "").replace(" --rerun", "")) else None for rec in records]
    if not set(commands) - {None, f"`{command_line().replace(' --rerun', '')}`"}:
        return None
    known, unrecorded = _tally(commands)
    return "; ".join(known + unrecorded)


def in_topic(topic: str, name: str) -> str:
    """``name`` inside the results folder of its question (``profiling/profile_length``), unless it
    names a folder already."""
    return name if "/" in name else f"{topic}/{name}"


def write_table(name: str, title: str, header: list[str], rows: list[list[object]], notes: str = "",
                records: list[dict] | None = None) -> Path:
    """Write ``benchmarks/results/<name>.md`` with the command and machine that made it and which
    version(s) of the package code made its rows: those of the ``records`` behind them, or, with no
    records (a table measured afresh by this command, nothing cached), this command's. An empty
    ``header`` writes the notes alone (a command whose sections are all in its notes)."""
    (RESULTS / name).parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# {title}",
        "",
        f"- command: `{command_line()}`",
        f"- machine: {machine_line(records) if records else machine()}",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        *([f"- code: {code}"] if (code := _code_of(records)) else []),
        *([f"- runs made by: {made_by}"] if records and (made_by := commands_line(records)) else []),
        *(["", "| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |",
           *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)] if header else []),
    ]
    if notes:
        lines += ["", notes.strip()]
    path = RESULTS / f"{name}.md"
    partial = path.with_suffix(f".md.{os.getpid()}.tmp")  # a reader never sees a half-written table
    partial.write_text("\n".join(lines) + "\n")
    os.replace(partial, path)
    return path


def _code_of(records: list[dict] | None) -> str | None:
    """The ``code`` header line: the versions behind ``records``, or this command's when the table has
    none (measured afresh); None for an empty table or outside a git checkout."""
    if records:
        return code_line(records)
    if records is None and (version := code_version(commit())):
        return f"orderopt/ as of {version} (this command)"
    return None


def stale(rec: dict) -> bool:
    """Made by another version of orderopt/ than the one checked out (or before records named their
    commit): ``--rerun`` makes it again, so a table can come from one version of the code. A run this
    version made is kept, so an interrupted ``--rerun`` resumes."""
    return code_version(rec.get("commit")) != code_version(commit())


def shown(records: list[dict], rerun: bool) -> list[dict]:
    """The records a table shows: under ``--rerun`` only this version's, so the runs of an older sweep
    (another recipe, say) drop out and the table comes from one version of the code; without it, all."""
    return [rec for rec in records if not (rerun and stale(rec))]


def discard_study(name: str, storage) -> None:
    """Delete study ``name`` from ``storage`` (a URL or storage object), if it is there: a timed
    search must start from nothing, not resume what an interrupted run or another version left."""
    import optuna

    try:
        optuna.delete_study(study_name=name, storage=storage)
    except KeyError:
        pass


def add_rerun_option(ap) -> None:
    """The ``--rerun`` option every benchmark shares (see ``stale``)."""
    ap.add_argument("--rerun", action="store_true",
                    help="make again every run of this command that another version of orderopt/ made (the old "
                         "record stays in the .jsonl as history; the table shows the new one); runs this version "
                         "made are kept, so an interrupted --rerun resumes")


class RunCache:
    """Finished runs of a benchmark, one JSON line each in ``results/<name>.jsonl``: an interrupted
    benchmark resumes where it stopped, and the committed file is the raw data behind its table.

    A run is identified by the values of ``key_fields`` in its record; when a run is recomputed
    (``refresh``) the new record is appended and, being later in the file, wins on load, so the
    file keeps the superseded one as history.

    Several processes may share one file (two benchmarks side by side): every ``run`` re-reads it
    first, so a run another process finished counts as cached and a table written afterwards from
    ``records`` lists it too."""

    def __init__(self, name: str, key_fields: tuple[str, ...]) -> None:
        self.path = RESULTS / f"{name}.jsonl"
        self.key_fields = key_fields
        self.records: dict[tuple, dict] = {}
        self._used: dict[tuple, dict] = {}  # what ``run`` returned in this process, each run once
        self._size_read = -1  # the file only grows (runs are appended), so an unchanged size means nothing new
        self.reload()

    def reload(self) -> None:
        """Read the file again if it grew: the runs other processes appended since are added (in
        file order)."""
        size = self.path.stat().st_size if self.path.exists() else -1
        if size == self._size_read:
            return
        self._size_read = size
        records: dict[tuple, dict] = {}
        for line in self.path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                records[self._key(rec)] = rec
        self.records = records

    def _key(self, fields: dict) -> tuple:
        return tuple(json.dumps(fields.get(f), sort_keys=True) for f in self.key_fields)

    def get(self, fields: dict) -> dict | None:
        """The cached record of the run with these key fields, if any."""
        return self.records.get(self._key(fields))

    def needs(self, fields: dict, rerun: bool = False) -> bool:
        """Whether ``run`` would compute this run: not cached, or stale under ``rerun``."""
        rec = self.get(fields)
        return rec is None or (rerun and stale(rec))

    def run(self, fields: dict, compute, *, refresh: bool = False, rerun: bool = False) -> dict:
        """The cached record, or ``{**fields, **compute()}`` computed now and appended to the file:
        always with ``refresh``; with ``rerun`` when the cached record is ``stale``."""
        key = self._key(fields)
        self.reload()
        if refresh or self.needs(fields, rerun):
            rec = {**fields, **compute()}
            rec.setdefault("commit", commit())  # every record names the code, host and command that made it
            rec.setdefault("machine", machine())
            rec.setdefault("command", command_line())
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            self.reload()  # with what other processes appended while this one computed
            self.records[key] = rec
        self._used.setdefault(key, self.records[key])  # a run two tables share counts once
        return self.records[key]

    @property
    def used(self) -> list[dict]:
        """The runs ``run`` returned in this process, in first-use order: those behind this command's table."""
        return list(self._used.values())
