"""The sampler's only contact with Optuna internals (checked against optuna 4.0-5.1).

Optuna gives samplers no public access to a study's storage, its id or a trial's id, which a
sampler needs to keep its bookkeeping on the trials it plans and to take a lock shared by every
process of the study. Reading this file is all an Optuna upgrade requires.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial

__all__ = ["storage_of", "study_id_of", "trial_id_of", "backend_of", "set_trial_attrs"]


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


def set_trial_attrs(storage: optuna.storages.BaseStorage, trial_id: int, user: Mapping[str, Any],
                    system: Mapping[str, Any]) -> None:
    """Write a running trial's user and system attrs. An RDB storage takes them in one
    transaction (one commit, where the public API commits once per attr: on SQLite each commit
    is a sync to disk); any other storage, or an Optuna without the RDB helper, gets the public
    per-attr calls."""
    backend = backend_of(storage)
    if isinstance(backend, RDBStorage) and hasattr(backend, "_set_trial_attr_without_commit"):
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(backend.scoped_session, True) as session:
            for model, attrs in ((models.TrialUserAttributeModel, user), (models.TrialSystemAttributeModel, system)):
                for key, value in attrs.items():
                    backend._set_trial_attr_without_commit(session, model, trial_id, key, value)  # noqa: SLF001
        return
    for key, value in user.items():
        storage.set_trial_user_attr(trial_id, key, value)
    for key, value in system.items():
        storage.set_trial_system_attr(trial_id, key, value)
