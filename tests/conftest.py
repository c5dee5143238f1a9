import os

import pytest

from dashboard.clock import PIN_VARIABLE
from dashboard.config import load_programme
from dashboard.store import Store
from support import TODAY

# The suite passes on any day: every process it starts (AppTest, the command line, the
# browser tests' server) sees the same pinned date, the one the tests were written for.
os.environ[PIN_VARIABLE] = TODAY.isoformat()


@pytest.fixture(scope="session")
def programme():
    return load_programme()


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "test.duckdb", lock_wait=5, create=True)
    store.data_version()  # made now, as `init` makes it: the command line refuses a path that holds none
    return store


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server (Debian's binaries), started once for the tests that ask for it."""
    from postgres_server import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server):
    """The address of a new empty PostgreSQL database, owned by the dashboard's role."""
    return postgres_server.database()
