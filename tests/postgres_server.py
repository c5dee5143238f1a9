"""A real PostgreSQL server for the tests, started by them in a temporary folder from Debian's
binaries (/usr/lib/postgresql/15/bin, the `postgresql` package), and stopped at the end.

`initdb` refuses to run as root (CI runs as root), so there the server runs as the `postgres`
system user. The tests' superuser reaches it over its Unix socket; the dashboard connects over TCP
on 127.0.0.1 as the role `pump` with a password, as a hospital's service would."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg


def _binaries() -> Path:
    """Debian's newest installed PostgreSQL (15 on Debian 12), or $PUMP_TEST_PG_BIN."""
    if os.environ.get("PUMP_TEST_PG_BIN"):
        return Path(os.environ["PUMP_TEST_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


BIN = _binaries()
APP_ROLE = "pump"
APP_PASSWORD = "pump-test-secret-3141"  # a test's secret: it must never show in a sentence or a log


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One PostgreSQL server on a free port; `database()` gives a new empty database's address."""

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        self.folder = Path(tempfile.mkdtemp(prefix="pump-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        if self.as_root:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.folder.chmod(0o755)

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")

    def start(self) -> PostgresServer:
        if not (BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL is not installed at {BIN}: apt-get install postgresql (.ci/run does)")
        self._run(str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--auth-host=scram-sha-256",
                  "-E", "UTF8", "--locale=C")
        settings = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(str(BIN / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-o", settings)
        with self.admin() as con:
            con.execute(f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{APP_PASSWORD}'")
        return self

    def stop(self) -> None:
        try:
            self._run(str(BIN / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        """The superuser, over the Unix socket (autocommit: CREATE DATABASE runs outside a transaction)."""
        return psycopg.connect(host=str(self.folder), port=self.port, user="postgres", dbname=dbname, autocommit=True)

    def url(self, dbname: str, role: str = APP_ROLE, password: str = APP_PASSWORD) -> str:
        return f"postgresql://{role}:{password}@127.0.0.1:{self.port}/{dbname}"

    def database(self, name: str | None = None) -> str:
        """A new empty database owned by the dashboard's role: its address."""
        name = name or f"pump_{os.getpid()}_{next(self._names)}"
        with self.admin() as con:
            con.execute(f'CREATE DATABASE "{name}" OWNER {APP_ROLE} TEMPLATE template0')
        return self.url(name)
