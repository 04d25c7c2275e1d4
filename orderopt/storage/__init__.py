"""Where studies live: an embedded SQLite file by default, any Optuna storage otherwise.

The default is ``storage/orderopt.db`` under the working directory (created on demand, WAL
journal and a 60 s busy timeout so that a few local worker processes can share it). For many
workers or machines pass a PostgreSQL or MySQL URL, e.g.
``postgresql+psycopg2://user@host:5432/db`` (SQLAlchemy 2.x needs the driver in the URL).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path

from optuna.storages import BaseStorage, RDBStorage

from orderopt.errors import StorageError

__all__ = ["DEFAULT_STORAGE_DIR", "default_storage_url", "get_storage", "redact"]

DEFAULT_STORAGE_DIR = Path("storage")
SQLITE_BUSY_TIMEOUT_S = 60


def default_storage_url(directory: str | Path = DEFAULT_STORAGE_DIR) -> str:
    return f"sqlite:///{Path(directory) / 'orderopt.db'}"


def redact(url: str) -> str:
    """Hide a password in a URL before it is printed."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def get_storage(
    storage: str | BaseStorage | None = None,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
) -> BaseStorage:
    """An Optuna storage from a URL, a storage object (returned as is) or ``None`` (default)."""
    if isinstance(storage, BaseStorage):
        return storage
    url = storage or default_storage_url()
    if not isinstance(url, str) or "://" not in url:
        raise StorageError(f"storage {url!r} is not a URL; use e.g. sqlite:///storage/orderopt.db or "
                           "postgresql+psycopg2://user@host:5432/db")
    engine_kwargs: dict = {}
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if str(path) not in ("", ":memory:"):
            _prepare_sqlite(path)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    elif url.startswith("postgresql://"):
        raise StorageError(f"storage {redact(url)} names no driver; write postgresql+psycopg2://... (SQLAlchemy 2.x)")
    else:
        engine_kwargs = {"pool_pre_ping": True}
    try:
        rdb = RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval,
                         grace_period=grace_period)
    except ImportError as exc:
        raise StorageError(f"storage {redact(url)} needs a database driver that is not installed ({exc})") from None
    except Exception as exc:  # SQLAlchemy / driver errors: one line, no traceback
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(
            f"cannot open storage {redact(url)}: {reason}; check that the server is running and the URL is "
            "right, or omit --storage to use the embedded SQLite file"
        ) from None
    return rdb


def _prepare_sqlite(path: Path) -> None:
    """Create the folder and switch the file to WAL (persistent), so readers never block writers."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"cannot create the SQLite storage {path}: {exc}; choose a writable path") from None

