"""The planning lock: shared by processes on RDB storages, a warning where it cannot be."""

from __future__ import annotations

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from orderopt.samplers import HierarchicalOrderSampler, suggest_order
from orderopt.samplers import _locking


def _objective(trial):
    return float(suggest_order(trial, 5)[0])


def test_storage_without_a_cross_process_lock_warns(tmp_path, monkeypatch):
    monkeypatch.setattr(_locking, "_WARNED", set())
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    study = optuna.create_study(storage=storage, sampler=HierarchicalOrderSampler(seed=0))
    with pytest.warns(UserWarning, match="no lock shared between processes.*same order twice"):
        study.optimize(_objective, n_trials=3)
    assert len(study.trials) == 3


def test_in_memory_and_sqlite_storages_do_not_warn(tmp_path, recwarn, monkeypatch):
    monkeypatch.setattr(_locking, "_WARNED", set())
    for storage in (None, f"sqlite:///{tmp_path / 'o.db'}"):
        optuna.create_study(storage=storage, sampler=HierarchicalOrderSampler(seed=0)).optimize(_objective, n_trials=3)
    assert not [w for w in recwarn if "no lock shared" in str(w.message)]
    assert (tmp_path / "o.db.orderopt-lock").exists()
