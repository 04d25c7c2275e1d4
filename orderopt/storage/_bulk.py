"""Many trials in few transactions.

A mixture round creates, reports and finishes hundreds of trials at once. Optuna's storage API
writes row by row (``ask`` + ``suggest`` of an order's L-1 Lehmer digits + ``report`` x 6 +
``tell`` cost ~68 ms per trial on SQLite and ~160 ms on PostgreSQL on this project's machine), which
would cost more than the profile itself. For :class:`~optuna.storages.RDBStorage` this module
writes a whole round per step in one transaction through Optuna's own ORM models; every other
storage (in-memory, journal) gets the same effect through the public per-trial API.

This is the only module besides :mod:`orderopt.samplers._compat` that touches Optuna's private
API (the RDB layer ``optuna.storages._rdb``, a study's storage, heartbeat settings): checked
against optuna 4.0-5.1. The trial rows it writes are exactly what
``RDBStorage.create_new_trial`` / ``set_trial_intermediate_value`` / ``set_trial_state_values``
write (same numbering rule under the same study-row lock), so Optuna reads them back as usual.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, distribution_to_json
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

__all__ = ["NewTrial", "TrialResult", "create_trials", "report", "finish", "record_heartbeats", "fail_orphans",
           "set_system_attr", "trial_id", "heartbeat_interval", "grace_period"]

_CHUNK = 500  # ids per IN (...) clause


@dataclass
class NewTrial:
    """A RUNNING trial to create: params (external representation), attrs."""

    params: Mapping[str, Any] = field(default_factory=dict)
    distributions: Mapping[str, BaseDistribution] = field(default_factory=dict)
    user_attrs: Mapping[str, Any] = field(default_factory=dict)
    system_attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class TrialResult:
    """How a running trial ends: its state, its value (a PRUNED trial's value is, as in Optuna,
    its last intermediate value) and the attrs written before it ends."""

    trial_id: int
    state: TrialState
    value: float | None = None
    user_attrs: Mapping[str, Any] = field(default_factory=dict)
    system_attrs: Mapping[str, Any] = field(default_factory=dict)


def _storage(study: optuna.Study) -> BaseStorage:
    return study._storage  # noqa: SLF001 - optuna has no public accessor for a study's storage


def _rdb(study: optuna.Study) -> RDBStorage | None:
    backend = getattr(_storage(study), "_backend", _storage(study))  # unwrap optuna's _CachedStorage
    return backend if isinstance(backend, RDBStorage) else None


def trial_id(trial: FrozenTrial) -> int:
    """The storage's id of a trial (optuna keeps it private)."""
    return trial._trial_id  # noqa: SLF001


def set_system_attr(study: optuna.Study, trial_id: int, key: str, value: Any) -> None:
    """A system attr on a running trial (optuna's public API no longer writes them)."""
    _storage(study).set_trial_system_attr(trial_id, key, value)


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def create_trials(study: optuna.Study, trials: Sequence[NewTrial]) -> list[int]:
    """Create RUNNING trials (with a heartbeat when the storage keeps heartbeats); their ids."""
    if not trials:
        return []
    rdb = _rdb(study)
    study_id = study._study_id  # noqa: SLF001
    if rdb is None:
        storage = _storage(study)
        ids = []
        for t in trials:
            template = FrozenTrial(
                number=-1, state=TrialState.RUNNING, value=None, datetime_start=datetime.datetime.now(),
                datetime_complete=None, params=dict(t.params), distributions=dict(t.distributions),
                user_attrs=dict(t.user_attrs), system_attrs=dict(t.system_attrs), intermediate_values={},
                trial_id=-1,
            )
            ids.append(storage.create_new_trial(study_id, template_trial=template))
        return ids
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy import func

    with _create_scoped_session(rdb.scoped_session, True) as session:
        models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
        now = datetime.datetime.now()
        rows = [models.TrialModel(study_id=study_id, number=None, state=TrialState.RUNNING, datetime_start=now)
                for _ in trials]
        session.add_all(rows)
        session.flush()
        rows.sort(key=lambda r: r.trial_id)
        # Optuna's numbering rule: a trial's number counts the study's trials with a smaller id.
        base = session.query(func.count(models.TrialModel.trial_id)).filter(
            models.TrialModel.study_id == study_id, models.TrialModel.trial_id < rows[0].trial_id).scalar()
        objects: list[Any] = []
        for i, (row, t) in enumerate(zip(rows, trials)):
            row.number = base + i
            for name, value in t.params.items():
                dist = t.distributions[name]
                objects.append(models.TrialParamModel(
                    trial_id=row.trial_id, param_name=name, param_value=dist.to_internal_repr(value),
                    distribution_json=distribution_to_json(dist)))
            objects += [models.TrialUserAttributeModel(trial_id=row.trial_id, key=k, value_json=json.dumps(v))
                        for k, v in t.user_attrs.items()]
            objects += [models.TrialSystemAttributeModel(trial_id=row.trial_id, key=k, value_json=json.dumps(v))
                        for k, v in t.system_attrs.items()]
            if rdb.heartbeat_interval is not None:
                objects.append(models.TrialHeartbeatModel(trial_id=row.trial_id))
        session.add_all(objects)
        return [row.trial_id for row in rows]


def report(study: optuna.Study, values: Mapping[int, float], step: int) -> None:
    """Intermediate value ``values[trial_id]`` at ``step`` for every trial (all RUNNING)."""
    rdb = _rdb(study)
    if rdb is None:
        for trial_id, value in values.items():
            _storage(study).set_trial_intermediate_value(trial_id, step, float(value))
        return
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    kind = models.TrialIntermediateValueModel
    with _create_scoped_session(rdb.scoped_session, True) as session:
        objects = []
        for trial_id, value in values.items():
            stored, value_type = kind.intermediate_value_to_stored_repr(float(value))
            objects.append(kind(trial_id=trial_id, step=int(step), intermediate_value=stored,
                                intermediate_value_type=value_type))
        session.add_all(objects)


def heartbeat_interval(study: optuna.Study) -> int | None:
    """Seconds between heartbeats of the study's storage; ``None`` when it keeps none."""
    storage = _storage(study)
    if not isinstance(storage, optuna.storages._heartbeat.BaseHeartbeat):  # noqa: SLF001 - no public base class
        return None
    return storage.get_heartbeat_interval()


def grace_period(study: optuna.Study) -> int | None:
    """Seconds without a heartbeat after which the storage takes a running trial for dead."""
    storage = _storage(study)
    return getattr(getattr(storage, "_backend", storage), "grace_period", None)


def record_heartbeats(study: optuna.Study, trial_ids: Sequence[int]) -> None:
    """A heartbeat now for every trial (a no-op when the storage keeps none)."""
    storage = _storage(study)
    if heartbeat_interval(study) is None:
        return
    rdb = _rdb(study)
    if rdb is None:
        for trial_id in trial_ids:
            storage.record_heartbeat(trial_id)
        return
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy import func

    beat = models.TrialHeartbeatModel
    with _create_scoped_session(rdb.scoped_session, True) as session:
        now = session.execute(func.now()).scalar()
        for chunk in _chunks(list(trial_ids)):
            have = {r.trial_id for r in session.query(beat).filter(beat.trial_id.in_(chunk)).all()}
            session.query(beat).filter(beat.trial_id.in_(have)).update({beat.heartbeat: now},
                                                                         synchronize_session=False)
            session.add_all([beat(trial_id=t) for t in chunk if t not in have])


def finish(study: optuna.Study, results: Sequence[TrialResult]) -> None:
    """Write each trial's attrs, then its value and final state; trials that are no longer
    RUNNING (failed by another worker as stale) are left as they are."""
    if not results:
        return
    rdb = _rdb(study)
    if rdb is None:
        storage = _storage(study)
        for r in results:
            if storage.get_trial(r.trial_id).state != TrialState.RUNNING:
                continue
            for k, v in r.user_attrs.items():
                storage.set_trial_user_attr(r.trial_id, k, v)
            for k, v in r.system_attrs.items():
                storage.set_trial_system_attr(r.trial_id, k, v)
            storage.set_trial_state_values(r.trial_id, r.state, None if r.value is None else [r.value])
        return
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    by_id = {r.trial_id: r for r in results}
    with _create_scoped_session(rdb.scoped_session, True) as session:
        objects: list[Any] = []
        now = datetime.datetime.now()
        for chunk in _chunks(list(by_id)):
            rows = (session.query(models.TrialModel).filter(models.TrialModel.trial_id.in_(chunk))
                    .with_for_update().all())
            for row in rows:
                if row.state != TrialState.RUNNING:
                    continue
                r = by_id[row.trial_id]
                objects += [models.TrialUserAttributeModel(trial_id=row.trial_id, key=k, value_json=json.dumps(v))
                            for k, v in r.user_attrs.items()]
                objects += [models.TrialSystemAttributeModel(trial_id=row.trial_id, key=k, value_json=json.dumps(v))
                            for k, v in r.system_attrs.items()]
                if r.state == TrialState.COMPLETE and (r.value is None or math.isnan(r.value)):
                    raise ValueError(f"trial {row.trial_id}: a COMPLETE trial needs a value, got {r.value}")
                if r.value is not None and not math.isnan(r.value):
                    value = float(r.value)
                    stored, value_type = models.TrialValueModel.value_to_stored_repr(value)
                    objects.append(models.TrialValueModel(trial_id=row.trial_id, objective=0, value=stored,
                                                          value_type=value_type))
                row.state = r.state
                row.datetime_complete = now
        session.add_all(objects)


def fail_orphans(study: optuna.Study, grace_seconds: float) -> list[int]:
    """Fail RUNNING trials that never recorded a heartbeat and started more than
    ``grace_seconds`` ago (a worker killed between creating a trial and its first heartbeat):
    Optuna's ``fail_stale_trials`` only looks at trials that have a heartbeat. Returns their ids."""
    rdb = _rdb(study)
    if rdb is None or rdb.heartbeat_interval is None:
        return []
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    limit = datetime.datetime.now() - datetime.timedelta(seconds=grace_seconds)
    with _create_scoped_session(rdb.scoped_session) as session:
        rows = (session.query(models.TrialModel)
                .outerjoin(models.TrialHeartbeatModel,
                           models.TrialHeartbeatModel.trial_id == models.TrialModel.trial_id)
                .filter(models.TrialModel.study_id == study._study_id,  # noqa: SLF001
                        models.TrialModel.state == TrialState.RUNNING,
                        models.TrialHeartbeatModel.trial_heartbeat_id.is_(None))
                .all())
        orphans = [r.trial_id for r in rows if r.datetime_start is not None and r.datetime_start < limit]
    failed = []
    for trial_id in orphans:
        try:
            if _storage(study).set_trial_state_values(trial_id, TrialState.FAIL):
                failed.append(trial_id)
        except RuntimeError:  # finished meanwhile
            pass
    return failed
