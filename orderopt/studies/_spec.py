"""What a study searches, stored in the study's user attrs so any worker can join by name."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import optuna

from orderopt.errors import ConfigError

__all__ = ["StudySpec", "SPEC_ATTR", "read_spec", "write_spec"]

SPEC_ATTR = "orderopt_spec"
SEARCH_MODES = ("mixture", "trial")


@dataclass
class StudySpec:
    """Task, profiling and schedule settings of an order-search study (JSON-able)."""

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
    version: int = field(default=1)

    def check(self) -> StudySpec:
        if self.mode not in SEARCH_MODES:
            raise ConfigError(f"unknown search mode {self.mode!r}; use mixture or trial")
        return self

    def same_problem(self, other: StudySpec) -> bool:
        return self.task == other.task and self.length == other.length


def read_spec(study: optuna.Study) -> StudySpec | None:
    raw = study.user_attrs.get(SPEC_ATTR)
    return StudySpec(**raw) if raw else None


def write_spec(study: optuna.Study, spec: StudySpec) -> None:
    study.set_user_attr(SPEC_ATTR, asdict(spec))
    study.set_user_attr("task", spec.task.get("name"))
    study.set_user_attr("L", spec.length)
