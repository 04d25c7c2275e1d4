"""A lock shared by every process that uses one study, so that only one plans at a time.

Planning reads all trials, picks an order and records it on the trial; under this lock the next
planner always sees that order, so no two live trials get the same one. PostgreSQL uses an
advisory lock, MySQL/MariaDB ``GET_LOCK``, SQLite a lock file beside the database; other
storages (in-memory, journal) get a process-local lock only.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["study_lock"]

_LOCAL_LOCKS: dict[Any, threading.RLock] = {}
_GUARD = threading.Lock()


def _backend(storage: Any) -> Any:
    return getattr(storage, "_backend", storage)  # unwrap optuna's _CachedStorage


def _key(study_id: int, url: str) -> int:
    digest = hashlib.blake2b(f"orderopt:{url}:{study_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def study_lock(storage: Any, study_id: int) -> Iterator[None]:
    backend = _backend(storage)
    with _GUARD:
        local = _LOCAL_LOCKS.setdefault((id(backend), study_id), threading.RLock())
    with local:
        engine = getattr(backend, "engine", None)
        if engine is None:
            yield
            return
        dialect = engine.dialect.name
        key = _key(study_id, str(getattr(backend, "url", "")))
        if dialect == "postgresql":
            yield from _sql_lock(engine, "SELECT pg_advisory_lock(:k)", "SELECT pg_advisory_unlock(:k)", {"k": key})
        elif dialect in ("mysql", "mariadb"):
            yield from _sql_lock(engine, "SELECT GET_LOCK(:k, 60)", "SELECT RELEASE_LOCK(:k)", {"k": f"orderopt{key}"})
        elif dialect == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            yield from _file_lock(f"{engine.url.database}.orderopt-lock")
        else:
            yield


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
