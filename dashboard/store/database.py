"""The Store: one database, its reads and its single write path, over an engine (duckdb_engine: a
file; postgres_engine: a server database at a postgresql:// address). Nothing outside this package
holds SQL or knows the engine."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import pandas as pd
import pyarrow as pa

from dashboard.store.duckdb_engine import DuckDBFile, lock_wait_from_environment
from dashboard.store.frames import frame_from_arrow
from dashboard.store.held import HeldCuts
from dashboard.store.postgres_engine import PostgresDatabase, is_address
from dashboard.store.reads import Reads
from dashboard.store.writes import Writes

DEFAULT_DB_PATH = Path(__file__).resolve().parent.parent.parent / "data" / "pump.duckdb"


class Store(Reads, Writes):
    """One database: a DuckDB file at a path, or a PostgreSQL database at a `postgresql://` (or
    `postgres://`) address (`location`: the path, or the address with its password masked, for
    sentences and logs). On DuckDB, uses share this process's connection to it, each on its own cursor
    (see duckdb_engine); `idle_release` is how long the process keeps the file open after its
    last use (the command line: not at all; the dashboard: a moment). The database it first finds at
    `path` is the only one it will use there (duckdb_engine: identity)."""

    def __init__(
        self,
        path: Path | str = DEFAULT_DB_PATH,
        lock_wait: float | None = None,
        idle_release: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
        create: bool = False,
    ):
        self.lock_wait = lock_wait_from_environment() if lock_wait is None else lock_wait
        self.idle_release = idle_release
        self.on_wait = on_wait
        # Only init, demo and the dashboard's first start create a database; any other use of a path
        # that holds none is refused ("no database at …: create it with init").
        if is_address(path):
            self._engine = PostgresDatabase(str(path), create=create)
            self.path = None  # no file: the engine's own checks stand for the DuckDB file's
            self.location = self._engine.location
        else:
            self.path = Path(path)
            self._engine = DuckDBFile(self.path, self.lock_wait, idle_release, on_wait, create=create)
            self.location = str(self.path)
        # Added to every audit entry of this store's writes: on the command line, the operating-system
        # user and the person of the access file it maps to (cli.py).
        self.run_by: dict[str, str] | None = None
        self._through = threading.local()  # the connection this thread's reads go through (reading_through)
        self._held = HeldCuts()  # the rows of the cuts it has read (current_participants)

    @property
    def engine(self):
        """The engine under this store, for the store package's own modules (copy): its hooks `tables`,
        `arrow`, `bulk_insert`, `continue_ids`."""
        return self._engine

    def connect(self) -> AbstractContextManager:
        """One use of the database (a connection for its queries); a fault of the database becomes
        StoreUnavailable with a sentence. Held around several queries, it opens and checks once."""
        con = getattr(self._through, "con", None)
        return nullcontext(con) if con is not None else self._engine.use()

    @contextmanager
    def reading_through(self, con) -> Iterator[None]:
        """While the block lasts, this thread's reads of the store (current_participants, extracts, ...)
        go through `con`: inside a transaction they see what it has written before it commits."""
        self._through.con = con
        try:
            yield
        finally:
            self._through.con = None

    def transaction(self) -> AbstractContextManager:
        """One write's connection: everything done with it lands together at the end, or nothing."""
        return self._engine.transaction()

    @property
    def read_only(self) -> bool:
        """Whether this program may only read the database (known once it has been opened)."""
        return self._engine.read_only

    def rewrite_file(self) -> bool:
        """Write the database afresh, so that blanked values leave no bytes behind (redact); False when this
        program may not (a PostgreSQL role that does not own the tables: `store rewrite` as their owner)."""
        return self._engine.rewrite()

    def query(self, sql: str, params: dict | list | None = None) -> pd.DataFrame:
        with self.connect() as con:
            return self._engine.frame(con, sql, params)

    def arrow_query(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        """As `query`, through Arrow: three times faster for a large snapshot (mostly its text columns),
        in the dtypes `query` gives (dates as datetime64[us], whole numbers with gaps nullable, a text
        column of nothing but gaps as objects)."""
        return frame_from_arrow(self.arrow_table(sql, params))

    def arrow_table(self, sql: str, params: dict | None = None) -> pa.Table:
        """The result as an Arrow table, typed as `arrow_query`'s frame is made from."""
        with self.connect() as con:
            return self._engine.arrow(con, sql, params)

    def frame(self, con, sql: str, params: dict | list | None = None) -> pd.DataFrame:
        """As `query`, on a connection in use (inside a write's transaction)."""
        return self._engine.frame(con, sql, params)

    def as_table(self, con, name: str, frame: pd.DataFrame) -> AbstractContextManager:
        """A frame readable as the table `name` by the connection's queries, while the block lasts."""
        return self._engine.as_table(con, name, frame)

    def scalar(self, sql: str, params: dict | list | None = None):
        with self.connect() as con:
            row = con.execute(sql, params or {}).fetchone()
            return row[0] if row else None
