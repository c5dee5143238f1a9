"""The DuckDB store: schema and migrations, the queries, and the single write path.

DuckDB lets one process at a time open a file read-write. The dashboard must not lock
the command line out (a nightly import is normal), so nothing holds the file open:
every use opens its own connection (one per thread, never shared), does its work and
closes it, and an open that meets another process's lock waits and tries again.
Connections of one process to the same file share one database instance, so many
browser sessions read at once while one of them writes, each in its own transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from dashboard import access as rules
from dashboard import clock
from dashboard.fields import DATE_FIELDS, FIELD_NAMES
from dashboard.identifiers import screen_mapping, screen_stored
from dashboard.removals import check_confirmation, mass_removal

# Free-text fields a director may blank in a stored extract (and its file name).
REDACTABLE = ("screen_fail_reason", "withdrawal_reason", "file_name")
DEFAULT_DB_PATH = Path(__file__).resolve().parent.parent / "data" / "pump.duckdb"
LOCK_WAIT_SECONDS = 30.0

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


class StoreUnavailable(RuntimeError):
    """The database cannot be used at all (not a database, damaged, from a newer version):
    nothing was changed; the message says what happened and what to do (exit 3)."""


class StoreBusy(StoreUnavailable):
    """Another program holds the database file for longer than we wait."""


class Refused(ValueError):
    """A write was refused; nothing changed. The message says why."""


class Store:
    """The database file, opened anew for every use (see the module docstring)."""

    def __init__(self, path: Path | str = DEFAULT_DB_PATH, lock_wait: float = LOCK_WAIT_SECONDS):
        self.path = Path(path)
        self.lock_wait = lock_wait
        self._write_lock = threading.Lock()
        self._migrated = False

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._open()
        try:
            if not self._migrated:
                migrate(con)
                self._migrated = True
            yield con
        finally:
            con.close()

    def _open(self) -> duckdb.DuckDBPyConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_wait
        pause = 0.02
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                if "not a valid duckdb database" in str(exc).lower():
                    raise StoreUnavailable(
                        f"{self.path} is not a dashboard database (it is another kind of file, or damaged); "
                        "nothing was changed. Point PUMP_DB or --db at the right file, or restore it from the backup"
                    ) from exc
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    if "lock" in str(exc).lower():
                        raise StoreBusy(
                            f"the database {self.path} is in use by another program for more than "
                            f"{self.lock_wait:.0f} s; try again in a minute"
                        ) from exc
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def query(self, sql: str, params: dict | list | None = None) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute(sql, params or {}).df()

    def scalar(self, sql: str, params: dict | list | None = None):
        with self.connect() as con:
            row = con.execute(sql, params or {}).fetchone()
            return row[0] if row else None

    # ---- the single write path -------------------------------------------------------

    def write(self, actor: str, action: str, change: Callable[[duckdb.DuckDBPyConnection], dict], trial: str | None = None) -> dict:
        """Run `change` and its audit record in one transaction: all of it lands or none.
        `change` returns the audit detail (with `extract_id` when it concerns one: the
        audit entry's trial is then the extract's, unless `trial` is given)."""
        if not actor or not actor.strip():
            raise Refused("say who you are: every change is recorded with the acting user")
        with self._write_lock, self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                detail = change(con)
                extract_id = detail.get("extract_id")
                con.execute(
                    """INSERT INTO audit_log (logged_at, actor, action, trial, extract_id, detail)
                       VALUES ($at, $actor, $action,
                               coalesce($trial, (SELECT trial FROM extracts WHERE extract_id = $extract_id)),
                               $extract_id, $detail)""",
                    {"at": _now(), "actor": actor.strip(), "action": action, "trial": trial,
                     "extract_id": extract_id, "detail": json.dumps(detail, default=str)},
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return detail

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
        person at this computer may do everything."""
        access = access if access is not None else rules.active()
        if access is None:
            return
        reason = rules.refusal(access.grant_for(actor), action, trial, sites, extract_uploaded_by, who=actor)
        if reason is None:
            return
        who = actor.strip() if actor and actor.strip() else "(no name given)"
        self.write(who, "refused", lambda con: {"action": action, "reason": reason, "sites": sites, **(detail or {})}, trial=trial)
        raise Refused(reason)

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
    ) -> int:
        """Store one accepted extract and its participant rows, and the column mapping the
        coordinator chose for it (remembered for the trial and format), in one transaction;
        returns the extract's id. Refused, with nothing stored, when any text holds a direct
        identifier, when it removes many current participants and `confirm_removals` is not
        that number, or when the sites' current extracts are no longer `based_on`, those the
        preview was made against (another upload landed in between). Refused and audited when the
        actor's grant does not cover the trial and every site (check_grant)."""
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
            raise Refused(problem)

        def change(con: duckdb.DuckDBPyConnection) -> dict:
            at = extract.get("uploaded_at") or _now()
            duplicate = _loaded_already(con, extract["trial"], extract["sha256"], at)
            if duplicate is not None:
                raise Refused(f"this file is already loaded as extract #{duplicate}; nothing changed")
            current = con.execute(
                f"""SELECT p.site, p.participant_id, p.extract_id FROM participants p
                    JOIN ({CURRENT_EXTRACTS}) c ON c.extract_id = p.extract_id AND c.site = p.site AND c.trial = p.trial
                    WHERE p.trial = $trial AND list_contains($sites, p.site)""",
                {"as_of": at, "trial": extract["trial"], "sites": sites},
            ).df()
            if based_on is not None and extract_per_site(current) != based_on:
                raise Refused(
                    f"another {extract['trial']} extract was stored while you were checking this one, so what it "
                    "changes is no longer what you saw; check the file again. Nothing was stored."
                )
            refusal = check_confirmation(mass_removal(extract["trial"], current, participants["participant_id"]), confirm_removals)
            if refusal:
                raise Refused(refusal)
            extract_id = con.execute(
                """INSERT INTO extracts (trial, file_name, sha256, format, encoding, delimiter, uploaded_by,
                       uploaded_at, row_count, participant_count, warnings_accepted, diff)
                   VALUES ($trial, $file_name, $sha256, $format, $encoding, $delimiter, $actor, $uploaded_at,
                       $row_count, $participant_count, $warnings_accepted, $diff)
                   RETURNING extract_id""",
                {**extract, "actor": actor.strip(), "uploaded_at": extract.get("uploaded_at") or _now()},
            ).fetchone()[0]
            con.executemany("INSERT INTO extract_sites VALUES (?, ?)", [[extract_id, s] for s in sites])
            rows = participants.assign(extract_id=extract_id, trial=extract["trial"])
            con.register("incoming", rows)
            casts = ", ".join(f"CAST({n} AS DATE)" if n in DATE_FIELDS else n for n in FIELD_NAMES)
            con.execute(f"INSERT INTO participants (extract_id, trial, {', '.join(FIELD_NAMES)}, source_row) "
                        f"SELECT extract_id, trial, {casts}, source_row FROM incoming")
            con.unregister("incoming")
            if mapping:
                _replace_mapping(con, extract["trial"], extract["format"], mapping, actor)
            return {
                "mapping": mapping or None,
                "extract_id": extract_id,
                "file_name": extract["file_name"],
                "sha256": extract["sha256"],
                "sites": sites,
                "participants": len(participants),
                # Counts only: the audit log is never changed, so it holds no participant's text.
                "diff": json.loads(extract["diff"]).get("counts") if extract.get("diff") else None,
                "removals_confirmed": confirm_removals,
            }

        return self.write(actor, "ingest", change, trial=extract["trial"])["extract_id"]

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
            return {"extract_id": extract_id, "file_name": file_name}

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
            raise Refused(problem)

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
        one exception to "nothing is deleted". Its participants' values of those fields, the
        same values in its stored changes, and (for `file_name`) its file name. The audit
        entry says who, when and which fields, never the content. Directors only (check_grant)."""
        self.check_grant(actor, "redact", access, detail={"extract_id": extract_id})
        unknown = sorted(set(fields) - set(REDACTABLE))
        if not fields or unknown:
            raise Refused(f"choose the fields to blank from {', '.join(REDACTABLE)}" + (f"; not {', '.join(unknown)}" if unknown else ""))
        if not reason or not reason.strip():
            raise Refused("give a reason for the redaction; it is kept in the audit log")
        problem = screen_stored({"The reason": reason})
        if problem:
            raise Refused(problem)

        def change(con: duckdb.DuckDBPyConnection) -> dict:
            row = con.execute("SELECT diff FROM extracts WHERE extract_id = ?", [extract_id]).fetchone()
            if row is None:
                raise Refused(f"there is no extract #{extract_id}")
            blanked = {}
            for name in (f for f in fields if f != "file_name"):
                blanked[name] = con.execute(
                    f"UPDATE participants SET {name} = NULL WHERE extract_id = ? AND {name} IS NOT NULL", [extract_id]
                ).fetchone()[0]
            if "file_name" in fields:
                con.execute("UPDATE extracts SET file_name = ? WHERE extract_id = ?", [f"(redacted) extract #{extract_id}", extract_id])
                blanked["file_name"] = 1
            con.execute("UPDATE extracts SET diff = ? WHERE extract_id = ?", [_redacted_diff(row[0], fields), extract_id])
            return {"extract_id": extract_id, "fields": sorted(fields), "values_blanked": blanked, "reason": reason.strip()}

        return self.write(actor, "redact", change)

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
            raise Refused(problem)

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

    # ---- queries ---------------------------------------------------------------------

    def data_version(self) -> int:
        """Grows with every change; cheap enough to poll."""
        return int(self.scalar("SELECT coalesce(max(audit_id), 0) FROM audit_log"))

    def is_empty(self) -> bool:
        return self.scalar("SELECT count(*) FROM extracts") == 0

    def loaded_already(self, trial: str, sha256: str) -> int | None:
        with self.connect() as con:
            return _loaded_already(con, trial, sha256, _now())

    def current_participants(self, trial: str | None = None, as_of: dt.datetime | None = None) -> pd.DataFrame:
        """The rows of the current extract of each (trial, site), as of a moment (default now)."""
        sql = f"""
            SELECT p.* FROM participants p
            JOIN ({CURRENT_EXTRACTS}) c ON c.extract_id = p.extract_id AND c.site = p.site AND c.trial = p.trial
            WHERE $trial IS NULL OR p.trial = $trial
            ORDER BY p.trial, p.site, p.participant_id
        """
        return self.query(sql, {"as_of": as_of or _now(), "trial": trial})

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
        return self.query(sql, {"as_of": as_of or _now(), "until": as_of or dt.datetime(9999, 12, 31)})

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
        return self.query(sql, {"as_of": as_of or _now()})

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
            """SELECT p.* FROM participants p
               JOIN meeting_cuts c ON c.extract_id = p.extract_id AND c.site = p.site AND c.trial = p.trial
               WHERE c.meeting_id = ?
               ORDER BY p.trial, p.site, p.participant_id""",
            [meeting_id],
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

    def schema_version(self) -> int:
        return int(self.scalar("SELECT max(version) FROM schema_version"))

    def table_counts(self) -> dict[str, int]:
        """Rows per table; tests use it to show that a refused write changed nothing."""
        tables = ["extracts", "extract_sites", "participants", "audit_log", "column_mappings", "extract_confirmations",
                  "meetings", "meeting_cuts"]
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


def _replace_mapping(con: duckdb.DuckDBPyConnection, trial: str, fmt: str, mapping: dict[str, str], actor: str) -> None:
    con.execute("DELETE FROM column_mappings WHERE trial = ? AND format = ?", [trial, fmt])
    con.executemany(
        "INSERT INTO column_mappings VALUES (?, ?, ?, ?, ?, ?)",
        [[trial, fmt, f, c, actor.strip(), _now()] for f, c in mapping.items()],
    )


def migrate(con: duckdb.DuckDBPyConnection, up_to: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to `up_to`, one migration per transaction; returns the version."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)")
    version = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
    if version > up_to:
        raise StoreUnavailable(
            f"this database was written by a newer version of the dashboard (schema {version}; this version knows "
            f"{up_to}); it was not opened or changed. Use the newer version of the dashboard"
        )
    for number in range(version + 1, up_to + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(MIGRATIONS[number - 1])
            con.execute("INSERT INTO schema_version VALUES (?, ?)", [number, _now()])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return max(version, up_to)


def _now() -> dt.datetime:
    return clock.now()
