"""Leases: which process owns a running trial, and whether that process is still alive.

Optuna tells a dead worker by its heartbeat, which takes a grace period (90 s here) to go stale;
a re-run started at once after a ``kill -9`` would find the dead run's trials RUNNING and could
not tell them from a live worker's. A lease is a lock that lives exactly as long as the process
that holds it:

* PostgreSQL: a session-level advisory lock on a connection kept open for the process's life
  (the server drops it the moment the connection dies, as it does when the process is killed);
* MySQL/MariaDB: ``GET_LOCK`` on such a connection (the same);
* SQLite: ``flock`` on a file beside the database (the kernel drops it when the process dies).

Each trial a process creates carries its lease id (system attr ``orderopt:owner``), and the
study records who holds it (host, pid, start time) for messages. Another process tests the
lock without waiting: if it can take it, the owner is dead and its RUNNING trials are failed at
once. A storage without such a lock (a journal file) falls back to the host and pid on the same
machine and to heartbeats elsewhere.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optuna.storages import BaseStorage

from orderopt.samplers._compat import backend_of

__all__ = ["OWNER_ATTR", "Lease", "lease_for", "owner_alive", "owner_record_key", "process_started"]

OWNER_ATTR = "orderopt:owner"  # trial system attr: the lease id of the process that runs the trial
_RECORD_PREFIX = "orderopt:owner:"  # study system attr <prefix><lease id>: host, pid, start time


def owner_record_key(lease_id: str) -> str:
    """The study system attr that describes the holder of ``lease_id``."""
    return _RECORD_PREFIX + lease_id


def process_started(pid: int) -> float | None:
    """When process ``pid`` started (clock ticks since boot, from ``/proc``); ``None`` if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return float(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _sql_key(lease_id: str) -> int:
    digest = hashlib.blake2b(f"orderopt-lease:{lease_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class Lease:
    """This process's lease on one database (see the module docstring)."""

    id: str
    kind: str  # postgresql, mysql, sqlite or pid
    host: str
    pid: int
    started: float | None
    _handle: Any = None  # the open connection or file that holds the lock

    def record(self) -> dict:
        """What the study stores about the holder (for messages and the pid fallback)."""
        return {"host": self.host, "pid": self.pid, "started": self.started, "kind": self.kind,
                "since": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())}

    def release(self) -> None:
        """Drop the lock (at exit; a killed process drops it by dying)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        with contextlib.suppress(Exception):
            if self.kind == "sqlite":
                path = Path(handle.name)
                handle.close()
                path.unlink(missing_ok=True)
            else:
                handle.close()


_LEASES: dict[Any, Lease] = {}
_GUARD = threading.Lock()


def _engine(storage: BaseStorage) -> Any:
    return getattr(backend_of(storage), "engine", None)


def _sqlite_dir(engine: Any) -> Path | None:
    if engine is None or engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    return Path(f"{Path(engine.url.database).resolve()}.orderopt-leases")


def lease_for(storage: BaseStorage) -> Lease:
    """This process's lease on ``storage``'s database, taken on first use and held until exit."""
    engine = _engine(storage)
    key = str(engine.url) if engine is not None else id(backend_of(storage))
    with _GUARD:
        if key in _LEASES:
            return _LEASES[key]
        lease = Lease(uuid.uuid4().hex[:16], "pid", socket.gethostname(), os.getpid(), process_started(os.getpid()))
        dialect = engine.dialect.name if engine is not None else ""
        if dialect == "postgresql":
            conn = engine.connect()
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_sql_key(lease.id)})")
            conn.commit()
            lease.kind, lease._handle = "postgresql", conn
        elif dialect in ("mysql", "mariadb"):
            conn = engine.connect()
            conn.exec_driver_sql(f"SELECT GET_LOCK('orderopt-lease-{lease.id}', 0)")
            conn.commit()
            lease.kind, lease._handle = "mysql", conn
        elif _sqlite_dir(engine) is not None:
            import fcntl

            folder = _sqlite_dir(engine)
            folder.mkdir(parents=True, exist_ok=True)
            handle = open(folder / lease.id, "w")  # noqa: SIM115 - held open for the process's life
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            lease.kind, lease._handle = "sqlite", handle
        _LEASES[key] = lease
        atexit.register(lease.release)
        return lease


def owner_alive(storage: BaseStorage, lease_id: str, record: dict | None) -> bool | None:
    """Whether the process holding ``lease_id`` is alive: ``True``/``False`` when the lock (or,
    on the same machine, the pid) tells, ``None`` when nothing here can (heartbeats decide)."""
    engine = _engine(storage)
    dialect = engine.dialect.name if engine is not None else ""
    kind = (record or {}).get("kind")
    if kind == "postgresql" and dialect == "postgresql":
        key = _sql_key(lease_id)
        with engine.connect() as conn:
            taken = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar()
            if taken:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
            conn.commit()
        return not taken
    if kind == "mysql" and dialect in ("mysql", "mariadb"):
        with engine.connect() as conn:
            free = conn.exec_driver_sql(f"SELECT IS_FREE_LOCK('orderopt-lease-{lease_id}')").scalar()
        return not free
    if kind == "sqlite" and _sqlite_dir(engine) is not None:
        return _file_lease_alive(_sqlite_dir(engine) / lease_id)
    if record and record.get("host") == socket.gethostname():  # same machine, no lock: the pid tells
        started = process_started(int(record["pid"]))
        return started is not None and started == record.get("started")
    return None


def _file_lease_alive(path: Path) -> bool:
    import fcntl

    try:
        handle = open(path)  # noqa: SIM115
    except FileNotFoundError:
        return False  # released at exit (or never taken): nobody holds it
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True  # held: its process is alive
        path.unlink(missing_ok=True)  # its process died holding it
        return False
