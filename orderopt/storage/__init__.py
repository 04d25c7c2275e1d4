"""Where studies live: an embedded SQLite file by default, any Optuna storage otherwise.

The default is ``$OPTUNA_STORAGE`` when set, else ``storage/orderopt.db`` under the working
directory (created on demand, WAL journal and a 60 s busy timeout so that a few local worker
processes can share it). For many workers or machines pass a PostgreSQL or MySQL URL, e.g.
``postgresql+psycopg2://user@host:5432/db`` (a plain ``postgresql://`` means the same driver).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from optuna.storages import BaseStorage, RDBStorage

from orderopt.errors import StorageError

__all__ = ["DEFAULT_STORAGE_DIR", "ENV_VAR", "ARTIFACTS_ENV_VAR", "default_storage_url", "get_storage", "redact",
           "artifact_dir", "artifact_store"]

DEFAULT_STORAGE_DIR = Path("storage")
ENV_VAR = "OPTUNA_STORAGE"
ARTIFACTS_ENV_VAR = "ORDEROPT_ARTIFACTS"
SQLITE_BUSY_TIMEOUT_S = 60


def default_storage_url(directory: str | Path = DEFAULT_STORAGE_DIR) -> str:
    """``$OPTUNA_STORAGE`` when set, else the embedded SQLite file ``<directory>/orderopt.db``."""
    return os.environ.get(ENV_VAR) or f"sqlite:///{Path(directory) / 'orderopt.db'}"


def redact(url: str) -> str:
    """The URL with its password hidden, for printing."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy can parse: show it as it is
        return url


def artifact_dir(storage: str | None = None) -> Path:
    """Where the study's files (verified models, figures) go: ``$ORDEROPT_ARTIFACTS`` when set;
    beside a SQLite file (``orderopt.db`` -> ``orderopt-artifacts/``); else ``storage/artifacts``
    under the working directory. Workers on several machines need a shared path (set the variable)."""
    if os.environ.get(ARTIFACTS_ENV_VAR):
        return Path(os.environ[ARTIFACTS_ENV_VAR])
    url = storage if isinstance(storage, str) and storage.strip() else default_storage_url()
    if url.startswith("sqlite:///") and url[len("sqlite:///"):] not in ("", ":memory:"):
        db = Path(url[len("sqlite:///"):])
        return db.with_name(f"{db.stem}-artifacts")
    return DEFAULT_STORAGE_DIR / "artifacts"


def artifact_store(storage: str | None = None):
    """An Optuna :class:`~optuna.artifacts.FileSystemArtifactStore` at :func:`artifact_dir`."""
    from optuna.artifacts import FileSystemArtifactStore

    path = artifact_dir(storage)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the artifact folder {path}: {exc.strerror or exc}; "
                           f"set {ARTIFACTS_ENV_VAR} to a writable folder") from None
    return FileSystemArtifactStore(str(path))


def _normalise(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]  # SQLAlchemy's default PostgreSQL driver
    return url


def get_storage(
    storage: str | BaseStorage | None = None,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    create: bool = True,
) -> BaseStorage:
    """An Optuna storage from a URL, a storage object (returned as is) or ``None`` (default).

    With ``create=False`` (commands that only read) a SQLite file that does not exist yet is an
    error instead of a new empty database."""
    if isinstance(storage, BaseStorage):
        return storage
    if storage is not None and not str(storage).strip():
        raise StorageError("--storage is empty; give a storage URL or leave the option out for the default "
                           f"({default_storage_url()})")
    url = _normalise(storage or default_storage_url())
    if not isinstance(url, str) or "://" not in url:
        raise StorageError(f"storage {url!r} is not a URL; use e.g. sqlite:///storage/orderopt.db or "
                           "postgresql+psycopg2://user@host:5432/db")
    engine_kwargs: dict = {}
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if str(path) not in ("", ":memory:"):
            if not create and not path.exists():
                raise StorageError(f"no study storage at {path} (looked from {Path.cwd()}); run orderopt search "
                                   "first, or pass the --storage URL that the search used")
            _prepare_sqlite(path)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    try:
        try:
            rdb = RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval,
                             grace_period=grace_period)
        except Exception as exc:  # two processes creating one new database: the other made the tables first
            if "already exists" not in str(exc):
                raise
            rdb = RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval,
                             grace_period=grace_period)
    except ImportError as exc:
        extra = "mysql" if url.startswith("mysql") else "postgres"
        raise StorageError(f"storage {redact(url)} needs a database driver that is not installed ({exc}); "
                           f"pip install 'orderopt[{extra}]'") from None
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
