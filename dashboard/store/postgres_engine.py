"""The PostgreSQL engine: a server database at a `postgresql://` address, this process's small pool
of connections to it, what PostgreSQL spells differently from the shared SQL (the dialect, here
only), and its faults in sentences, never with the password.

Several processes (dashboard replicas, the command line, a scheduled pull) use one database at once:
reads never wait, and writes take one lock of the database in their transaction (`WRITE_LOCK`), so a
commit's re-check (the current extracts are the ones a preview was made against) sees every write
that landed before it, and the moments stamped on writes only move forward, as on DuckDB.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import re
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import adbc_driver_postgresql.dbapi as adbc_postgresql
import pandas as pd
import psycopg
import psycopg_pool
import pyarrow as pa
from psycopg import ClientCursor, pq
from psycopg import sql as pgsql
from psycopg.types.string import TextLoader

from dashboard.store.errors import Refused, StoreReadOnly, StoreUnavailable
from dashboard.store.frames import frame_from_arrow
from dashboard.store.schema import identity, migrate

SCHEMES = ("postgresql://", "postgres://")
POOL_MIN, POOL_MAX = 1, 8
CONNECT_SECONDS = 5
# pg_advisory_xact_lock keys: one for every write of a database, one for its migrations.
WRITE_LOCK, MIGRATION_LOCK = 7262701, 7262702
# The tables whose values a redaction blanks, and whether this role may rewrite them (it owns them, or acts as
# their owner): VACUUM FULL is the owner's.
REWRITTEN = ("participant_versions", "extracts", "extract_confirmations", "waiting_pulls")
_OWNS_REWRITTEN = f"""SELECT coalesce(bool_and(pg_has_role(current_user, tableowner, 'USAGE')), false) FROM pg_tables
                      WHERE schemaname = current_schema() AND tablename IN ({", ".join(f"'{t}'" for t in REWRITTEN)})"""


def is_address(text: object) -> bool:
    """Whether a PUMP_DB / --db value names a PostgreSQL database (else it is a DuckDB file's path)."""
    return str(text).strip().lower().startswith(SCHEMES)


def masked(url: str) -> str:
    """The address as it may be shown: the password (in the address or its query) as ***."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        netloc = f"{user}@{host}"
    query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _secrets(url: str) -> list[str]:
    """The password as it may appear in an address or a message (escaped or not)."""
    parts = urlsplit(url.strip())
    found = [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
    user = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else ""
    if ":" in user:
        found.append(user.split(":", 1)[1])
    return [s for p in found for s in {p, unquote(p)} if s]


# ---- the dialect: what the shared SQL (written for DuckDB) needs to say the same on PostgreSQL ----------

# DuckDB's first()/last() of migration 5, as an ordered array's first element.
_FIRST_LAST = re.compile(r"\b(first|last)\(\s*(\w+)\s+ORDER BY\s+(\w+)\s*\)", re.IGNORECASE)
# What our SQL's placeholders look like, outside quoted text: $name, ?, and a literal % (psycopg's marker).
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\$([A-Za-z_]\w*)|(\?)|(%)")


# The SQL of PostgreSQL's own in a migration (schema.engine_part).
ENGINE_PARTS = {
    # Migration 8: nobody, the tables' owner included, changes or removes an audit entry: the trigger raises,
    # and the grants are gone. (The owner could drop the trigger: so the README's deployment runs the dashboard
    # as a role that owns nothing, `store grant`, and keeps the owner's password for init and upkeep.)
    "audit_log_append_only": """
        CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only: % of its entries is refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $body$;
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
        CREATE TRIGGER audit_log_never_emptied BEFORE TRUNCATE ON audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM CURRENT_USER;
    """,
}
_ENGINE_PART = re.compile(r"/\* engine part: (\w+) \*/")


def dialect(sql: str) -> str:
    """A migration or query in the spelling PostgreSQL understands (the one place the engines differ in SQL)."""
    sql = _ENGINE_PART.sub(lambda m: ENGINE_PARTS[m.group(1)], sql)
    return _FIRST_LAST.sub(
        lambda m: f"(array_agg({m.group(2)} ORDER BY {m.group(3)}{' DESC' if m.group(1).lower() == 'last' else ''}))[1]", sql
    )


def bind(sql: str, params: dict | list | tuple | None) -> tuple[str, dict | list | None]:
    """Our placeholders ($name, ?) as psycopg's (%(name)s, %s), a literal % doubled; a list value
    (`unnest($sites)`) typed as text[], which PostgreSQL cannot guess from a literal."""
    if not params:
        return dialect(sql), None
    position = iter(range(len(params))) if isinstance(params, (list, tuple)) else None

    def swap(found: re.Match) -> str:
        name, question, percent = found.groups()
        if percent:
            return "%%"
        if name is None and question is None:
            return found.group(0).replace("%", "%%")  # quoted text: taken as it is
        value = params[name] if name is not None else params[next(position)]
        marker = f"%({name})s" if name is not None else "%s"
        return marker + "::text[]" if isinstance(value, (list, tuple)) else marker

    return dialect(_TOKENS.sub(swap, sql)), params if isinstance(params, dict) else list(params)


class Cursor:
    """A connection in use, as the store's SQL expects one (DuckDB's calling style): execute() returns
    it, and a statement without rows gives its row count as its one row (UPDATE's count)."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self.cur = ClientCursor(conn)

    def execute(self, sql: str, params: dict | list | None = None) -> Cursor:
        self.cur.execute(*bind(sql, params))
        return self

    def executemany(self, sql: str, rows: list) -> Cursor:
        if rows:
            query, _ = bind(sql, rows[0])
            self.cur.executemany(query, rows)
        return self

    def fetchone(self):
        return self.cur.fetchone() if self.cur.description is not None else (max(self.cur.rowcount, 0),)

    def fetchall(self) -> list:
        return self.cur.fetchall() if self.cur.description is not None else [(max(self.cur.rowcount, 0),)]

    def df(self) -> pd.DataFrame:
        return frame_from_arrow(self.arrow())

    def arrow(self) -> pa.Table:
        """The result as Arrow, each column typed from PostgreSQL's type of it (as DuckDB's would be)."""
        names = [d.name for d in self.cur.description]
        rows = self.cur.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        arrays = [_array(values, d.type_code) for values, d in zip(columns, self.cur.description, strict=True)]
        return pa.table(dict(zip(names, arrays, strict=True)))


# PostgreSQL type oids -> Arrow types (the ones the dashboard's tables and queries give).
_ARROW_TYPES = {16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 25: pa.string(), 1043: pa.string(),
                114: pa.string(), 3802: pa.string(), 1082: pa.date32(), 1114: pa.timestamp("us"), 700: pa.float32(),
                701: pa.float64(), 1700: pa.float64()}


def _array(values, oid: int) -> pa.Array:
    kind = _ARROW_TYPES.get(oid)
    if oid == 1700:  # numeric (PostgreSQL's sum of whole numbers): whole values stay whole
        if all(v is None or v == int(v) for v in values):
            return pa.array([None if v is None else int(v) for v in values], type=pa.int64())
        values = [None if v is None else float(v) for v in values]
    return pa.array(list(values), type=kind) if kind is not None else pa.array(list(values))


# pandas dtypes -> the column types of a frame copied into a temporary table (as_table).
def _column_type(series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double precision"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    return "text"


def _cell(value, kind: str):
    if value is None or (not isinstance(value, (str, bytes, list, tuple, dict)) and pd.isna(value)):
        return None
    if kind == "text":
        return value if isinstance(value, str) else str(value)
    if kind == "timestamp":
        return pd.Timestamp(value).to_pydatetime()
    if kind == "bigint":
        return int(value)
    if kind == "double precision":
        return float(value)
    return bool(value)


# ---- faults in sentences -------------------------------------------------------------------------

def _unavailable(url: str, exc: BaseException) -> StoreUnavailable:
    """The sentence for a fault of the server, the connection or the database (exit 3), never the password."""
    text = str(exc)
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    low = text.lower()
    where = masked(url)
    parts = urlsplit(url.strip())
    server = parts.hostname or "localhost"
    if parts.port:
        server = f"{server}:{parts.port}"
    database = (parts.path or "/").lstrip("/") or "(the role's own)"
    if "password authentication failed" in low or "no password supplied" in low or "authentication failed" in low:
        return StoreUnavailable(
            f"the database server {server} refused the password of role {parts.username or '(none)'} for {where}; "
            "nothing was changed. Check the password in PUMP_DB or --db (or ask IT for the right one)"
        )
    if "does not exist" in low and "database" in low:
        return StoreUnavailable(
            f"there is no database {database} on the server {server} ({where}); nothing was changed. Ask IT to create "
            "it (createdb), then create the dashboard's tables in it with init"
        )
    if isinstance(exc, psycopg_pool.PoolTimeout) or any(
            s in low for s in ("connection refused", "could not connect", "timeout expired", "could not translate host",
                               "name or service not known", "no route to host", "connection failed")):
        return StoreUnavailable(
            f"the database server {server} cannot be reached ({where}): it is not running, refuses connections, or "
            "is too busy to answer; nothing was changed. Ask IT to start it (or check the address), then try again"
        )
    if isinstance(exc, (psycopg.errors.AdminShutdown, psycopg.errors.CrashShutdown)) or any(
            s in low for s in ("terminating connection", "server closed the connection", "connection is closed",
                               "consuming input failed", "connection is lost")):
        return StoreUnavailable(
            f"the connection to the database server {server} broke ({where}: the server stopped or restarted); the last "
            "change was not stored. Try again; if it happens again, ask IT whether the server is running"
        )
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction) or "read-only transaction" in low:
        return StoreReadOnly(
            f"the database {where} is read-only for this program (a standby, or a read-only role); nothing was changed, "
            "and reading still works. Point PUMP_DB or --db at the primary server, or ask IT"
        )
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return StoreReadOnly(
            f"the role {parts.username or ''} may not change this in the database {where}; nothing was changed. "
            "Ask IT for the dashboard's own role"
        )
    if isinstance(exc, psycopg.errors.DiskFull) or "no space left" in low or "could not extend file" in low:
        return StoreUnavailable(
            f"the disk of the database server {server} is full, so the change could not be written; nothing was "
            "changed. Ask IT to free some space on it, then try again"
        )
    if isinstance(exc, psycopg.errors.InvalidCatalogName):
        return StoreUnavailable(f"there is no database {database} on the server {server}; nothing was changed")
    first = text.splitlines()[0] if text else type(exc).__name__
    return StoreUnavailable(f"the database {where} cannot be used: {first}")


def _fault(exc: BaseException) -> bool:
    """Whether a psycopg error is the server's, the connection's or the role's, not a bug of ours."""
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout,
                            psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction,
                            psycopg.errors.DiskFull, psycopg.errors.InvalidCatalogName))


# ---- this process's pool per address ---------------------------------------------------------------

def configure(conn: psycopg.Connection) -> None:
    """JSON as its text (as DuckDB gives it: the store parses what it needs)."""
    for name in ("json", "jsonb"):
        conn.adapters.register_loader(name, TextLoader)


class _Server:
    """This process's pool of connections to one database (opened at its first use), and the database it
    found there first (its identity): any other found later behind the same address is refused."""

    def __init__(self, url: str):
        self.url = url
        self.lock = threading.Lock()
        self.pool: psycopg_pool.ConnectionPool | None = None
        self.identity: str | None = None
        self.read_only = False
        self.unreachable = False  # the server did not answer the last time it was asked
        self.checked: weakref.WeakSet = weakref.WeakSet()  # connections whose database has been checked
        self.adbc: queue.SimpleQueue = queue.SimpleQueue()  # idle ADBC connections for large reads (arrow)

    def _probe(self) -> None:
        """Connect once outside the pool: a fault is told at once, in its own words (the pool would retry)."""
        try:
            psycopg.connect(self.url, connect_timeout=CONNECT_SECONDS).close()
        except psycopg.Error as exc:
            raise _unavailable(self.url, exc) from None
        except Exception as exc:  # a malformed address (its text may hold the password: not chained)
            raise _unavailable(self.url, exc) from None

    def _pool(self, stale: psycopg_pool.ConnectionPool | None = None) -> psycopg_pool.ConnectionPool:
        """The pool, opened at the first use once the server has answered (_probe); a new one for `stale`, the old
        one whose connections died (the server stopped) and which may be backing off from failed
        reconnections for minutes after the server is back."""
        with self.lock:
            if stale is not None and self.pool is stale:
                self.pool = None
                stale.close(timeout=0)  # (a timed join would hang under a shifted clock, see _connection)
            if self.pool is None:
                self._probe()
                pool = psycopg_pool.ConnectionPool(
                    self.url, min_size=POOL_MIN, max_size=POOL_MAX, open=False, name="pump",
                    kwargs={"autocommit": True, "connect_timeout": CONNECT_SECONDS}, configure=configure,
                    timeout=CONNECT_SECONDS * 2,
                )
                pool.open(wait=False)
                self.pool = pool
            return self.pool

    def _answered(self, pool: psycopg_pool.ConnectionPool) -> psycopg_pool.ConnectionPool:
        """The server's own answer: said in words when it does not answer (and remembered: until it does, every
        use asks it first); when it answers after it did not, a new pool."""
        try:
            self._probe()
        except StoreUnavailable:
            self.unreachable = True
            raise
        if self.unreachable:
            self.unreachable = False
            return self._pool(stale=pool)
        return pool

    def _connection(self) -> tuple[psycopg.Connection, psycopg_pool.ConnectionPool]:
        """A live connection of the pool. The pool's own wait is only used when the server has just answered,
        so that a connection comes and ends it: a wait that times out says less than the server's answer (down,
        refused, a wrong password), and a timed wait nobody ends hangs under a shifted clock (faketime)."""
        for _ in range(POOL_MAX + 1):
            pool = self._pool()
            if self.unreachable or not pool.get_stats().get("pool_available", 0):
                pool = self._answered(pool)
            try:
                conn = pool.getconn()
            except psycopg_pool.PoolTimeout as exc:
                self._answered(pool)
                raise _unavailable(self.url, exc) from None  # the server answers, but no connection came: busy
            try:
                psycopg_pool.ConnectionPool.check_connection(conn)
                return conn, pool
            except psycopg.Error:
                pool.putconn(conn)  # broken (the server restarted, or stopped): the pool drops it
                self._answered(pool)
        raise StoreUnavailable(f"the database {masked(self.url)} gives no working connection; nothing was changed. Try again")

    @contextmanager
    def connection(self, create: bool) -> Iterator[psycopg.Connection]:
        conn, pool = self._connection()
        try:
            if conn not in self.checked:
                self._check(conn, create)
            yield conn
        finally:
            pool.putconn(conn)

    def _check(self, conn: psycopg.Connection, create: bool) -> None:
        """A new connection's database must be the one this process found here first; the first time, it is
        brought up to the current schema (created only when asked: init, demo), refusing a newer one."""
        cur = Cursor(conn)
        found = identity(cur)
        if self.identity is not None and found != self.identity:
            raise StoreUnavailable(
                f"the database at {masked(self.url)} is no longer the one the dashboard opened: another database "
                "(or a restored copy) is behind that address now; it was not used and nothing was written. Point PUMP_DB "
                "or --db at the right database, or restart the dashboard to use this one"
            )
        self.read_only = cur.execute(
            "SELECT pg_is_in_recovery() OR current_setting('default_transaction_read_only') = 'on'").fetchone()[0]
        if found is None and not create and not _has_schema(cur):
            raise StoreUnavailable(f"no database at {masked(self.url)}: create it with init")
        if not self.read_only:
            cur.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")  # two processes upgrading at once: one at a time
        try:
            migrate(cur, read_only=self.read_only, path=masked(self.url))
        except psycopg.errors.InsufficientPrivilege:  # the dashboard's role owns nothing (README): the owner upgrades
            raise StoreUnavailable(
                f"the database {masked(self.url)} needs an upgrade for this version of the dashboard, which only the role that "
                "owns its tables may make; nothing was changed. Ask IT to run init with the owner's address (README: Hospital "
                "deployment), then start again"
            ) from None
        finally:
            if not self.read_only:
                cur.execute(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
        self.identity = self.identity or identity(cur)
        self.checked.add(conn)


    def adbc_arrow(self, statement: str) -> pa.Table | None:
        """`statement`'s result through one of this process's ADBC connections (opened when first needed,
        kept while they work); None when the driver fails or gives a type the dashboard does not read."""
        try:
            connection = self.adbc.get_nowait()
        except queue.Empty:
            try:
                connection = adbc_postgresql.connect(self.url, autocommit=True)  # no transaction left open: no lock held
            except Exception:  # its message may hold the address: the caller's own connection says what is wrong
                return None
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
                table = cursor.fetch_arrow_table()
        except Exception:
            with suppress(Exception):
                connection.close()
            return None
        self.adbc.put(connection)
        return table if all(_arrow_readable(field.type) for field in table.schema) else None


def _arrow_readable(kind: pa.DataType) -> bool:
    """The Arrow types the snapshot's columns come as (text, whole numbers, dates, times)."""
    return pa.types.is_string(kind) or pa.types.is_integer(kind) or pa.types.is_date(kind) or pa.types.is_timestamp(kind)


def _has_schema(cur: Cursor) -> bool:
    return cur.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version' AND table_schema = current_schema()"
    ).fetchone()[0] > 0


@contextmanager
def scratch_schema(url: str, name: str) -> Iterator[str]:
    """A schema of its own in the database at `url` for a throwaway store (the bench's generated programme),
    dropped afterwards: the address scoped to it (its search_path). Refused when the schema exists: it may be
    someone's."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"not a schema name: {name!r}")
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_SECONDS) as conn:
            if conn.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", [name]).fetchone()[0]:
                raise StoreUnavailable(f"the schema {name} already exists in {masked(url)}: drop it or use another database")
            conn.execute(f"CREATE SCHEMA {name}")
    except psycopg.Error as exc:
        raise _unavailable(url, exc) from None
    parts = urlsplit(url.strip())
    query = urlencode([*parse_qsl(parts.query), ("options", f"-csearch_path={name}")])
    try:
        yield urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_SECONDS) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


_SERVERS: dict[str, _Server] = {}
_SERVERS_LOCK = threading.Lock()


def _server(url: str) -> _Server:
    with _SERVERS_LOCK:
        return _SERVERS.setdefault(url, _Server(url))


class PostgresDatabase:
    """One PostgreSQL database as a Store uses it (the interface of duckdb_engine.DuckDBFile): a pooled
    connection per use (a thread's nested uses share it), each write one transaction under the
    database's write lock, faults in sentences."""

    def __init__(self, url: str, create: bool = False):
        self.url = url.strip()
        self.location = masked(self.url)
        self.create = create
        self._server = _server(self.url)
        self._local = threading.local()

    @contextmanager
    def use(self) -> Iterator[Cursor]:
        held = getattr(self._local, "cursor", None)
        try:
            if held is not None:
                yield held
                return
            with self._server.connection(self.create) as conn:
                self._local.cursor = Cursor(conn)
                try:
                    yield self._local.cursor
                finally:
                    self._local.cursor = None
        except psycopg.Error as exc:
            if not _fault(exc):
                raise
            raise _unavailable(self.url, exc) from None

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One write: all of it lands or none. Its own connection, and the database's write lock for the
        transaction: a write that started later waits for this one and then sees what it stored."""
        try:
            with self._server.connection(self.create) as conn:
                if self._server.read_only:
                    raise _unavailable(self.url, psycopg.errors.ReadOnlySqlTransaction("read-only transaction"))
                con = Cursor(conn)
                con.execute("BEGIN")
                try:
                    con.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
                    yield con
                    con.execute("COMMIT")
                except BaseException:
                    with suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                    raise
        except psycopg.Error as exc:
            if not _fault(exc):
                raise
            raise _unavailable(self.url, exc) from None

    @property
    def read_only(self) -> bool:
        return self._server.read_only

    def rewrite(self) -> bool:
        """After a redaction: VACUUM FULL of the tables whose values it blanks writes each afresh, so the old
        row versions are gone from the table files (PostgreSQL keeps an updated row's old version until a
        vacuum). It runs outside a transaction, on its own connection. The write-ahead log (and its
        archive, and any base backup taken before) still holds the old values until it is recycled or
        expires: that is IT's matter (WAL archive and backup retention), as for any backup of the database.
        Only the tables' owner may (PostgreSQL skips another role's VACUUM with a mere warning): False, and
        nothing done, for a dashboard role that does not own them (`store rewrite` as the owner then)."""
        try:
            with self._server.connection(self.create) as conn:
                if not Cursor(conn).execute(_OWNS_REWRITTEN).fetchone()[0]:
                    return False
                for table in REWRITTEN:
                    conn.execute(f"VACUUM FULL {table}")
                return True
        except psycopg.Error as exc:
            if not _fault(exc):
                raise
            raise _unavailable(self.url, exc) from None

    def grant(self, con: Cursor, role: str) -> None:
        """Let `role` (a login IT made, owning nothing) use the dashboard's tables as the dashboard does: read and
        write them, but only read and add to the audit log. As the owner, in the write's transaction. Tables a
        later upgrade adds are granted alike (default privileges)."""
        if role == con.execute("SELECT current_user").fetchone()[0]:
            raise Refused(f"{role} is the role that owns the tables; grant to the dashboard's own role, which owns nothing")
        schema = pgsql.Identifier(con.execute("SELECT current_schema()").fetchone()[0])
        to = pgsql.Identifier(role)
        for statement in (
            "GRANT USAGE ON SCHEMA {schema} TO {to}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {to}",
            "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {to}",
            "REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {to}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {to}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {to}",
        ):
            try:
                con.cur.execute(pgsql.SQL(statement).format(schema=schema, to=to))
            except psycopg.errors.UndefinedObject:
                raise Refused(f"there is no role {role} on the database server: ask IT to create it (CREATE ROLE {role} LOGIN)") from None
            except psycopg.errors.InsufficientPrivilege:
                raise Refused("only the role that owns the dashboard's tables (the one init ran as) may grant their use") from None

    frame = staticmethod(lambda con, sql, params=None: con.execute(sql, params).df())

    def arrow(self, con: Cursor, sql: str, params: dict | None = None) -> pa.Table:
        """A large read (the snapshot) as Arrow. Outside a transaction it comes through the ADBC driver,
        which reads PostgreSQL's binary COPY into Arrow in C++ (300,000 rows: about a fifth of the time
        psycopg's rows take); the statement is the one psycopg would send, its values bound by psycopg.
        Inside a write's transaction, or for a column type the dashboard does not read that way, or when
        the driver fails, the rows come through the connection in use (any fault told from there)."""
        if con.conn.info.transaction_status == pq.TransactionStatus.IDLE:
            table = self._server.adbc_arrow(con.cur.mogrify(*bind(sql, params)))
            if table is not None:
                return table
        return con.execute(sql, params).arrow()

    @staticmethod
    @contextmanager
    def as_table(con: Cursor, name: str, frame: pd.DataFrame) -> Iterator[None]:
        """The frame as a temporary table of the transaction, filled by binary COPY; dropped after the block."""
        kinds = [_column_type(frame[c]) for c in frame.columns]
        columns = ", ".join(f'"{c}" {k}' for c, k in zip(frame.columns, kinds, strict=True))
        con.execute(f'CREATE TEMP TABLE "{name}" ({columns})')
        with con.cur.copy(f'COPY "{name}" FROM STDIN (FORMAT BINARY)') as copy:
            copy.set_types(kinds)
            for row in frame.itertuples(index=False, name=None):
                copy.write_row([_cell(v, k) for v, k in zip(row, kinds, strict=True)])
        try:
            yield
        finally:
            if con.conn.info.transaction_status != pq.TransactionStatus.INERROR:
                con.execute(f'DROP TABLE IF EXISTS "{name}"')

    # ---- the hooks `store copy` uses (the DuckDB engine has the same) ----------------------------------

    @staticmethod
    def tables(con: Cursor) -> list[str]:
        """The dashboard's tables (schema_version included), sorted."""
        return [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]

    @staticmethod
    def bulk_insert(con: Cursor, table: str, rows: pa.Table) -> None:
        """Rows into a table, inside the caller's transaction: COPY, typed as the table's columns."""
        if not rows.num_rows:
            return
        names = rows.column_names
        columns = ", ".join(f'"{n}"' for n in names)
        with con.cur.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
            for row in rows.to_pylist():
                copy.write_row([_plain(row[n]) for n in names])

    @staticmethod
    def continue_ids(con: Cursor, sequence: str, next_value: int) -> None:
        """The sequence's next nextval() gives `next_value`."""
        con.execute(f"SELECT setval('{sequence}', %s, false)" % int(next_value))


    def analyze(self) -> None:
        """After a bulk load (store copy), the planner's statistics of every table: without them it takes a
        table of 460,000 versions for one row and plans the snapshot's joins for that."""
        with self._server.connection(self.create) as conn:
            conn.execute("ANALYZE")


def _plain(value):
    """A value as COPY's text format takes it from psycopg (JSON and decimals as text)."""
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value

