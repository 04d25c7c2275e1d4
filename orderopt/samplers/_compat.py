"""The sampler's only contact with Optuna internals (checked against optuna 4.0-5.0).

Optuna gives samplers no public access to a study's storage, its id or a trial's id, which a
sampler needs to keep its bookkeeping on the trials it plans and to take a lock shared by every
process of the study. Reading this file is all an Optuna upgrade requires.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial

__all__ = ["storage_of", "study_id_of", "trial_id_of", "backend_of"]


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The study's storage (possibly optuna's ``_CachedStorage`` wrapper)."""
    return study._storage  # noqa: SLF001


def study_id_of(study: optuna.Study) -> int:
    """The storage's id of the study."""
    return study._study_id  # noqa: SLF001


def trial_id_of(trial: FrozenTrial | optuna.Trial) -> int:
    """The storage's id of a trial."""
    return trial._trial_id  # noqa: SLF001


def backend_of(storage: Any) -> Any:
    """The storage behind optuna's ``_CachedStorage`` wrapper (the storage itself otherwise)."""
    return getattr(storage, "_backend", storage)
