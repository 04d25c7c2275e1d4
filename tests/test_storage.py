from __future__ import annotations

import re

import optuna
import pytest

from orderopt.errors import StorageError
from orderopt.storage import default_storage_url, get_storage, redact


def test_default_is_a_wal_sqlite_file_created_on_demand(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = get_storage()
    assert (tmp_path / "storage" / "orderopt.db").exists()
    with storage.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    study = optuna.create_study(storage=storage, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(optuna.load_study(study_name="s", storage=default_storage_url()).trials) == 2


def test_storage_object_is_returned_as_is():
    mem = optuna.storages.InMemoryStorage()
    assert get_storage(mem) is mem


@pytest.mark.parametrize(
    "url, message",
    [
        ("postgresql+psycopg2://nobody:secret@127.0.0.1:1/none", "cannot open storage postgresql+psycopg2://nobody:***@127.0.0.1:1/none"),
        ("postgresql://nobody:secret@127.0.0.1:1/none", "cannot open storage postgresql+psycopg2://nobody:***@"),
        ("", "--storage is empty"),
        ("not a url", "is not a URL"),
        ("nosuchdb+driver://x/y", "cannot open storage"),
    ],
)
def test_bad_urls_fail_in_one_line(url, message):
    with pytest.raises(StorageError, match=re.escape(message)) as info:
        get_storage(url)
    assert "\n" not in str(info.value) and "secret" not in str(info.value)


def test_redact():
    assert redact("postgresql+psycopg2://u:pw@h/db") == "postgresql+psycopg2://u:***@h/db"
    assert redact("postgresql+psycopg2://u:p%40ss:w@h:5432/db") == "postgresql+psycopg2://u:***@h:5432/db"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"


def test_plain_postgresql_url_and_optuna_storage_env(postgres_url, monkeypatch, tmp_path):
    plain = postgres_url.replace("postgresql+psycopg2://", "postgresql://")
    assert get_storage(plain).engine.dialect.driver == "psycopg2"
    monkeypatch.setenv("OPTUNA_STORAGE", f"sqlite:///{tmp_path / 'env.db'}")
    assert default_storage_url() == f"sqlite:///{tmp_path / 'env.db'}"
    get_storage()
    assert (tmp_path / "env.db").exists()


def test_read_only_use_never_creates_a_database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match="no study storage at storage/orderopt.db"):
        get_storage(create=False)
    assert not (tmp_path / "storage").exists()


def test_postgres(postgres_url):
    storage = get_storage(postgres_url)
    name = "orderopt-storage-test"
    try:
        optuna.create_study(storage=storage, study_name=name, load_if_exists=True).optimize(
            lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    finally:
        optuna.delete_study(study_name=name, storage=storage)
