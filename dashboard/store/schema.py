"""The schema: the migrations (one list, each moving it one version up) and the SQL the reads and
the write path share. Written once for every engine; what an engine spells differently is asked of
its module (duckdb_engine)."""

from __future__ import annotations

import datetime as dt
import threading
from contextlib import suppress
from pathlib import Path

from dashboard import clock
from dashboard.fields import FIELD_NAMES
from dashboard.store.errors import StoreReadOnly, StoreUnavailable


def engine_part(name: str) -> str:
    """Where a migration holds SQL of one engine's own (its dialect fills it in; another engine's reads a comment)."""
    return f"/* engine part: {name} */"


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
    # 7: the database's identity, created once with it (or with this upgrade): a process remembers it
    # on its first open and refuses any other database found later at the same place (DuckDBFile).
    """
    CREATE TABLE store_identity (identity VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL);
    INSERT INTO store_identity SELECT CAST(gen_random_uuid() AS VARCHAR), CAST(current_timestamp AS TIMESTAMP);
    """,
    # 8: the audit log append-only in the database itself, where the engine can say so: PostgreSQL's
    # part (postgres_engine.ENGINE_PARTS) is a trigger that refuses UPDATE, DELETE and TRUNCATE of it,
    # and no grant of those; DuckDB has neither triggers nor roles (its part is nothing): there the
    # single write path, which only ever appends to it, is the guard.
    f"""
    {engine_part("audit_log_append_only")}
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
    ) AS ranked WHERE newest = 1
"""

# The audit actions of the writes that change stored participant rows in place (redact: _blank_versions
# blanks fields of participant_versions; every other write only adds versions or closes them with a later
# extract's id, which leaves every stored cut's rows as they were). ROWS_STAMP grows with each: the rows
# a process holds of a cut (held.py) are good only under the stamp they were read with. (A count, not the
# newest id: entries are never removed, and a count grows with each commit whatever order ids were drawn in.)
ROWS_CHANGED_IN_PLACE = ("redact",)
ROWS_STAMP = "SELECT count(*) FROM audit_log WHERE action IN ({})".format(", ".join(f"'{a}'" for a in ROWS_CHANGED_IN_PLACE))
# Grows with every write that lands: each adds one audit entry in its transaction, and none is ever removed.
# The newest id (the primary key's last entry, not a count of a log that grows for years): every write draws
# it under the write lock (DuckDB's file, PostgreSQL's WRITE_LOCK), so ids land in the order they are drawn.
WRITES = "SELECT coalesce(max(audit_id), 0) FROM audit_log"


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


def forward_moment(con) -> dt.datetime:
    """The moment of a write: the later of the clock and just after the newest moment stored, so that
    a clock set back (PUMP_TODAY, a wrong system clock) can never date a write before what is stored,
    and no past view changes after the fact."""
    newest = con.execute(NEWEST_MOMENT).fetchone()[0]
    return clock.now() if newest is None else max(clock.now(), newest + JUST_AFTER)


def same_version(new: str, old: str) -> str:
    """SQL: the row `new` (typed) holds exactly what version `old` holds."""
    return " AND ".join([f"{old}.site = {new}.site", f"{old}.participant_id = {new}.participant_id",
                         *(f"{old}.{name} IS NOT DISTINCT FROM {new}.{name}" for name in _VERSIONED)])


def _has_table(con, name: str) -> bool:
    return con.execute(
        """SELECT count(*) FROM information_schema.tables WHERE table_name = ?
           AND table_schema = current_schema() AND table_catalog = current_database()""",
        [name],
    ).fetchone()[0] > 0


def identity(con) -> str | None:
    """The database's identity (migration 7); None for a database older than that, or no dashboard's."""
    return con.execute("SELECT min(identity) FROM store_identity").fetchone()[0] if _has_table(con, "store_identity") else None


def user_tables(con) -> list[str]:
    """The tables of the connection's database (its current schema), sorted (standard SQL: any engine)."""
    return [row[0] for row in con.execute(
        """SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()
           AND table_catalog = current_database() AND table_type = 'BASE TABLE' ORDER BY table_name""").fetchall()]


def migrate(con, up_to: int = SCHEMA_VERSION, read_only: bool = False, path: Path | None = None, create: bool = True) -> int:
    """Bring the schema up to `up_to`, one migration per transaction; returns the version. A
    database from a newer version is refused, never touched; a read-only one must be current.
    A database without the dashboard's schema is made one only when it holds no table and `create`
    (init, demo, the first start, the target of `store copy`): another program's tables are never
    added to, and an empty database is not taken for the dashboard's by a command that only uses one.
    `con` is a connection of any engine (standard SQL only: information_schema, not an engine's catalogue)."""
    has_versions = _has_table(con, "schema_version")
    if not has_versions:
        others = user_tables(con)
        if others:
            raise StoreUnavailable(
                f"{path or 'the database'} is not a dashboard database: it holds another program's tables "
                f"({', '.join(others[:5])}{', …' if len(others) > 5 else ''}); it was not used or changed. "
                "Point PUMP_DB or --db at the dashboard's database"
            )
        if not create:
            raise StoreUnavailable(f"no database at {path or 'this address'} (it holds no dashboard tables): create it with init")
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
            con.execute("INSERT INTO schema_version VALUES (?, ?)", [number, now()])
            con.execute("COMMIT")
        except BaseException:
            with suppress(Exception):  # a failure that ended the transaction leaves nothing to undo
                con.execute("ROLLBACK")
            raise
    return max(version, up_to)


# The moment of the write in progress on this thread (Store.write), None outside one.
WRITING = threading.local()
WRITING.moment = None


def now() -> dt.datetime:
    """Inside a write: its moment (never before anything stored); else the clock."""
    return getattr(WRITING, "moment", None) or clock.now()
