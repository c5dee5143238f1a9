import pytest

from dashboard.config import load_programme
from dashboard.store import Store


@pytest.fixture(scope="session")
def programme():
    return load_programme()


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "test.duckdb", lock_wait=5)
