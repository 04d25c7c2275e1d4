"""What a study searches and how, stored in the study's user attrs so any worker can join by name.

The spec is versioned twice: ``version`` (the layout of this record) and ``schedule_version``
(the stages the sampler replays; a changed schedule would silently change a resumed study). A
study made by another version is refused with a clear message instead of being resumed wrongly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import optuna

from orderopt.errors import ConfigError
from orderopt.presets import Preset, preset_for
from orderopt.profiling import ProfileConfig, config_from_preset
from orderopt.samplers import SCHEDULE_VERSION
from orderopt.tasks import spec_label

__all__ = ["StudySpec", "SPEC_ATTR", "SPEC_VERSION", "SEARCH_MODES", "SEARCH_SETTINGS", "PRUNINGS", "PRIORS", "LEARNABILITY",
           "read_spec",
           "write_spec", "is_orderopt_study"]

SPEC_ATTR = "orderopt_spec"
# 3: a mixture search's round sizes default to the preset's mixture_size (prod: 128), and prod
# profiles train on sparse operands; a version-2 study would resume on other rounds and data
SPEC_VERSION = 3
SEARCH_MODES = ("mixture", "trial")
# settings that decide which orders a study tries (checked when a study is resumed)
SEARCH_SETTINGS = ("preset", "mode", "signal", "steps", "val_per_order", "seed", "levels", "init", "blocks",
                   "population", "round_size", "incumbents", "patience", "references", "tournament_size",
                   "tournament_runs", "model_proposals", "pruning", "prior", "learnability")
PRUNINGS = ("none", "rank")
PRIORS = ("dependency", "none")
LEARNABILITY = ("check", "none")


@dataclass
class StudySpec:
    """Task, profiling and schedule settings of an order-search study (JSON-able).

    ``None`` for a schedule size means the mode's default (see :meth:`resolved`)."""

    task: dict[str, Any]
    length: int
    preset: str = "cpu"
    mode: str = "mixture"  # mixture rounds, or one profile per trial
    signal: str = "index"
    steps: int | None = None
    val_per_order: int | None = None
    seed: int = 0
    levels: int = 3
    init: str = "random"
    blocks: list[int] | None = None
    population: int | None = None
    round_size: int | None = None
    incumbents: int | None = None
    patience: int | None = None
    references: int | None = None
    tournament_size: int | None = None
    tournament_runs: int | None = None
    model_proposals: int | None = None
    pruning: str | None = None
    prior: str = "dependency"  # the dependency probe's order seeds the search (see orderopt.dependency)
    learnability: str = "check"  # a new study first checks that profiles tell orders apart (orderopt.learnability)
    version: int = field(default=SPEC_VERSION)
    schedule_version: int = field(default=SCHEDULE_VERSION)

    def resolved(self) -> StudySpec:
        """This spec with every ``None`` schedule size replaced by the mode's default.

        Mixture rounds (the choices are measured in the README's search section): ``global-1``
        of 512 random orders (the preset's ``mixture_size``, with the task's recipe: ``prod``
        128), rounds of up to as many orders around the best 4 plus 32 orders
        proposed by the precedence model, 4 references per round (plus the fixed panel that sets
        each round's scale), no pruning inside a round, local rounds until 2 in a row gain less
        than 2%, then a tournament of the best 16 and up to 8 round winners in 2 runs. One profile per trial (``trial`` mode) keeps the paper's schedule with
        ``T = (K+1)!`` and prunes the worse half of a stage's profiles from mid-training on."""
        if self.mode == "mixture":
            size = self.task_preset().mixture_size
            defaults = {"population": size, "round_size": size, "incumbents": 4, "patience": 2, "references": 4,
                        "tournament_size": 16, "tournament_runs": 2, "model_proposals": 32, "pruning": "none"}
        else:
            defaults = {"population": math.factorial(self.levels + 1), "round_size": 24, "incumbents": 1,
                        "patience": 2, "references": 0, "tournament_size": 0, "tournament_runs": 2,
                        "model_proposals": 0, "pruning": "rank"}
        values = {k: (getattr(self, k) if getattr(self, k) is not None else v) for k, v in defaults.items()}
        return StudySpec(**{**asdict(self), **values})

    def task_preset(self) -> Preset:
        """The study's preset with the recipe of its task's name (recipes that depend on the
        task's options need the task itself: :func:`orderopt.presets.preset_for`)."""
        return preset_for(self.preset, str(self.task.get("name", "")))

    def profile_config(self, task, device: str | None = None, seed: int | None = None) -> ProfileConfig:
        """The profile this study's rounds run on ``task`` (tournament runs give another ``seed``)."""
        return config_from_preset(
            preset_for(self.preset, task), mode="mixture" if self.mode == "mixture" else "separate",
            signal=self.signal, steps=self.steps, val_per_order=self.val_per_order,
            seed=self.seed if seed is None else seed, device=device,
        )

    def check(self) -> StudySpec:
        """Raise :class:`ConfigError` for settings no search can use (before anything is stored)."""
        if self.mode not in SEARCH_MODES:
            raise ConfigError(f"unknown search mode {self.mode!r}; use {' or '.join(SEARCH_MODES)}")
        if self.init not in ("random", "structured"):
            raise ConfigError(f"unknown init {self.init!r}; use random or structured")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"--steps must be >= 1, got {self.steps}")
        if self.val_per_order is not None and self.val_per_order < 1:
            raise ConfigError(f"--val-per-order must be >= 1, got {self.val_per_order}")
        if self.levels < 1:
            raise ConfigError(f"--levels must be >= 1, got {self.levels}")
        if self.length < 3:
            raise ConfigError(f"an order search needs L >= 3 (there are only {math.factorial(self.length)} orders "
                              f"of L={self.length}: train them all with orderopt train)")
        for name in ("population", "round_size", "incumbents", "patience", "tournament_runs"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if self.prior not in PRIORS:
            raise ConfigError(f"unknown prior {self.prior!r}; use {' or '.join(PRIORS)}")
        if self.learnability not in LEARNABILITY:
            raise ConfigError(f"unknown learnability setting {self.learnability!r}; use {' or '.join(LEARNABILITY)}")
        if self.pruning is not None and self.pruning not in PRUNINGS:
            raise ConfigError(f"unknown pruning {self.pruning!r}; use {' or '.join(PRUNINGS)}")
        for name in ("references", "tournament_size", "model_proposals"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 0, got {value}")
        return self

    def same_problem(self, other: StudySpec) -> bool:
        """True when ``other`` searches the same task at the same length (settings may differ)."""
        return self.task == other.task and self.length == other.length

    def differences(self, asked: dict[str, Any]) -> list[str]:
        """``name: stored -> asked`` for every explicitly asked search setting that differs."""
        out = []
        for name, value in asked.items():
            if value is not None and name in SEARCH_SETTINGS and getattr(self, name) != value:
                out.append(f"{name} {getattr(self, name)} (asked {value})")
        return out


def is_orderopt_study(study: optuna.Study | optuna.study.StudySummary) -> bool:
    """True for a study that orderopt created (it carries a spec)."""
    return SPEC_ATTR in study.user_attrs


def read_spec(study: optuna.Study) -> StudySpec | None:
    """The study's spec; ``None`` for a study orderopt did not create. A spec of another
    orderopt version is a :class:`ConfigError` naming what to do."""
    raw = study.user_attrs.get(SPEC_ATTR)
    if not raw:
        return None
    known = {f.name for f in fields(StudySpec)}
    unknown = sorted(set(raw) - known)
    version = raw.get("version", 1)
    if unknown or version > SPEC_VERSION:
        raise ConfigError(f"study {study.study_name!r} was made by a newer orderopt (spec version {version}, "
                          f"unknown settings {', '.join(unknown) or 'none'}); upgrade orderopt to use it")
    if version < SPEC_VERSION or raw.get("schedule_version", 1) != SCHEDULE_VERSION:
        raise ConfigError(f"study {study.study_name!r} was made by an older orderopt (spec version {version}, "
                          f"search schedule version {raw.get('schedule_version', 1)}; this orderopt reads spec version "
                          f"{SPEC_VERSION} and replays schedule version {SCHEDULE_VERSION}); "
                          "its trials stay readable with optuna, but resume it with the orderopt that made it "
                          "or start a new study with another --study name")
    return StudySpec(**{"prior": "none", "learnability": "none", **raw})  # studies made before the probe and the check


def write_spec(study: optuna.Study, spec: StudySpec) -> None:
    """Store ``spec`` (and the task name, for the dashboard's study list) in the study."""
    study.set_user_attr(SPEC_ATTR, asdict(spec))
    study.set_user_attr("task", spec_label(spec.task))
    study.set_user_attr("L", spec.length)
