from __future__ import annotations

import os
import uuid

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def tiny():
    from orderopt.presets import get_preset

    return get_preset("tiny")


POSTGRES_URL = os.environ.get("ORDEROPT_TEST_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def postgres_available() -> bool:
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(POSTGRES_URL)
        with engine.connect():
            return True
    except Exception:
        return False


@pytest.fixture
def postgres_url():
    """The real PostgreSQL server; required in CI, skipped on a machine without it."""
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}")
        pytest.skip("PostgreSQL not reachable")
    return POSTGRES_URL


@pytest.fixture
def study_name():
    return f"test-{uuid.uuid4().hex[:10]}"
