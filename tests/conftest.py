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


ENGINES = ("duckdb", "postgresql")


def pytest_generate_tests(metafunc):
    """A module that sets BOTH_ENGINES = True runs each test that uses the `store` (or `engine`) on both
    engines: a DuckDB file and a database of a real PostgreSQL server."""
    if "engine" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_ENGINES", False):
        metafunc.parametrize("engine", ENGINES, indirect=True)


@pytest.fixture
def engine(request):
    return getattr(request, "param", "duckdb")


@pytest.fixture
def new_location(engine, tmp_path, request):
    """Where a new, empty database goes on the engine under test: a file's path, or a new PostgreSQL database's address."""
    return request.getfixturevalue("pg_url") if engine == "postgresql" else tmp_path / "test.duckdb"


@pytest.fixture
def store(new_location):
    store = Store(new_location, lock_wait=5, create=True)
    store.data_version()  # made now, as `init` makes it: the command line refuses a path that holds none
    return store


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server (Debian's binaries), started once for the tests that ask for it."""
    from postgres_server import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory, programme):
    """The demo history (172 extracts, 3 meetings), loaded once for the run: tests only read it, or copy it."""
    from dashboard.demo import load_demo

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    load_demo(Store(path, create=True), programme)
    return path


@pytest.fixture
def pg_url(postgres_server):
    """The address of a new empty PostgreSQL database, owned by the dashboard's role."""
    return postgres_server.database()
