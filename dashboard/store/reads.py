"""The read queries of the store: snapshots as of a moment, extracts, meetings, the audit log."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pyarrow as pa

from dashboard import clock
from dashboard.store.frames import frame_from_arrow
from dashboard.store.held import Cut, split_by_cut
from dashboard.store.schema import CURRENT_EXTRACTS, EVERYTHING, ROWS_STAMP, SNAPSHOT_COLUMNS, WRITES, rows_as_in


class Reads:
    """The queries of a Store (mixed into it: `query`, `arrow_query`, `arrow_table`, `scalar`, `connect`, and
    `_held`, the rows it holds, and `_through`, are its)."""

    def data_version(self) -> int:
        """Grows with every change; cheap enough to poll."""
        return int(self.scalar(WRITES))

    def is_empty(self) -> bool:
        return self.scalar("SELECT count(*) FROM extracts") == 0

    def loaded_already(self, trial: str, sha256: str) -> int | None:
        with self.connect() as con:
            return _loaded_already(con, trial, sha256, EVERYTHING)

    def current_participants(
        self, trial: str | None = None, as_of: dt.datetime | None = None, columns: tuple[str, ...] | None = None
    ) -> pd.DataFrame:
        """The rows of the current extract of each (trial, site), as of a moment (default now); only
        `columns` when given (the conversion to a frame is most of the cost of a large snapshot), else
        every column ordered by trial, site and participant. The cuts are read every time, with the stamp
        of in-place changes (so other processes' writes show at once); the rows of the cuts this Store
        has read before come from what it holds (held.py), the others' in one query."""
        unknown = set(columns or ()) - set(SNAPSHOT_COLUMNS)
        if unknown:
            raise ValueError(f"no such participant columns: {sorted(unknown)}")
        params = {"as_of": as_of or EVERYTHING, "trial": trial}
        if getattr(self._through, "con", None) is not None:  # inside a write: its rows may never land, hold none
            return self.arrow_query(_snapshot_sql(columns, _CUTS_AS_OF, _order(columns)), params)
        with self.connect() as con:
            found = con.execute(f"SELECT trial, site, extract_id, ({ROWS_STAMP}), ({WRITES}) FROM ({_CUTS_AS_OF}) AS cuts "
                                "ORDER BY trial, site", params).fetchall()
            if not found:
                return self.arrow_query(_snapshot_sql(columns, _CUTS_AS_OF, _order(columns)), params)
            cuts, stamp, writes = [(t, s, int(e)) for t, s, e, _, _ in found], int(found[0][3]), int(found[0][4])
            kind = (_with_cut_keys(columns), columns is None)  # (every column comes ordered: its cuts' rows too)
            held = self._held.held(kind, stamp, cuts)
            missing = [cut for cut in cuts if cut not in held]
            read = self._cut_rows(columns, missing, None if held else (params, writes)) if missing else {}
        self._held.keep(kind, stamp, read, current=set(cuts) if as_of is None or as_of >= clock.now() else None, trial=trial)
        tables = [held[cut] if cut in held else read[cut] for cut in cuts]
        table = pa.concat_tables([t if t.schema.equals(tables[0].schema) else t.cast(tables[0].schema) for t in tables])
        return frame_from_arrow(table.select(list(columns or SNAPSHOT_COLUMNS)))

    def _cut_rows(self, columns: tuple[str, ...] | None, cuts: list[Cut], as_of: tuple[dict, int] | None) -> dict[Cut, pa.Table]:
        """The rows of `cuts` (with the columns that tell cuts apart), per cut, in one query. `as_of`, when
        they are all the cuts of a moment: (its parameters, the writes counted when the cuts were read);
        then the cuts are read by that moment, as an uncached read reads them (PostgreSQL plans a list of
        300 cuts worse), unless a write has landed since, which may have changed them."""
        fetched = _with_cut_keys(columns)
        if as_of is not None:
            rows = self.arrow_table(_snapshot_sql(fetched, _CUTS_AS_OF, _order(columns)), as_of[0])
            if self.scalar(WRITES) == as_of[1]:
                return split_by_cut(rows, cuts)
        wanted = {"trials": [t for t, _, _ in cuts], "sites": [s for _, s, _ in cuts], "ids": [str(e) for _, _, e in cuts]}
        return split_by_cut(self.arrow_table(_snapshot_sql(fetched, _WANTED_CUTS, _order(columns)), wanted), cuts)

    def extract_participants(self, extract_id: int) -> pd.DataFrame:
        """The participant rows of one extract as it was stored (retracted or not)."""
        cuts = "SELECT e.trial, s.site, e.extract_id FROM extracts e JOIN extract_sites s USING (extract_id) WHERE e.extract_id = $id"
        return self.query(f"SELECT * FROM ({rows_as_in(cuts)}) AS extract_rows ORDER BY site, participant_id", {"id": extract_id})

    def extracts(self, as_of: dt.datetime | None = None) -> pd.DataFrame:
        """Every extract with its sites and its status: current, superseded or retracted. With `as_of`,
        those accepted by then, current and confirmed as they stood then (a retraction, being a
        correction, counts in past views too, as in CURRENT_EXTRACTS)."""
        sql = f"""
            WITH cur AS (SELECT DISTINCT extract_id FROM ({CURRENT_EXTRACTS}) AS current_cut)
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
            f"""SELECT * FROM ({rows_as_in("SELECT trial, site, extract_id FROM meeting_cuts WHERE meeting_id = $id")}) AS meeting_rows
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

    def sign_in_recorded(self, email: str, login: str) -> bool:
        """Whether this login (`login` tells logins apart) of `email` is in the audit log already, signed in or refused."""
        return self.scalar(
            """SELECT count(*) FROM audit_log WHERE action IN ('sign_in', 'refused') AND lower(actor) = lower(?)
               AND detail->>'login' = ?""",
            [email, login],
        ) > 0

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

    def data_arrivals(self, as_of: dt.datetime | None = None) -> pd.DataFrame:
        """Per (trial, site): how its current data came: the extract's source (NULL: uploaded), format
        and uploader, and the last moment it was stored or confirmed, by whom."""
        sql = f"""
            SELECT c.trial, c.site, e.extract_id, e.source, e.format, e.uploaded_by, e.uploaded_at,
                   coalesce(k.confirmed_at, e.uploaded_at) AS data_at, coalesce(k.confirmed_by, e.uploaded_by) AS data_by
            FROM ({CURRENT_EXTRACTS}) c JOIN extracts e USING (extract_id)
            LEFT JOIN (SELECT extract_id, confirmed_at, confirmed_by,
                              row_number() OVER (PARTITION BY extract_id ORDER BY confirmed_at DESC) AS newest
                       FROM extract_confirmations WHERE confirmed_at <= $as_of) k ON k.extract_id = e.extract_id AND k.newest = 1
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


# The cuts of a snapshot: the current extract of each (trial, site) as of a moment, of one trial or all.
_CUTS_AS_OF = f"SELECT * FROM ({CURRENT_EXTRACTS}) AS current_cut WHERE $trial IS NULL OR trial = $trial"
# Named cuts (three lists of the same length; the ids as text, as both engines bind a list of text).
_WANTED_CUTS = """SELECT trial, site, CAST(extract_id AS INTEGER) AS extract_id
                  FROM (SELECT unnest($trials) AS trial, unnest($sites) AS site, unnest($ids) AS extract_id) AS wanted"""


def _with_cut_keys(columns: tuple[str, ...] | None) -> tuple[str, ...]:
    """The columns to read for `columns` (None: all), with the three that tell the cuts apart."""
    return tuple(c for c in SNAPSHOT_COLUMNS if c in ("extract_id", "trial", "site") or columns is None or c in columns)


def _snapshot_sql(columns: tuple[str, ...] | None, cuts: str, order: str | None) -> str:
    """The rows of `cuts` in `columns` (None: all), ordered by `order` when given."""
    return f"""SELECT {", ".join(columns) if columns else "*"} FROM ({rows_as_in(cuts)}) AS snapshot
               {f"ORDER BY {order}" if order else ""}"""


def _order(columns: tuple[str, ...] | None) -> str | None:
    """A snapshot's order: all columns by trial, site and participant; the summary's few columns in none
    (it groups)."""
    return None if columns else "trial, site, participant_id"


def _loaded_already(con, trial: str, sha256: str, at: dt.datetime) -> int | None:
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


