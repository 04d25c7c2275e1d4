"""A lock shared by every process that uses one study, so that only one plans at a time.

Planning reads all trials, picks an order and records it on the trial; under this lock the next
planner always sees that order, so no two live trials get the same one. PostgreSQL uses an
advisory lock, MySQL/MariaDB ``GET_LOCK``, SQLite a lock file beside the database; an
in-memory storage lives in one process and needs only a process-local lock. Any other storage
(e.g. a journal file) gets a process-local lock and a warning: processes sharing it may
evaluate an order twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from optuna.storages import InMemoryStorage

from ._compat import backend_of

__all__ = ["study_lock"]

_LOCAL_LOCKS: dict[Any, threading.RLock] = {}
_GUARD = threading.Lock()


def _backend(storage: Any) -> Any:
    return backend_of(storage)


def _key(study_id: int, where: str = "") -> int:
    digest = hashlib.blake2b(f"orderopt:{where}:{study_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def study_lock(storage: Any, study_id: int) -> Iterator[None]:
    """Hold the study's planning lock. The key names the database itself, not the URL's spelling:
    ``localhost`` and ``127.0.0.1``, with or without a password, take the same lock."""
    backend = _backend(storage)
    with _GUARD:
        local = _LOCAL_LOCKS.setdefault((id(backend), study_id), threading.RLock())
    with local:
        engine = getattr(backend, "engine", None)
        if engine is None:
            if not isinstance(backend, InMemoryStorage):
                _warn_once(backend)
            yield
            return
        dialect = engine.dialect.name
        if dialect == "postgresql":  # advisory locks are scoped to the connected database already
            key = _key(study_id)
            yield from _sql_lock(engine, "SELECT pg_advisory_lock(:k)", "SELECT pg_advisory_unlock(:k)", {"k": key})
        elif dialect in ("mysql", "mariadb"):  # GET_LOCK names are server-wide: name the database too
            with engine.connect() as conn:
                database = conn.execute(_text("SELECT DATABASE()")).scalar()
            key = _key(study_id, str(database))
            yield from _sql_lock(engine, "SELECT GET_LOCK(:k, 60)", "SELECT RELEASE_LOCK(:k)", {"k": f"orderopt{key}"})
        elif dialect == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            yield from _file_lock(f"{Path(engine.url.database).resolve()}.orderopt-lock")
        else:
            _warn_once(backend)
            yield


_WARNED: set[str] = set()


def _warn_once(backend: Any) -> None:
    kind = type(backend).__name__
    if kind not in _WARNED:
        _WARNED.add(kind)
        warnings.warn(
            f"{kind} has no lock shared between processes: several processes on one study may evaluate the "
            "same order twice; share a PostgreSQL, MySQL or SQLite storage between processes", stacklevel=4)


def _text(sql: str) -> Any:
    from sqlalchemy import text

    return text(sql)


def _sql_lock(engine: Any, acquire: str, release: str, params: dict) -> Iterator[None]:
    from sqlalchemy import text

    with engine.connect() as conn:
        conn.execute(text(acquire), params)
        try:
            yield
        finally:
            conn.execute(text(release), params)
            conn.commit()


def _file_lock(path: str) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: process-local lock only
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
