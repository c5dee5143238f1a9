"""The DuckDB store: schema and migrations, the queries, and the single write path.

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
import datetime as dt
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NoReturn

import duckdb
import pandas as pd
import pyarrow as pa

from dashboard import access as rules
from dashboard import clock
from dashboard.fields import DATE_FIELDS, FIELD_NAMES
from dashboard.identifiers import screen_mapping, screen_stored
from dashboard.removals import check_confirmation, mass_removal

# Free-text fields a director may blank in a stored extract (and its file name).
REDACTABLE = ("screen_fail_reason", "withdrawal_reason", "file_name")
DEFAULT_DB_PATH = Path(__file__).resolve().parent.parent / "data" / "pump.duckdb"
LOCK_WAIT_SECONDS = 30.0
SYSTEM_ACTOR = "system"
# The uploader of demo extracts: how the pages know to label the data as demo; its audit entries say demo.
DEMO_ACTOR = "demo data"
# The audit entry that remembers the access file a database is used with (Store.bind_access).
ACCESS_FILE_ACTION = "access_file"

# Each migration moves the schema one version up; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    # 1: extracts, their sites, participant rows, audit log.
    """
    CREATE SEQUENCE extract_ids START 1;
    CREATE TABLE extracts (
        extract_id INTEGER PRIMARY KEY DEFAULT nextval('extract_ids'),
        trial VARCHAR NOT NULL,
        file_name VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        encoding VARCHAR,
        delimiter VARCHAR,
        uploaded_by VARCHAR NOT NULL,
        uploaded_at TIMESTAMP NOT NULL,
        row_count INTEGER NOT NULL,
        participant_count INTEGER NOT NULL,
        warnings_accepted INTEGER NOT NULL DEFAULT 0,
        diff JSON,
        retracted_at TIMESTAMP,
        retracted_by VARCHAR,
        retraction_reason VARCHAR
    );
    CREATE TABLE extract_sites (
        extract_id INTEGER NOT NULL,
        site VARCHAR NOT NULL,
        PRIMARY KEY (extract_id, site)
    );
    CREATE TABLE participants (
        extract_id INTEGER NOT NULL,
        trial VARCHAR NOT NULL,
        participant_id VARCHAR NOT NULL,
        site VARCHAR NOT NULL,
        screened_on DATE,
        screening_outcome VARCHAR,
        screen_fail_reason VARCHAR,
        consented_on DATE,
        enrolled_on DATE,
        arm VARCHAR,
        status VARCHAR,
        withdrawn_on DATE,
        withdrawal_reason VARCHAR,
        pump_implanted_on DATE,
        treatment_started_on DATE,
        treatment_ended_on DATE,
        cycles_completed INTEGER,
        converted_on DATE,
        source_row INTEGER,
        PRIMARY KEY (extract_id, participant_id)
    );
    CREATE SEQUENCE audit_ids START 1;
    CREATE TABLE audit_log (
        audit_id INTEGER PRIMARY KEY DEFAULT nextval('audit_ids'),
        logged_at TIMESTAMP NOT NULL,
        actor VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        trial VARCHAR,
        extract_id INTEGER,
        detail JSON
    );
    """,
    # 2: column mappings a coordinator chose for a trial and format, remembered.
    """
    CREATE TABLE column_mappings (
        trial VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        field VARCHAR NOT NULL,
        column_name VARCHAR NOT NULL,
        saved_by VARCHAR NOT NULL,
        saved_at TIMESTAMP NOT NULL,
        PRIMARY KEY (trial, format, field)
    );
    """,
    # 3: a later upload of the very file that is current confirms the data is still current
    # (a quiet week's export is identical to last week's): freshness counts from it.
    """
    CREATE TABLE extract_confirmations (
        extract_id INTEGER NOT NULL,
        confirmed_at TIMESTAMP NOT NULL,
        confirmed_by VARCHAR NOT NULL,
        file_name VARCHAR NOT NULL
    );
    """,
    # 4: steering meetings, each with the data cut it saw: the extract current for each
    # (trial, site) at that moment and when its data was last confirmed current then.
    """
    CREATE SEQUENCE meeting_ids START 1;
    CREATE TABLE meetings (
        meeting_id INTEGER PRIMARY KEY DEFAULT nextval('meeting_ids'),
        held_at TIMESTAMP NOT NULL,
        held_by VARCHAR NOT NULL,
        note VARCHAR
    );
    CREATE TABLE meeting_cuts (
        meeting_id INTEGER NOT NULL,
        trial VARCHAR NOT NULL,
        site VARCHAR NOT NULL,
        extract_id INTEGER NOT NULL,
        data_at TIMESTAMP NOT NULL,
        PRIMARY KEY (meeting_id, trial, site)
    );
    """,
    # 5: participant rows stored once per version, not once per extract: a version carries the
    # extract that brought it in (valid_from) and the later extract of its trial and site that
    # changed or dropped it (valid_to, NULL while it lasts). An extract's rows are the versions
    # of its sites with valid_from <= its id < valid_to. Filled from the per-extract copies: a
    # row starts a version unless the previous extract of its site holds the same row.
    """
    CREATE TABLE participant_versions (
        trial VARCHAR NOT NULL,
        participant_id VARCHAR NOT NULL,
        site VARCHAR NOT NULL,
        screened_on DATE,
        screening_outcome VARCHAR,
        screen_fail_reason VARCHAR,
        consented_on DATE,
        enrolled_on DATE,
        arm VARCHAR,
        status VARCHAR,
        withdrawn_on DATE,
        withdrawal_reason VARCHAR,
        pump_implanted_on DATE,
        treatment_started_on DATE,
        treatment_ended_on DATE,
        cycles_completed INTEGER,
        converted_on DATE,
        source_row INTEGER,
        valid_from INTEGER NOT NULL,
        valid_to INTEGER,
        PRIMARY KEY (trial, participant_id, valid_from)
    );
    INSERT INTO participant_versions
    WITH chain AS (
        SELECT e.trial, s.site, e.extract_id,
               lag(e.extract_id) OVER (PARTITION BY e.trial, s.site ORDER BY e.extract_id) AS previous,
               lead(e.extract_id) OVER (PARTITION BY e.trial, s.site ORDER BY e.extract_id) AS next
        FROM extracts e JOIN extract_sites s USING (extract_id)
    ),
    marked AS (
        SELECT p.*, c.next,
               (q.participant_id IS NULL
                   OR q.screened_on IS DISTINCT FROM p.screened_on
                   OR q.screening_outcome IS DISTINCT FROM p.screening_outcome
                   OR q.screen_fail_reason IS DISTINCT FROM p.screen_fail_reason
                   OR q.consented_on IS DISTINCT FROM p.consented_on
                   OR q.enrolled_on IS DISTINCT FROM p.enrolled_on
                   OR q.arm IS DISTINCT FROM p.arm
                   OR q.status IS DISTINCT FROM p.status
                   OR q.withdrawn_on IS DISTINCT FROM p.withdrawn_on
                   OR q.withdrawal_reason IS DISTINCT FROM p.withdrawal_reason
                   OR q.pump_implanted_on IS DISTINCT FROM p.pump_implanted_on
                   OR q.treatment_started_on IS DISTINCT FROM p.treatment_started_on
                   OR q.treatment_ended_on IS DISTINCT FROM p.treatment_ended_on
                   OR q.cycles_completed IS DISTINCT FROM p.cycles_completed
                   OR q.converted_on IS DISTINCT FROM p.converted_on)::INTEGER AS starts
        FROM participants p
        JOIN chain c ON c.extract_id = p.extract_id AND c.site = p.site AND c.trial = p.trial
        LEFT JOIN participants q
          ON q.extract_id = c.previous AND q.trial = p.trial AND q.site = p.site AND q.participant_id = p.participant_id
    ),
    runs AS (
        SELECT *, sum(starts) OVER (PARTITION BY trial, site, participant_id ORDER BY extract_id) AS run FROM marked
    )
    -- A run's rows are equal in every field (that is what continues it): take the first's.
    SELECT trial, participant_id, site,
           first(screened_on ORDER BY extract_id),
           first(screening_outcome ORDER BY extract_id),
           first(screen_fail_reason ORDER BY extract_id),
           first(consented_on ORDER BY extract_id),
           first(enrolled_on ORDER BY extract_id),
           first(arm ORDER BY extract_id),
           first(status ORDER BY extract_id),
           first(withdrawn_on ORDER BY extract_id),
           first(withdrawal_reason ORDER BY extract_id),
           first(pump_implanted_on ORDER BY extract_id),
           first(treatment_started_on ORDER BY extract_id),
           first(treatment_ended_on ORDER BY extract_id),
           first(cycles_completed ORDER BY extract_id),
           first(converted_on ORDER BY extract_id),
           first(source_row ORDER BY extract_id), min(extract_id), last(next ORDER BY extract_id)
    FROM runs GROUP BY trial, site, participant_id, run;
    DROP TABLE participants;
    """,
    # 6: pulls from an EDC that wait for a person's decision (warnings to accept, a mass removal,
    # a mapping): what the report showed and the participants as canonical rows (the template's
    # CSV, no more than an extract holds), kept after the decision (nothing is deleted). An
    # extract names the source it was pulled from (NULL: uploaded), for "how the data came".
    """
    CREATE SEQUENCE pull_ids START 1;
    CREATE TABLE waiting_pulls (
        pull_id INTEGER PRIMARY KEY DEFAULT nextval('pull_ids'),
        source VARCHAR NOT NULL,
        trial VARCHAR NOT NULL,
        site VARCHAR NOT NULL,
        pulled_at TIMESTAMP NOT NULL,
        pulled_by VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        report JSON NOT NULL,
        canonical_csv VARCHAR,
        decided_at TIMESTAMP,
        decided_by VARCHAR,
        decision VARCHAR,
        extract_id INTEGER
    );
    ALTER TABLE extracts ADD COLUMN source VARCHAR;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# The extract that is current for each (trial, site) as of a moment: the newest one
# accepted by then that is not retracted. Retraction is a correction, so a retracted
# extract is left out of past views too.
CURRENT_EXTRACTS = """
    SELECT trial, site, extract_id FROM (
        SELECT e.trial, s.site, e.extract_id,
               row_number() OVER (PARTITION BY e.trial, s.site ORDER BY e.uploaded_at DESC, e.extract_id DESC) AS newest
        FROM extracts e JOIN extract_sites s USING (extract_id)
        WHERE e.retracted_at IS NULL AND e.uploaded_at <= $as_of
    ) WHERE newest = 1
"""


# Arrow's whole numbers as pandas' nullable ones, as DuckDB's own conversion gives them.
_NULLABLE_INTS = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}

# The participant columns of a snapshot, in the canonical order (rows_as_in's, without the extract,
# trial and source row around them).
_COLUMNS = ", ".join(f"v.{name}" for name in FIELD_NAMES)
SNAPSHOT_COLUMNS = ("extract_id", "trial", *FIELD_NAMES, "source_row")
# The fields whose change makes a new version (the row number in the file does not).
_VERSIONED = [name for name in FIELD_NAMES if name not in ("participant_id", "site")]


def rows_as_in(cuts: str) -> str:
    """SQL for the participant rows as they stood in given extracts: `cuts` selects
    (trial, site, extract_id), and each extract's rows of that site are the versions with
    valid_from <= extract_id < valid_to. Reads about as many rows as there are versions."""
    return f"""
        SELECT c.extract_id, v.trial, {_COLUMNS}, v.source_row
        FROM participant_versions v JOIN ({cuts}) c ON c.trial = v.trial AND c.site = v.site
        WHERE v.valid_from <= c.extract_id AND (v.valid_to IS NULL OR v.valid_to > c.extract_id)
    """


# The newest moment anything was stored at: a write is never stamped before it.
NEWEST_MOMENT = """
    SELECT greatest((SELECT max(logged_at) FROM audit_log), (SELECT max(uploaded_at) FROM extracts),
                    (SELECT max(retracted_at) FROM extracts), (SELECT max(confirmed_at) FROM extract_confirmations),
                    (SELECT max(held_at) FROM meetings), (SELECT max(saved_at) FROM column_mappings))
"""
JUST_AFTER = dt.timedelta(microseconds=1)
# "As of now" for a read: everything stored (a write may be stamped a moment after the clock's second).
EVERYTHING = dt.datetime(9999, 12, 31)


def forward_moment(con: duckdb.DuckDBPyConnection) -> dt.datetime:
    """The moment of a write: the later of the clock and just after the newest moment stored, so that
    a clock set back (PUMP_TODAY, a wrong system clock) can never date a write before what is stored,
    and no past view changes after the fact."""
    newest = con.execute(NEWEST_MOMENT).fetchone()[0]
    return clock.now() if newest is None else max(clock.now(), newest + JUST_AFTER)


def _same_version(new: str, old: str) -> str:
    """SQL: the row `new` (typed) holds exactly what version `old` holds."""
    return " AND ".join([f"{old}.site = {new}.site", f"{old}.participant_id = {new}.participant_id",
                         *(f"{old}.{name} IS NOT DISTINCT FROM {new}.{name}" for name in _VERSIONED)])


class StoreUnavailable(RuntimeError):
    """The database cannot be used (not a database, damaged, from a newer version, read-only
    for a write, disk full): nothing was changed; the message says what happened and what
    to do (exit 3)."""


class StoreBusy(StoreUnavailable):
    """Another program holds the database file for longer than we wait."""


class StoreReadOnly(StoreUnavailable):
    """A change was asked of a database this program may only read."""


class Refused(ValueError):
    """A write was refused; nothing changed. The message says why."""


class _ContentRefused(Refused):
    """A refusal found inside a write's transaction, audited once the transaction is rolled back."""

    def __init__(self, message: str, code: str, **counts):
        super().__init__(message)
        self.code, self.counts = code, {k: v for k, v in counts.items() if v is not None}


class AlreadyLoaded(Refused):
    """The very file is the current extract already (another upload of it landed first)."""

    def __init__(self, extract_id: int):
        super().__init__(f"this file is already loaded as extract #{extract_id}; nothing changed")
        self.extract_id = extract_id


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

    def acquire(self, lock_wait: float, on_wait: Callable[[str], None] | None) -> duckdb.DuckDBPyConnection:
        with self.lock:
            self.idle_since = None
            if self.con is None:
                self.con, self.read_only = _open(self.path, self.marker, lock_wait, on_wait)
                try:
                    migrate(self.con, read_only=self.read_only, path=self.path)
                except BaseException:
                    self._close()
                    raise
            cursor = self.con.cursor()
            self.users += 1
            me = threading.get_ident()
            self.by_thread[me] = self.by_thread.get(me, 0) + 1
            return cursor

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
DAMAGED = ("not a valid duckdb database", "corrupt", "checksum")
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


class Store:
    """One database file. Uses share this process's connection to it, each on its own cursor
    (see the module docstring); `idle_release` is how long the process keeps the file open
    after its last use (the command line: not at all; the dashboard: a moment)."""

    def __init__(
        self,
        path: Path | str = DEFAULT_DB_PATH,
        lock_wait: float | None = None,
        idle_release: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock_wait = lock_wait_from_environment() if lock_wait is None else lock_wait
        self.idle_release = idle_release
        self.on_wait = on_wait
        self._holder = _holder(self.path)
        # Added to every audit entry of this store's writes: on the command line, the operating-system
        # user and the person of the access file it maps to (cli.py).
        self.run_by: dict[str, str] | None = None

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the shared connection for one use. A fault of the file or its disk
        becomes StoreUnavailable with a sentence; after a fatal one the connection is dropped."""
        cursor = self._holder.acquire(self.lock_wait, self.on_wait)
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

    @property
    def read_only(self) -> bool:
        """Whether this program may only read the database (known once it has been opened)."""
        return self._holder.read_only

    def query(self, sql: str, params: dict | list | None = None) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(sql, params or {}).df()

    def arrow_query(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        """As `query`, through Arrow: three times faster for a large snapshot (mostly its text columns),
        in the dtypes `query` gives (dates as datetime64[us], whole numbers with gaps nullable, a text
        column of nothing but gaps as objects)."""
        with self.connect() as con:
            table = con.sql(sql, params=params or {}).to_arrow_table()
        frame = table.to_pandas(date_as_object=False)
        for field, column in zip(table.schema, table.columns, strict=True):
            if pa.types.is_date(field.type) or pa.types.is_timestamp(field.type):
                frame[field.name] = frame[field.name].astype("datetime64[us]")
            elif pa.types.is_integer(field.type) and column.null_count:
                frame[field.name] = column.to_pandas(types_mapper=_NULLABLE_INTS.get)
            elif pa.types.is_string(field.type) and column.null_count == len(column):  # (or no rows)
                frame[field.name] = pd.Series([None] * len(column), index=frame.index, dtype=object)
        return frame

    def scalar(self, sql: str, params: dict | list | None = None):
        with self.connect() as con:
            row = con.execute(sql, params or {}).fetchone()
            return row[0] if row else None

    # ---- the single write path -------------------------------------------------------

    def write(self, actor: str, action: str, change: Callable[[duckdb.DuckDBPyConnection], dict], trial: str | None = None) -> dict:
        """Run `change` and its audit record in one transaction: all of it lands or none.
        `change` returns the audit detail (with `extract_id` when it concerns one: the audit entry's
        trial is then the extract's, unless `trial` is given). Inside it `_now()` is the write's
        moment (forward_moment: never before anything stored), and the audit entry has it too."""
        if not actor or not actor.strip():
            raise Refused("say who you are: every change is recorded with the acting user")
        with self._holder.write_lock, self.connect() as con:
            if self.read_only:
                raise _unavailable(self.path, PermissionError("read-only mode"))
            con.execute("BEGIN TRANSACTION")
            try:
                moment = _WRITING.moment = forward_moment(con)
                detail = change(con)
                if actor.strip() == DEMO_ACTOR:
                    detail = {**detail, "demo": True}
                if self.run_by:
                    detail = {**detail, **self.run_by}
                extract_id = detail.get("extract_id")
                con.execute(
                    """INSERT INTO audit_log (logged_at, actor, action, trial, extract_id, detail)
                       VALUES ($at, $actor, $action,
                               coalesce($trial, (SELECT trial FROM extracts WHERE extract_id = $extract_id)),
                               $extract_id, $detail)""",
                    {"at": moment, "actor": actor.strip(), "action": action, "trial": trial,
                     "extract_id": extract_id, "detail": json.dumps(detail, default=str)},
                )
                con.execute("COMMIT")
            except BaseException:
                _rollback(con)
                raise
            finally:
                _WRITING.moment = None
        return detail

    def refuse(self, actor: str | None, action: str, reason: str, trial: str | None = None, **counts) -> NoReturn:
        """Write one audit entry for a refusal (the reason and counts, never participant text), in a
        transaction of its own, then raise Refused with the reason."""
        who = actor.strip() if actor and actor.strip() else "(no name given)"
        self.write(who, "refused", lambda con: {"action": action, "reason": reason, **counts}, trial=trial)
        raise Refused(reason)

    def adopt_access(self, access: rules.Access, actor: str) -> dict:
        """From now on this database is used with `access` (another file): the caller has checked
        that `actor` is a programme director of the file it was used with (cli.py `access adopt`)."""
        detail = {"path": str(Path(access.path).resolve()), "sha256": access.sha256, "adopted": True}
        return self.write(actor, ACCESS_FILE_ACTION, lambda con: detail)

    def refused_content(self, actor: str | None, action: str, message: str, code: str, trial: str | None = None,
                        **counts) -> NoReturn:
        """Refuse for what a write would store (an identifier, errors, a mass removal): the audit entry
        holds the kind of problem (`code`) and counts, never the message, which may quote the data."""
        with suppress(Refused):
            self.refuse(actor, action, code, trial=trial, **counts)
        raise Refused(message)

    def check_grant(
        self,
        actor: str,
        action: str,
        access: rules.Access | None = None,
        trial: str | None = None,
        sites: list[str] | None = None,
        extract_uploaded_by: str | None = None,
        detail: dict | None = None,
    ) -> None:
        """Refuse `action` when the access file does not grant it to `actor` (DESIGN.md 6.1):
        the refusal is written to the audit log in a transaction of its own, then raised. `access`
        is the access file in use; None reads it from $PUMP_ACCESS or data/access.toml, so no
        caller can skip the check by leaving it out. Without an access file (local mode) the one
        person at this computer may do everything, unless the database has been used with an access
        file: then it is a signed-in deployment and a write without one is refused (bind_access)."""
        access = access if access is not None else rules.active()
        reason = self.bind_access(access)
        if reason is None and access is not None:
            reason = rules.refusal(access.grant_for(actor), action, trial, sites, extract_uploaded_by, who=actor)
        if reason is not None:
            self.refuse(actor, action, reason, trial=trial, sites=sites, **(detail or {}))

    def remembered_access(self) -> dict | None:
        """The access file this database was last used with ({path, sha256}), or None: never with one."""
        text = self.scalar(f"SELECT detail FROM audit_log WHERE action = '{ACCESS_FILE_ACTION}' ORDER BY audit_id DESC LIMIT 1")
        return json.loads(text) if text else None

    def bind_access(self, access: rules.Access | None) -> str | None:
        """Why a write with `access` (None: no access file) may not go ahead on this database, or None.
        The first use with an access file is remembered (its path and fingerprint, in the audit log);
        from then on a write needs that very file: none at all is refused, and so is another file (a
        file of one's own named by PUMP_ACCESS); the same file with new content is a change of the
        grants, recorded. A programme director moves the database to another file (`access adopt`)."""
        if access is not None and access.path is None:
            return None  # grants given in code (the demo loader's), not a file
        remembered = self.remembered_access()
        if access is None:
            if remembered is None:
                return None
            return (f"this database is used with sign-in: give the access file (PUMP_ACCESS={remembered['path']}); "
                    "nothing was changed")
        path = str(Path(access.path).resolve())
        if remembered is not None and remembered["path"] != path:
            return (f"this database is used with the access file {remembered['path']}, not {path}; nothing was changed. "
                    "A programme director moves it to another file with `python -m dashboard access adopt`")
        if remembered is None or remembered["sha256"] != access.sha256:
            self.record(SYSTEM_ACTOR, ACCESS_FILE_ACTION, {"path": path, "sha256": access.sha256,
                                                           "changed": remembered is not None})
        return None

    def add_extract(
        self,
        extract: dict,
        sites: list[str],
        participants: pd.DataFrame,
        actor: str,
        mapping: dict[str, str] | None = None,
        confirm_removals: int | None = None,
        based_on: dict[str, int] | None = None,
        access: rules.Access | None = None,
        reasons: dict[str, dict[str, str]] | None = None,
    ) -> int:
        """Store one accepted extract and its participant rows, and the column mapping the
        coordinator chose for it (remembered for the trial and format), in one transaction;
        returns the extract's id. Refused, with nothing stored, when any text holds a direct
        identifier, when it removes many current participants and `confirm_removals` is not
        that number, or when the sites' current extracts are no longer `based_on`, those the
        preview was made against (another upload landed in between). Refused and audited when the
        actor's grant does not cover the trial and every site (check_grant). `reasons`, the codes
        chosen for typed reasons ({"reasons:<field>": {fingerprint: code}}), are added to those remembered."""
        self.check_grant(actor, "ingest", access, trial=extract["trial"], sites=list(sites), detail={"sha256": extract["sha256"]})
        problem = screen_mapping(mapping) or screen_stored(
            {
                "The file name": extract["file_name"],
                "`screen_fail_reason`": participants["screen_fail_reason"],
                "`withdrawal_reason`": participants["withdrawal_reason"],
            },
            ids=participants["participant_id"],
        )
        if problem:
            self.refused_content(actor, "ingest", problem, "identifier", trial=extract["trial"], rows=len(participants))

        def change(con: duckdb.DuckDBPyConnection) -> dict:
            at = extract.get("uploaded_at") or _now()
            duplicate = _loaded_already(con, extract["trial"], extract["sha256"], at)
            if duplicate is not None:
                raise AlreadyLoaded(duplicate)
            current = con.execute(
                f"""SELECT site, participant_id, extract_id FROM ({rows_as_in(CURRENT_EXTRACTS)})
                    WHERE trial = $trial AND list_contains($sites, site)""",
                {"as_of": at, "trial": extract["trial"], "sites": sites},
            ).df()
            if based_on is not None and extract_per_site(current) != based_on:
                raise Refused(
                    f"another {extract['trial']} extract was stored while you were checking this one, so what it "
                    "changes is no longer what you saw; check the file again. Nothing was stored."
                )
            removal = mass_removal(extract["trial"], current, participants["participant_id"])
            refusal = check_confirmation(removal, confirm_removals)
            if refusal:
                raise _ContentRefused(refusal, "mass removal", removed=removal.count)
            extract_id = con.execute(
                """INSERT INTO extracts (trial, file_name, sha256, format, encoding, delimiter, uploaded_by,
                       uploaded_at, row_count, participant_count, warnings_accepted, diff, source)
                   VALUES ($trial, $file_name, $sha256, $format, $encoding, $delimiter, $actor, $uploaded_at,
                       $row_count, $participant_count, $warnings_accepted, $diff, $source)
                   RETURNING extract_id""",
                {**extract, "actor": actor.strip(), "uploaded_at": at, "source": extract.get("source")},
            ).fetchone()[0]
            con.executemany("INSERT INTO extract_sites VALUES (?, ?)", [[extract_id, s] for s in sites])
            _store_versions(con, extract["trial"], sites, extract_id, participants)
            if mapping:
                _replace_mapping(con, extract["trial"], extract["format"], mapping, actor)
            for key, chosen in (reasons or {}).items():
                _add_mapping(con, extract["trial"], key, chosen, actor)
            return {
                "mapping": mapping or None,
                # How many typed reasons were mapped to a code: a count, the words are never stored.
                "reasons_mapped": sum(len(chosen) for chosen in (reasons or {}).values()) or None,
                "extract_id": extract_id,
                # No file name: the history shows the one confirmed after the screen, and a redaction blanks it there.
                "sha256": extract["sha256"],
                "sites": sites,
                "participants": len(participants),
                # Counts only: the audit log is never changed, so it holds no participant's text.
                "diff": json.loads(extract["diff"]).get("counts") if extract.get("diff") else None,
                "removals_confirmed": confirm_removals,
            }

        try:
            return self.write(actor, "ingest", change, trial=extract["trial"])["extract_id"]
        except _ContentRefused as exc:  # rolled back; now the refusal's own audit entry
            self.refused_content(actor, "ingest", str(exc), exc.code, trial=extract["trial"], rows=len(participants), **exc.counts)

    def confirm_extract(
        self, extract_id: int, actor: str, file_name: str, at: dt.datetime | None = None, access: rules.Access | None = None
    ) -> None:
        """Record that the current extract was uploaded again: its data is confirmed current (an
        upload, so the actor's grant must cover the extract's trial and sites)."""
        sites = self.query("SELECT e.trial, s.site FROM extracts e JOIN extract_sites s USING (extract_id) WHERE extract_id = ?",
                           [extract_id])
        trial = None if sites.empty else str(sites["trial"].iloc[0])
        self.check_grant(actor, "ingest", access, trial=trial, sites=sorted(sites["site"]), detail={"extract_id": extract_id})

        def change(con: duckdb.DuckDBPyConnection) -> dict:
            con.execute(
                "INSERT INTO extract_confirmations VALUES (?, ?, ?, ?)", [extract_id, at or _now(), actor.strip(), file_name]
            )
            return {"extract_id": extract_id}

        self.write(actor, "reconfirm", change)

    def retract(self, extract_id: int, actor: str, reason: str, access: rules.Access | None = None) -> dict:
        """Mark an extract retracted; the previous extract of its sites becomes current again.
        A coordinator retracts only their own extracts; a director any (check_grant)."""
        owner = self.query("SELECT trial, uploaded_by FROM extracts WHERE extract_id = ?", [extract_id])
        if not owner.empty:
            self.check_grant(actor, "retract", access, trial=str(owner["trial"].iloc[0]),
                             extract_uploaded_by=str(owner["uploaded_by"].iloc[0]), detail={"extract_id": extract_id})
        if not reason or not reason.strip():
            raise Refused("give a reason for the retraction; it is kept in the audit log")
        problem = screen_stored({"The reason": reason})
        if problem:
            self.refused_content(actor, "retract", problem, "identifier", extract_id=extract_id)

        def change(con: duckdb.DuckDBPyConnection) -> dict:
            row = con.execute("SELECT trial, retracted_at FROM extracts WHERE extract_id = ?", [extract_id]).fetchone()
            if row is None:
                raise Refused(f"there is no extract #{extract_id}")
            if row[1] is not None:
                raise Refused(f"extract #{extract_id} was already retracted on {row[1]:%d-%m-%Y %H:%M}")
            con.execute(
                "UPDATE extracts SET retracted_at = ?, retracted_by = ?, retraction_reason = ? WHERE extract_id = ?",
                [_now(), actor.strip(), reason.strip(), extract_id],
            )
            return {"extract_id": extract_id, "trial": row[0], "reason": reason.strip()}

        return self.write(actor, "retract", change)

    def redact(self, extract_id: int, fields: list[str], actor: str, reason: str, access: rules.Access | None = None) -> dict:
        """Blank named text fields of a stored extract that should never have held them: the
        one exception to "nothing is deleted". Each text this extract holds goes from every place it
        is stored: every version of that participant that carries it (before and after this
        extract), every stored diff of the trial that carries it, and (for `file_name`) the file name
        of the extract and of its confirmations. The audit entry says who, when, which fields and how
        many values, never the content. Then the file is rewritten, so that the old bytes are gone
        from it too (rewrite_file). Directors only (check_grant)."""
        self.check_grant(actor, "redact", access, detail={"extract_id": extract_id})
        unknown = sorted(set(fields) - set(REDACTABLE))
        if not fields or unknown:
            raise Refused(f"choose the fields to blank from {', '.join(REDACTABLE)}" + (f"; not {', '.join(unknown)}" if unknown else ""))
        if not reason or not reason.strip():
            raise Refused("give a reason for the redaction; it is kept in the audit log")
        problem = screen_stored({"The reason": reason})
        if problem:
            self.refused_content(actor, "redact", problem, "identifier", extract_id=extract_id)

        def change(con: duckdb.DuckDBPyConnection) -> dict:
            row = con.execute("SELECT trial, diff FROM extracts WHERE extract_id = ?", [extract_id]).fetchone()
            if row is None:
                raise Refused(f"there is no extract #{extract_id}")
            trial = row[0]
            blanked, texts = {}, {}
            for name in (f for f in fields if f != "file_name"):
                texts[name] = _held_texts(con, extract_id, name)
                blanked[name] = _blank_versions(con, trial, name, texts[name])
            _forget_in_pulls(con, trial, [text for pairs in texts.values() for _, text in pairs])
            diffs = 0
            for other_id, diff in con.execute("SELECT extract_id, diff FROM extracts WHERE trial = ? AND diff IS NOT NULL",
                                              [trial]).fetchall():
                cleaned = _forgotten_in_diff(_redacted_diff(diff, fields) if other_id == extract_id else diff, texts)
                if cleaned != diff:
                    con.execute("UPDATE extracts SET diff = ? WHERE extract_id = ?", [cleaned, other_id])
                    diffs += 1
            if "file_name" in fields:
                con.execute("UPDATE extracts SET file_name = ? WHERE extract_id = ?", [f"(redacted) extract #{extract_id}", extract_id])
                blanked["file_name"] = 1 + con.execute(
                    "UPDATE extract_confirmations SET file_name = ? WHERE extract_id = ?", [f"(redacted) extract #{extract_id}", extract_id]
                ).fetchone()[0]
            return {"extract_id": extract_id, "fields": sorted(fields), "values_blanked": blanked, "diffs_cleaned": diffs,
                    "reason": reason.strip()}

        detail = self.write(actor, "redact", change)
        self.rewrite_file()
        return detail

    def rewrite_file(self) -> None:
        """Write the database afresh (a copy, then a rename over the old file), so that blanked
        values leave no bytes behind: DuckDB reuses the blocks a change frees but does not clear them."""
        self._holder.rewrite()

    def record(self, actor: str, action: str, detail: dict, trial: str | None = None) -> None:
        """An audit entry for an action that changes no data (e.g. a new configuration)."""
        self.write(actor, action, lambda con: detail, trial=trial)

    def hold_meeting(
        self, actor: str, note: str | None = None, at: dt.datetime | None = None, access: rules.Access | None = None
    ) -> dict:
        """Record a steering meeting held now (or `at`), by `actor`, with an optional note, and
        freeze the data cut it saw: the extract current for each (trial, site) at that moment.
        A correction uploaded later never rewrites that cut. Directors only (check_grant)."""
        self.check_grant(actor, "meeting", access)
        note = (note or "").strip() or None
        problem = screen_stored({"The meeting note": note})
        if problem:
            self.refused_content(actor, "meeting", problem, "identifier")

        def change(con: duckdb.DuckDBPyConnection) -> dict:
            held_at = at or _now()
            meeting_id = con.execute(
                "INSERT INTO meetings (held_at, held_by, note) VALUES (?, ?, ?) RETURNING meeting_id",
                [held_at, actor.strip(), note],
            ).fetchone()[0]
            con.execute(
                f"""INSERT INTO meeting_cuts
                    SELECT $meeting_id, c.trial, c.site, c.extract_id,
                           greatest(e.uploaded_at, coalesce(max(k.confirmed_at), e.uploaded_at))
                    FROM ({CURRENT_EXTRACTS}) c JOIN extracts e USING (extract_id)
                    LEFT JOIN extract_confirmations k ON k.extract_id = e.extract_id AND k.confirmed_at <= $as_of
                    GROUP BY c.trial, c.site, c.extract_id, e.uploaded_at""",
                {"meeting_id": meeting_id, "as_of": held_at},
            )
            extracts = con.execute("SELECT count(DISTINCT extract_id) FROM meeting_cuts WHERE meeting_id = ?", [meeting_id]).fetchone()[0]
            return {"meeting_id": meeting_id, "held_at": held_at.isoformat(sep=" "), "note": note, "extracts": extracts}

        return self.write(actor, "meeting", change)

    # ---- pulls that wait for a person ------------------------------------------------

    def hold_pull(self, actor: str, pull: dict, detail: dict) -> int:
        """Keep a pull that needs a person's decision, and audit it (action `pull`, `detail`), in one
        transaction; an earlier undecided pull of the same source is superseded by it."""

        def change(con: duckdb.DuckDBPyConnection) -> dict:
            at = _now()
            con.execute(
                """UPDATE waiting_pulls SET decided_at = $at, decided_by = $actor, decision = 'superseded'
                   WHERE source = $source AND decided_at IS NULL""",
                {"at": at, "actor": actor.strip(), "source": pull["source"]},
            )
            pull_id = con.execute(
                """INSERT INTO waiting_pulls (source, trial, site, pulled_at, pulled_by, sha256, format, report, canonical_csv)
                   VALUES ($source, $trial, $site, $at, $actor, $sha256, $format, $report, $canonical_csv) RETURNING pull_id""",
                {**pull, "at": at, "actor": actor.strip(), "report": json.dumps(pull["report"], default=str)},
            ).fetchone()[0]
            return {**detail, "pull_id": pull_id}

        return self.write(actor, "pull", change, trial=pull["trial"])["pull_id"]

    def data_arrivals(self, as_of: dt.datetime | None = None) -> pd.DataFrame:
        """Per (trial, site): how its current data came: the extract's source (NULL: uploaded), format
        and uploader, and the last moment it was stored or confirmed, by whom."""
        sql = f"""
            SELECT c.trial, c.site, e.extract_id, e.source, e.format, e.uploaded_by, e.uploaded_at,
                   coalesce(k.confirmed_at, e.uploaded_at) AS data_at, coalesce(k.confirmed_by, e.uploaded_by) AS data_by
            FROM ({CURRENT_EXTRACTS}) c JOIN extracts e USING (extract_id)
            LEFT JOIN (SELECT extract_id, max(confirmed_at) AS confirmed_at, arg_max(confirmed_by, confirmed_at) AS confirmed_by
                       FROM extract_confirmations WHERE confirmed_at <= $as_of GROUP BY extract_id) k USING (extract_id)
            ORDER BY c.trial, c.site
        """
        return self.query(sql, {"as_of": as_of or EVERYTHING})

    def waiting_pulls(self, trial: str | None = None) -> pd.DataFrame:
        """The pulls that wait for a decision, oldest first (report as parsed JSON)."""
        frame = self.query(
            """SELECT pull_id, source, trial, site, pulled_at, pulled_by, sha256, format, report, canonical_csv
               FROM waiting_pulls WHERE decided_at IS NULL AND ($trial IS NULL OR trial = $trial) ORDER BY pull_id""",
            {"trial": trial},
        )
        frame["report"] = frame["report"].map(json.loads)
        return frame

    def supersede_pulls(self, source: str, actor: str) -> int:
        """Close the undecided pulls of a source that a later pull has overtaken (stored or confirmed
        its data): they no longer wait for anyone. Returns how many; audited when there were any."""
        if not self.scalar("SELECT count(*) FROM waiting_pulls WHERE source = ? AND decided_at IS NULL", [source]):
            return 0

        def change(con: duckdb.DuckDBPyConnection) -> dict:
            closed = con.execute(
                """UPDATE waiting_pulls SET decided_at = $at, decided_by = $actor, decision = 'superseded'
                   WHERE source = $source AND decided_at IS NULL""",
                {"at": _now(), "actor": actor.strip(), "source": source},
            ).fetchone()[0]
            return {"source": source, "decision": "superseded", "pulls": closed}

        return self.write(actor, "pull_decision", change)["pulls"]

    def decide_pull(self, pull_id: int, actor: str, decision: str, extract_id: int | None = None, detail: dict | None = None) -> None:
        """Record what became of a waiting pull (`stored` as `extract_id`), audited as a `pull` entry whose
        outcome is the decision: the pull's final outcome, as the digest reads it."""

        trial = self.scalar("SELECT trial FROM waiting_pulls WHERE pull_id = ?", [pull_id])

        def change(con: duckdb.DuckDBPyConnection) -> dict:
            row = con.execute("SELECT trial, decided_at FROM waiting_pulls WHERE pull_id = ?", [pull_id]).fetchone()
            if row is None:
                raise Refused(f"there is no waiting pull #{pull_id}")
            if row[1] is not None:
                raise Refused(f"pull #{pull_id} was decided already, on {row[1]:%d-%m-%Y %H:%M}")
            con.execute(
                "UPDATE waiting_pulls SET decided_at = ?, decided_by = ?, decision = ?, extract_id = ? WHERE pull_id = ?",
                [_now(), actor.strip(), decision, extract_id, pull_id],
            )
            return {**(detail or {}), "outcome": decision, "pull_id": pull_id, "extract_id": extract_id}

        self.write(actor, "pull", change, trial=trial)

    # ---- queries ---------------------------------------------------------------------

    def data_version(self) -> int:
        """Grows with every change; cheap enough to poll."""
        return int(self.scalar("SELECT coalesce(max(audit_id), 0) FROM audit_log"))

    def is_empty(self) -> bool:
        return self.scalar("SELECT count(*) FROM extracts") == 0

    def loaded_already(self, trial: str, sha256: str) -> int | None:
        with self.connect() as con:
            return _loaded_already(con, trial, sha256, EVERYTHING)

    def current_participants(
        self, trial: str | None = None, as_of: dt.datetime | None = None, columns: tuple[str, ...] | None = None
    ) -> pd.DataFrame:
        """The rows of the current extract of each (trial, site), as of a moment (default now); only
        `columns` when given (the conversion to a frame is most of the cost of a large snapshot)."""
        unknown = set(columns or ()) - set(SNAPSHOT_COLUMNS)
        if unknown:
            raise ValueError(f"no such participant columns: {sorted(unknown)}")
        chosen = ", ".join(columns) if columns else "*"
        sql = f"""
            SELECT {chosen} FROM ({rows_as_in(f"SELECT * FROM ({CURRENT_EXTRACTS}) WHERE $trial IS NULL OR trial = $trial")})
            {"" if columns else "ORDER BY trial, site, participant_id"}  -- the summary's narrowed snapshot needs no order: it groups
        """
        return self.arrow_query(sql, {"as_of": as_of or EVERYTHING, "trial": trial})

    def extract_participants(self, extract_id: int) -> pd.DataFrame:
        """The participant rows of one extract as it was stored (retracted or not)."""
        cuts = "SELECT e.trial, s.site, e.extract_id FROM extracts e JOIN extract_sites s USING (extract_id) WHERE e.extract_id = $id"
        return self.query(f"SELECT * FROM ({rows_as_in(cuts)}) ORDER BY site, participant_id", {"id": extract_id})

    def extracts(self, as_of: dt.datetime | None = None) -> pd.DataFrame:
        """Every extract with its sites and its status: current, superseded or retracted. With `as_of`,
        those accepted by then, current and confirmed as they stood then (a retraction, being a
        correction, counts in past views too, as in CURRENT_EXTRACTS)."""
        sql = f"""
            WITH cur AS (SELECT DISTINCT extract_id FROM ({CURRENT_EXTRACTS}))
            SELECT e.extract_id, e.trial,
                   (SELECT string_agg(site, ', ' ORDER BY site) FROM extract_sites s WHERE s.extract_id = e.extract_id) AS sites,
                   e.file_name, e.uploaded_by, e.uploaded_at, e.sha256, e.format, e.row_count, e.participant_count,
                   CASE WHEN e.retracted_at IS NOT NULL THEN 'retracted'
                        WHEN e.extract_id IN (SELECT extract_id FROM cur) THEN 'current'
                        ELSE 'superseded' END AS status,
                   e.retracted_at, e.retracted_by, e.retraction_reason, e.diff,
                   (SELECT max(confirmed_at) FROM extract_confirmations k
                    WHERE k.extract_id = e.extract_id AND k.confirmed_at <= $until) AS last_confirmed_at
            FROM extracts e WHERE e.uploaded_at <= $until ORDER BY e.extract_id DESC
        """
        # Without as_of: everything ever stored (a timestamp later than any), status as of now.
        return self.query(sql, {"as_of": as_of or EVERYTHING, "until": as_of or EVERYTHING})

    def last_extract_per_site(self, as_of: dt.datetime | None = None) -> pd.DataFrame:
        """Per (trial, site): the current extract and when its data was last confirmed
        current (its upload, or a later upload of the same file)."""
        sql = f"""
            SELECT c.trial, c.site, e.extract_id,
                   greatest(e.uploaded_at, coalesce(max(k.confirmed_at), e.uploaded_at)) AS uploaded_at
            FROM ({CURRENT_EXTRACTS}) c JOIN extracts e USING (extract_id)
            LEFT JOIN extract_confirmations k ON k.extract_id = e.extract_id AND k.confirmed_at <= $as_of
            GROUP BY c.trial, c.site, e.extract_id, e.uploaded_at
        """
        return self.query(sql, {"as_of": as_of or EVERYTHING})

    def meetings(self) -> pd.DataFrame:
        """Every meeting, newest first, with the number of extracts in its data cut."""
        return self.query(
            """SELECT m.meeting_id, m.held_at, m.held_by, m.note,
                      (SELECT count(DISTINCT extract_id) FROM meeting_cuts c WHERE c.meeting_id = m.meeting_id) AS extracts
               FROM meetings m ORDER BY m.held_at DESC, m.meeting_id DESC"""
        )

    def meeting_participants(self, meeting_id: int) -> pd.DataFrame:
        """The participant rows the meeting saw: those of its frozen cut, retracted since or not."""
        return self.query(
            f"""SELECT * FROM ({rows_as_in("SELECT trial, site, extract_id FROM meeting_cuts WHERE meeting_id = $id")})
                ORDER BY trial, site, participant_id""",
            {"id": meeting_id},
        )

    def meeting_cut(self, meeting_id: int) -> pd.DataFrame:
        """Per (trial, site) of a meeting's cut: the extract, when its data was last confirmed
        then, and whether it has been retracted since."""
        return self.query(
            """SELECT c.trial, c.site, c.extract_id, c.data_at, e.retracted_at
               FROM meeting_cuts c JOIN extracts e USING (extract_id)
               WHERE c.meeting_id = ? ORDER BY c.trial, c.site""",
            [meeting_id],
        )

    def audit_log(self, actor: str | None = None, action: str | None = None, since: dt.datetime | None = None) -> pd.DataFrame:
        """The audit log, newest first; optionally one actor's (any case), one action's, from a moment on."""
        return self.query(
            """SELECT * FROM audit_log
               WHERE ($actor IS NULL OR lower(actor) = lower($actor)) AND ($action IS NULL OR action = $action)
                 AND ($since IS NULL OR logged_at >= $since)
               ORDER BY audit_id DESC""",
            {"actor": actor, "action": action, "since": since},
        )

    def mappings(self, trial: str) -> dict[str, dict[str, str]]:
        """The column mappings saved for a trial: {format: {canonical field: column}}."""
        frame = self.query("SELECT format, field, column_name FROM column_mappings WHERE trial = ?", [trial])
        result: dict[str, dict[str, str]] = {}
        for row in frame.itertuples():
            result.setdefault(row.format, {})[row.field] = row.column_name
        return result

    def last_config_sha256(self) -> str | None:
        """The fingerprint of the configuration the audit log saw last."""
        return self.scalar(
            "SELECT detail->>'sha256' FROM audit_log WHERE action = 'config_loaded' ORDER BY audit_id DESC LIMIT 1"
        )

    def signed_out(self, email: str, login: str) -> bool:
        """Whether this sign-in (`login`: its ID token's issue time) was signed out on the server."""
        return bool(self.scalar(
            "SELECT count(*) FROM audit_log WHERE action = 'sign_out' AND lower(actor) = lower(?) AND detail->>'login' = ?",
            [email, login]))

    def schema_version(self) -> int:
        return int(self.scalar("SELECT max(version) FROM schema_version"))

    def table_counts(self) -> dict[str, int]:
        """Rows per table; tests use it to show that a refused write changed nothing."""
        tables = ["extracts", "extract_sites", "participant_versions", "audit_log", "column_mappings", "extract_confirmations",
                  "meetings", "meeting_cuts", "waiting_pulls"]
        with self.connect() as con:
            return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def _loaded_already(con: duckdb.DuckDBPyConnection, trial: str, sha256: str, at: dt.datetime) -> int | None:
    """The current extract that is this very file, if any. A file identical to an older,
    superseded extract is a new snapshot (it may undo a later mistake), not a duplicate."""
    row = con.execute(
        f"""SELECT min(e.extract_id) FROM extracts e JOIN ({CURRENT_EXTRACTS}) c USING (extract_id)
            WHERE e.trial = $trial AND e.sha256 = $sha256""",
        {"as_of": at, "trial": trial, "sha256": sha256},
    ).fetchone()
    return row[0]


def _store_versions(con: duckdb.DuckDBPyConnection, trial: str, sites: list[str], extract_id: int, participants: pd.DataFrame) -> None:
    """Store an extract's rows as versions: a row that an open version of its site already holds
    keeps that version; any other row starts one; an open version of the extract's sites that no
    row holds any more ends here. Afterwards the open versions of these sites are this extract."""
    casts = ", ".join(f"CAST({n} AS DATE) AS {n}" if n in DATE_FIELDS else n for n in FIELD_NAMES)
    con.register("incoming_frame", participants)
    con.execute(f"CREATE TEMP TABLE incoming AS SELECT {casts}, source_row FROM incoming_frame")
    con.unregister("incoming_frame")
    con.execute(
        f"""INSERT INTO participant_versions (trial, {', '.join(FIELD_NAMES)}, source_row, valid_from)
            SELECT $trial, {', '.join(f'i.{n}' for n in FIELD_NAMES)}, i.source_row, $id FROM incoming i
            WHERE NOT EXISTS (SELECT 1 FROM participant_versions v
                              WHERE v.trial = $trial AND v.valid_to IS NULL AND {_same_version('i', 'v')})""",
        {"trial": trial, "id": extract_id},
    )
    con.execute(
        f"""UPDATE participant_versions v SET valid_to = $id
            WHERE v.trial = $trial AND list_contains($sites, v.site) AND v.valid_to IS NULL AND v.valid_from < $id
              AND NOT EXISTS (SELECT 1 FROM incoming i WHERE {_same_version('i', 'v')})""",
        {"trial": trial, "sites": sites, "id": extract_id},
    )
    con.execute("DROP TABLE incoming")  # on failure the rollback drops it


def extract_per_site(current: pd.DataFrame) -> dict[str, int]:
    """{site: extract id} of current participant rows: what a preview was made against."""
    return {str(site): int(extract_id) for site, extract_id in current.groupby("site")["extract_id"].max().items()}


def _redacted_diff(diff: str | None, fields: list[str]) -> str | None:
    """The stored changes of an extract with the old and new values of `fields` blanked."""
    if not diff:
        return diff
    data = json.loads(diff)
    for changes in (data.get("changed") or {}).values():
        for name in fields:
            if name in changes:
                changes[name] = {"old": None if changes[name]["old"] is None else "(redacted)",
                                 "new": None if changes[name]["new"] is None else "(redacted)"}
    return json.dumps(data)


def _held_texts(con: duckdb.DuckDBPyConnection, extract_id: int, name: str) -> list[tuple[str, str]]:
    """(participant, text) of field `name` in the rows of an extract."""
    cuts = "SELECT e.trial, s.site, e.extract_id FROM extracts e JOIN extract_sites s USING (extract_id) WHERE e.extract_id = $id"
    return con.execute(f"SELECT DISTINCT participant_id, {name} FROM ({rows_as_in(cuts)}) WHERE {name} IS NOT NULL",
                       {"id": extract_id}).fetchall()


def _blank_versions(con: duckdb.DuckDBPyConnection, trial: str, name: str, texts: list[tuple[str, str]]) -> int:
    """Blank field `name` in every version of the trial's participants that holds their text; the count."""
    if not texts:
        return 0
    frame = pd.DataFrame(texts, columns=["participant_id", "text"])
    con.register("forgotten_frame", frame)
    try:
        return con.execute(
            f"""UPDATE participant_versions v SET {name} = NULL FROM forgotten_frame f
                WHERE v.trial = $trial AND v.participant_id = f.participant_id AND v.{name} = f.text""",
            {"trial": trial},
        ).fetchone()[0]
    finally:
        con.unregister("forgotten_frame")


def _forget_in_pulls(con: duckdb.DuckDBPyConnection, trial: str, texts: list[str]) -> None:
    """Blank the texts in the trial's pulls kept for a decision (their rows and check report)."""
    for text in set(texts):
        con.execute(
            """UPDATE waiting_pulls SET canonical_csv = replace(canonical_csv, $text, ''),
                                        report = CAST(replace(CAST(report AS VARCHAR), $text, '(redacted)') AS JSON)
               WHERE trial = $trial AND (contains(canonical_csv, $text) OR contains(CAST(report AS VARCHAR), $text))""",
            {"trial": trial, "text": text},
        )


def _forgotten_in_diff(diff: str | None, texts: dict[str, list[tuple[str, str]]]) -> str | None:
    """A stored diff without the texts ({field: [(participant, text)]}) of its participants."""
    if not diff or not any(texts.values()):
        return diff
    data = json.loads(diff)
    changed, found = data.get("changed") or {}, False
    for name, pairs in texts.items():
        for participant, text in pairs:
            values = changed.get(participant, {}).get(name) or {}
            if text in values.values():
                changed[participant][name] = {k: "(redacted)" if v == text else v for k, v in values.items()}
                found = True
    return json.dumps(data) if found else diff


def _replace_mapping(con: duckdb.DuckDBPyConnection, trial: str, fmt: str, mapping: dict[str, str], actor: str) -> None:
    con.execute("DELETE FROM column_mappings WHERE trial = ? AND format = ?", [trial, fmt])
    _add_mapping(con, trial, fmt, mapping, actor)


def _add_mapping(con: duckdb.DuckDBPyConnection, trial: str, fmt: str, mapping: dict[str, str], actor: str) -> None:
    if not mapping:
        return
    con.executemany(
        "INSERT OR REPLACE INTO column_mappings VALUES (?, ?, ?, ?, ?, ?)",
        [[trial, fmt, f, c, actor.strip(), _now()] for f, c in mapping.items()],
    )


def migrate(con: duckdb.DuckDBPyConnection, up_to: int = SCHEMA_VERSION, read_only: bool = False, path: Path | None = None) -> int:
    """Bring the schema up to `up_to`, one migration per transaction; returns the version. A
    database from a newer version is refused, never touched; a read-only one must be current."""
    has_versions = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_version' AND schema_name = 'main'"
    ).fetchone()[0]
    version = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0] if has_versions else 0
    if version > up_to:
        raise StoreUnavailable(
            f"this database was written by a newer version of the dashboard (schema {version}; this version knows "
            f"{up_to}); it was not opened or changed. Use the newer version of the dashboard"
        )
    if version < up_to and read_only:
        raise StoreReadOnly(
            f"the database {path} was written by an earlier version of the dashboard and needs an upgrade, but it is "
            "read-only for this program; nothing was changed. Ask IT to make it writable, then start again"
        )
    if not has_versions:
        con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)")
    for number in range(version + 1, up_to + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(MIGRATIONS[number - 1])
            con.execute("INSERT INTO schema_version VALUES (?, ?)", [number, _now()])
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise
    return max(version, up_to)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Undo an open transaction; when the failure already ended it (a full disk invalidates
    the database), there is nothing to undo, and the first error is the one to report."""
    with suppress(duckdb.Error):
        con.execute("ROLLBACK")


# The moment of the write in progress on this thread (Store.write), None outside one.
_WRITING = threading.local()
_WRITING.moment = None


def _now() -> dt.datetime:
    """Inside a write: its moment (never before anything stored); else the clock."""
    return getattr(_WRITING, "moment", None) or clock.now()
