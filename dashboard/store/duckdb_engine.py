"""The DuckDB engine: the file, its one connection per process, the waiting-marker protocol, and
its faults in sentences.

DuckDB lets one process at a time open a file read-write, and inside a process wants one
connection shared by its threads, each use on its own cursor (opening and closing
connections from several threads at once fails with "Unique file handle conflict"). So
each process holds one connection per database file (`_Holder`), every use takes a cursor
of it, and writes are serialised, each in one transaction. The dashboard must not lock the
command line out (a nightly import is normal): the process lets go of the file when it is
idle, or at once when another program has said it is waiting (a marker file beside the
database), and an open that meets another process's lock says so and waits its turn.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from dashboard.store.errors import Refused, StoreBusy, StoreReadOnly, StoreUnavailable
from dashboard.store.schema import identity, migrate, user_tables

LOCK_WAIT_SECONDS = 30.0

# How long a process that holds the file lets a program that said it is waiting go first,
# at most, before it opens the file again; and how fresh such a marker must be to count
# (a waiter touches it on every try, so an older one was left by a program that died).
YIELD_SECONDS = 5.0
MARKER_FRESH_SECONDS = 2.0


class _Holder:
    """This process's one connection to one database file, shared by every Store of it and
    every thread: each use takes a cursor, and the last use to finish lets go of the file
    (at once, or after `idle` seconds, or at once when another program is waiting)."""

    def __init__(self, path: Path):
        self.path = path
        self.marker = path.with_name(path.name + ".waiting")
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.read_only = False
        self.users = 0
        self.by_thread: dict[int, int] = {}  # open uses per thread
        self.idle_since: float | None = None  # time.monotonic() of the last use's end, while unused
        self.idle_after = 0.0
        # The database this process found here first (its identity), and the file the connection has
        # open: any other found later at this path is refused, never used or replaced (item 6 of issue 22).
        self.identity: str | None = None
        self.opened: tuple[int, int] | None = None  # (device, inode)
        self.seen: tuple[int, int, int, int] | None = None  # the file's state when the last use ended

    def acquire(self, lock_wait: float, on_wait: Callable[[str], None] | None, create: bool = False) -> duckdb.DuckDBPyConnection:
        with self.lock:
            self.idle_since = None
            if self.con is not None:
                self._check_unchanged()
            if self.con is None:
                self._open_checked(lock_wait, on_wait, create)
            cursor = self.con.cursor()
            self.users += 1
            me = threading.get_ident()
            self.by_thread[me] = self.by_thread.get(me, 0) + 1
            return cursor

    def _check_unchanged(self) -> None:
        """The open file must still be the one at the path, as the last use left it. Nobody else may
        write it while we hold it, so any change (deleted, its folder moved, replaced, truncated) is a
        fault: with no use under way the connection is dropped and the file opened again, checked."""
        state = _file_state(self.path)
        if state is not None and state[:2] == self.opened and (self.users or state == self.seen):
            return
        if self.users:  # uses of the old file are under way: this one is refused, the last one lets go
            raise self._moved_away(state)
        self._close()

    def _open_checked(self, lock_wait: float, on_wait: Callable[[str], None] | None, create: bool) -> None:
        """Open the file, which must be the database this process found here first (if any). A database
        is created only when asked (`create`: init, demo, the dashboard's first start), never because
        a file has gone."""
        if not self.path.exists():
            if self.identity is not None:
                raise self._moved_away(None)
            if not create:
                raise StoreUnavailable(f"no database at {self.path}: create it with init")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif _cut_short(self.path):
            raise _unavailable(self.path, duckdb.IOException("could not read enough bytes: the file is cut short"))
        self.con, self.read_only = _open(self.path, self.marker, lock_wait, on_wait)
        try:
            if self.identity is not None and identity(self.con) != self.identity:
                raise self._moved_away(_file_state(self.path))
            migrate(self.con, read_only=self.read_only, path=self.path, create=create)
            self.identity = self.identity or identity(self.con)
        except BaseException:
            self._close()
            raise
        self.seen = _file_state(self.path)
        self.opened = self.seen[:2] if self.seen else None

    def _moved_away(self, state: tuple | None) -> StoreUnavailable:
        """The sentence for a database that is no longer where this process found it."""
        if state is None:
            return StoreUnavailable(
                f"the database {self.path} is gone: the file was deleted, or its folder was moved or renamed, while "
                "the dashboard used it; nothing was written. Put it back (or restore it from the backup), or point "
                "PUMP_DB or --db at where it is now"
            )
        return StoreUnavailable(
            f"the database at {self.path} is no longer the one the dashboard opened: the file was replaced (by "
            "another database, a copy or a damaged file); it was not used and nothing was written. Put the right file "
            "back, or restart the dashboard to use the new one"
        )

    def check_in_place(self) -> None:
        """After a commit: the file it went into must still be the one at the path."""
        state = _file_state(self.path)
        if state is None or state[:2] != self.opened:
            raise StoreUnavailable(
                f"the database {self.path} was deleted, moved or replaced while this change was being stored, so the "
                f"change is not in the database at {self.path}. Put the file back (or point PUMP_DB or --db at where "
                "it is now), then check whether the change is there"
            )

    def release(self, cursor: duckdb.DuckDBPyConnection, idle: float) -> None:
        with suppress(duckdb.Error):  # its connection was discarded after a fatal error
            cursor.close()
        with self.lock:
            self.users -= 1
            me = threading.get_ident()
            self.by_thread[me] -= 1
            if not self.by_thread[me]:
                del self.by_thread[me]
            if self.users or self.con is None:
                return
            self.seen = _file_state(self.path)
            if idle <= 0 or _other_waiter(self.marker):
                self._close()
            else:  # the idle watcher lets go of it later
                self.idle_since, self.idle_after = time.monotonic(), idle
                _watch_idle()

    def close_if_idle(self) -> None:
        """Let go of the file when nothing used it for `idle_after` seconds, or another program waits."""
        with self.lock:
            if self.con is None or self.users or self.idle_since is None:
                return
            if time.monotonic() - self.idle_since >= self.idle_after or _other_waiter(self.marker):
                self._close()

    def rewrite(self) -> None:
        """Store.rewrite_file: wait until no other thread uses the file (new uses wait for the lock),
        close it, copy it into a new file and rename that over it. This thread's own open uses (the
        command line holds one for the whole command) end with the old connection."""
        mine = threading.get_ident()
        while True:
            with self.lock:
                if self.users - self.by_thread.get(mine, 0) <= 0:
                    self._close()
                    _copy_over(self.path)
                    return
            time.sleep(0.02)

    def discard(self) -> None:
        """After a fatal error DuckDB refuses every further use of the instance: drop it, so
        the next use opens the file again (which replays what was committed)."""
        with self.lock:
            self._close()

    def _close(self) -> None:
        self.idle_since = None
        con, self.con = self.con, None
        if con is not None:
            with suppress(duckdb.Error):  # already invalidated: nothing left to write
                con.close()


# A DuckDB file is its headers and then whole blocks (DuckDB's default block size, which ours use).
FILE_HEADERS_BYTES = 3 * 4096
BLOCK_BYTES = 262144


def _copy_over(path: Path) -> None:
    """Copy the database into a new file beside it and rename that over it: the new file holds the
    data as it is, none of the freed blocks of the old one. A failure leaves the old file as it was."""
    fresh = path.with_name(path.name + ".rewrite")
    fresh.unlink(missing_ok=True)
    try:
        con = duckdb.connect(str(path))
        try:
            con.execute("CHECKPOINT")
            name = con.execute("SELECT current_database()").fetchone()[0]
            con.execute("ATTACH '" + str(fresh).replace("'", "''") + "' AS fresh_copy")
            con.execute(f'COPY FROM DATABASE "{name}" TO fresh_copy')
            con.execute("DETACH fresh_copy")
        finally:
            con.close()
        os.chmod(fresh, os.stat(path).st_mode & 0o7777)
        os.replace(fresh, path)
    except (duckdb.Error, OSError) as exc:
        fresh.unlink(missing_ok=True)
        Path(str(fresh) + ".wal").unlink(missing_ok=True)
        raise _unavailable(path, exc) from exc


def _cut_short(path: Path) -> bool:
    """Whether the file ends inside a block: truncated (a copy cut off, a disk that filled). DuckDB
    itself notices only when it reads a block that is gone, and may show the rest as if whole."""
    with suppress(OSError):
        size = path.stat().st_size
        return size > FILE_HEADERS_BYTES and (size - FILE_HEADERS_BYTES) % BLOCK_BYTES != 0
    return False


def _file_state(path: Path) -> tuple[int, int, int, int] | None:
    """(device, inode, size, modification time) of the file, None when it is not there."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns


def lock_wait_from_environment() -> float:
    """How long a use waits for another program to let go of the file: $PUMP_LOCK_WAIT seconds."""
    text = os.environ.get("PUMP_LOCK_WAIT", "").strip()
    if not text:
        return LOCK_WAIT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"PUMP_LOCK_WAIT={text!r} is not a number of seconds (e.g. 30)")
    return seconds


IDLE_CHECK_SECONDS = 0.25
_WATCHER: threading.Thread | None = None
_WATCHER_LOCK = threading.Lock()


def _watch_idle() -> None:
    """Start, once per process, the thread that lets go of files nobody uses. It sleeps and looks
    (no timers: a timed wait on a condition misbehaves under a shifted clock such as faketime's)."""
    global _WATCHER
    with _WATCHER_LOCK:
        if _WATCHER is None:
            _WATCHER = threading.Thread(target=_idle_loop, name="pump-store-idle", daemon=True)
            _WATCHER.start()


def _idle_loop() -> None:
    while True:
        time.sleep(IDLE_CHECK_SECONDS)
        for holder in list(_HOLDERS.values()):
            holder.close_if_idle()


_HOLDERS: dict[Path, _Holder] = {}
_HOLDERS_LOCK = threading.Lock()


@atexit.register
def _close_all() -> None:
    """Let go of every file at exit (DuckDB writes its last checkpoint on close)."""
    for holder in list(_HOLDERS.values()):
        holder.discard()


def _holder(path: Path) -> _Holder:
    key = path.resolve()
    with _HOLDERS_LOCK:
        return _HOLDERS.setdefault(key, _Holder(key))


def _open(path: Path, marker: Path, lock_wait: float, on_wait: Callable[[str], None] | None) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """Open the file read-write (read-only when this program may not write it), waiting while
    another program holds it: say so once, and leave a marker so that it lets go soon."""
    deadline = time.monotonic() + lock_wait
    yield_until = time.monotonic() + YIELD_SECONDS
    told = waited = False
    try:
        while True:
            if _other_waiter(marker) and time.monotonic() < yield_until:
                time.sleep(0.05)  # another program is waiting for the file: let it go first
                continue
            try:
                return duckdb.connect(str(path)), False
            except duckdb.Error as exc:
                text = str(exc)
                if _is_lock(text):
                    if time.monotonic() > deadline:
                        raise StoreBusy(
                            f"the database {path} is in use by {_holder_name(text)} for more than {lock_wait:.0f} s; "
                            "nothing was changed. Try again in a minute"
                        ) from exc
                    _touch(marker)
                    waited = True
                    if not told and on_wait:
                        on_wait(f"the database is in use by {_holder_name(text)}; waiting for it (at most {lock_wait:.0f} s)…")
                        told = True
                    time.sleep(0.05)
                    continue
                if _is_permission(text) and path.exists():
                    return _open_read_only(path), True
                raise _unavailable(path, exc) from exc
    finally:
        if waited:  # whether or not it said so: a marker left behind would make the holder yield for nothing
            _remove_own(marker)


def _open_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise _unavailable(path, exc) from exc


def _is_lock(text: str) -> bool:
    text = text.lower()
    return "could not set lock" in text or ("lock" in text and "conflicting" in text)


def _is_permission(text: str) -> bool:
    return any(s in text for s in ("Permission denied", "Read-only file system", "read-only mode"))


def _holder_name(lock_error: str) -> str:
    """Who holds the file, from DuckDB's lock message ("... (PID 123) ..."): the dashboard,
    or another program."""
    found = re.search(r"PID (\d+)", lock_error)
    if not found:
        return "another program"
    pid = found.group(1)
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        command = ""
    if "streamlit" in command:
        return f"the dashboard (process {pid})"
    if "dashboard" in command:
        return f"another dashboard command (process {pid})"
    return f"another program (process {pid})"


def _touch(marker: Path) -> None:
    """Say that this process waits: its id and the time (our clock, not the file system's)."""
    with suppress(OSError):  # a read-only folder: the holder lets go when idle all the same
        marker.write_text(f"{os.getpid()} {time.time()}")


def _other_waiter(marker: Path) -> bool:
    """Whether another program has said, in the last moments, that it is waiting for the file."""
    try:
        pid, said_at = marker.read_text().split()
        return pid != str(os.getpid()) and abs(time.time() - float(said_at)) < MARKER_FRESH_SECONDS
    except (OSError, ValueError):
        return False


def _remove_own(marker: Path) -> None:
    with suppress(OSError, ValueError, IndexError):
        if marker.read_text().split()[0] == str(os.getpid()):
            marker.unlink()


# What DuckDB's (and the system's) messages say for each fault of the file or its disk.
DISK_FULL = ("No space left", "File too large", "Disk quota", "not enough space")
DAMAGED = ("not a valid duckdb database", "corrupt", "checksum", "could not read enough bytes")
INVALIDATED = "database has been invalidated"


def _unavailable(path: Path, exc: BaseException) -> StoreUnavailable:
    """The sentence for a fault of the database file or its disk (exit 3, nothing changed)."""
    text = str(exc)
    if any(s in text for s in DISK_FULL):
        return StoreUnavailable(
            f"the disk that holds {path} is full, so the change could not be written; nothing was changed. "
            "Free some space on it (or ask IT to), then try again"
        )
    if _is_permission(text):
        return StoreReadOnly(
            f"the database {path} is read-only for this program (its file or folder may not be written); "
            "nothing was changed, and reading still works. Ask IT to make it writable, then try again"
        )
    if any(s in text.lower() for s in DAMAGED):
        return StoreUnavailable(
            f"{path} is not a dashboard database (it is another kind of file, or damaged); nothing was changed. "
            "Point PUMP_DB or --db at the right file, or restore it from the backup"
        )
    if INVALIDATED in text.lower() or isinstance(exc, duckdb.FatalException):
        return StoreUnavailable(
            f"the database {path} stopped after a failure of its disk or memory; the last change was not stored. "
            "Try again; if it happens again, ask IT to look at the disk"
        )
    return StoreUnavailable(f"the database {path} cannot be used: {text.splitlines()[0] if text else type(exc).__name__}")


def _fault(exc: BaseException) -> bool:
    """Whether a DuckDB error is the file's or the disk's fault, not a bug of ours."""
    if not isinstance(exc, duckdb.Error):
        return False
    if isinstance(exc, (duckdb.IOException, duckdb.FatalException)):
        return True
    text = str(exc)
    return _is_permission(text) or any(s in text for s in DISK_FULL) or any(s in text.lower() for s in (*DAMAGED, "invalidated"))


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Undo an open transaction; when the failure already ended it (a full disk invalidates
    the database), there is nothing to undo, and the first error is the one to report."""
    with suppress(duckdb.Error):
        con.execute("ROLLBACK")




class DuckDBFile:
    """One DuckDB database file as a Store uses it: this process's shared connection (`_Holder`),
    one cursor per use, writes serialised, each in one transaction, faults in sentences."""

    def __init__(self, path: Path, lock_wait: float, idle_release: float, on_wait: Callable[[str], None] | None,
                 create: bool = False):
        self.path, self.lock_wait, self.idle_release, self.on_wait = path, lock_wait, idle_release, on_wait
        self.create = create  # may the first use create the database (init, demo, the dashboard's first start)
        self._holder = _holder(path)

    @contextmanager
    def use(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the shared connection for one use. A fault of the file or its disk
        becomes StoreUnavailable with a sentence; after a fatal one the connection is dropped."""
        cursor = self._holder.acquire(self.lock_wait, self.on_wait, self.create)
        try:
            yield cursor
        except duckdb.Error as exc:
            if not _fault(exc):
                raise
            if isinstance(exc, duckdb.FatalException) or INVALIDATED in str(exc).lower():
                self._holder.discard()
            raise _unavailable(self.path, exc) from exc
        finally:
            self._holder.release(cursor, self.idle_release)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write: all of it lands or none, one at a time in this process."""
        with self._holder.write_lock, self.use() as con:
            if self.read_only:
                raise _unavailable(self.path, PermissionError("read-only mode"))
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                _rollback(con)
                raise
            self._holder.check_in_place()

    @property
    def read_only(self) -> bool:
        return self._holder.read_only

    def rewrite(self) -> bool:
        """Write the file afresh (a copy renamed over it): DuckDB reuses the blocks a change frees but
        does not clear them, so blanked values would otherwise stay in the file's bytes."""
        self._holder.rewrite()
        return True

    @staticmethod
    def grant(con, role: str) -> None:
        raise Refused("a DuckDB file has no roles: who may read or change it is the file's own permissions (and the access file)")

    @staticmethod
    def frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict | list | None = None) -> pd.DataFrame:
        return con.execute(sql, params or {}).df()

    @staticmethod
    @contextmanager
    def as_table(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> Iterator[None]:
        con.register(name, frame)
        try:
            yield
        finally:
            con.unregister(name)

    @staticmethod
    def arrow(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pa.Table:
        return con.sql(sql, params=params or {}).to_arrow_table()

    # ---- the hooks of `store copy` (copy.py; the PostgreSQL engine has the same) ----------------

    @staticmethod
    def tables(con: duckdb.DuckDBPyConnection) -> list[str]:
        """The database's tables, sorted, schema_version and store_identity included."""
        return user_tables(con)

    @staticmethod
    def bulk_insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
        """Insert the rows (columns by name) in one statement, DuckDB reading the Arrow table in place."""
        columns = ", ".join(f'"{name}"' for name in rows.column_names)
        con.register("copied_rows", rows)
        try:
            con.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM copied_rows')
        finally:
            con.unregister("copied_rows")

    @staticmethod
    def continue_ids(con: duckdb.DuckDBPyConnection, sequence: str, next_value: int) -> None:
        """Make `sequence` give `next_value` next (or later, when it is past it already). DuckDB can
        neither ALTER a sequence's value nor replace one a table's default depends on, so the sequence
        is drawn forward in one statement over a range (300,000 ids in about 10 ms). A sequence is
        not transactional: a rollback does not draw it back (the ids stay unique)."""
        start, last = con.execute(
            "SELECT start_value, last_value FROM duckdb_sequences() WHERE sequence_name = ? AND schema_name = current_schema()",
            [sequence],
        ).fetchall()[0]
        coming = start if last is None else last + 1
        if next_value > coming:
            con.execute("SELECT max(nextval(?)) FROM range(?)", [sequence, next_value - coming]).fetchall()


    def analyze(self) -> None:
        """After a bulk load (store copy): nothing to do, DuckDB keeps its statistics as rows are written."""


def count_csv_rows(path: Path, delimiter: str) -> int:
    """The rows of a CSV file as DuckDB's own reader counts them: the bench's yardstick for the ingest."""
    con = duckdb.connect()
    try:
        return con.execute("SELECT count(*) FROM read_csv(?, delim=?, header=true)", [str(path), delimiter]).fetchone()[0]
    finally:
        con.close()
