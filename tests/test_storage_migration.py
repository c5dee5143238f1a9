"""The move from one copy of every participant per extract (schema 4) to versions (schema 5)
keeps the whole history: on the demo programme, every as-of view and every meeting's cut
reads the same before and after the migration."""

import datetime as dt

import duckdb
import pandas as pd

from dashboard import store as store_module
from dashboard.demo import load_demo
from dashboard.store import CURRENT_EXTRACTS, Store

COPIED_TABLES = ["extracts", "extract_sites", "audit_log", "column_mappings", "extract_confirmations", "meetings", "meeting_cuts"]
COLUMNS = "extract_id, trial, participant_id, site, screened_on, screening_outcome, screen_fail_reason, consented_on, " \
          "enrolled_on, arm, status, withdrawn_on, withdrawal_reason, pump_implanted_on, treatment_started_on, " \
          "treatment_ended_on, cycles_completed, converted_on, source_row"


def schema_4_copy(demo: Store, path) -> None:
    """The demo history in schema 4's layout: the same tables, and every extract's participant
    rows copied in full, as schema 4 stored them."""
    con = duckdb.connect(str(path))
    store_module.migrate(con, up_to=4)
    con.execute(f"ATTACH '{demo.path}' AS demo (READ_ONLY)")
    for table in COPIED_TABLES:  # schema 4's columns of each (later versions add some)
        columns = ", ".join(r[0] for r in con.execute(f"DESCRIBE {table}").fetchall())
        con.execute(f"INSERT INTO {table} SELECT {columns} FROM demo.{table}")
    every_extract = "SELECT e.trial, s.site, e.extract_id FROM demo.extracts e JOIN demo.extract_sites s USING (extract_id)"
    rows = store_module.rows_as_in(every_extract).replace("FROM participant_versions", "FROM demo.participant_versions")
    con.execute(f"INSERT INTO participants ({COLUMNS}) SELECT {COLUMNS} FROM ({rows})")
    con.execute("DETACH demo")
    con.close()


def schema_4_view(path, as_of: dt.datetime) -> list[tuple]:
    """The current snapshot as schema 4 read it: the current extracts' copies."""
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute(
        f"""SELECT {', '.join('p.' + column for column in COLUMNS.split(', '))}
            FROM participants p JOIN ({CURRENT_EXTRACTS}) c ON c.extract_id = p.extract_id AND c.site = p.site AND c.trial = p.trial
            ORDER BY ALL""",
        {"as_of": as_of},
    ).fetchall()
    con.close()
    return rows


def view(store: Store, as_of: dt.datetime) -> list[tuple]:
    with store.connect() as con:
        return con.execute(
            f"SELECT {COLUMNS} FROM ({store_module.rows_as_in(CURRENT_EXTRACTS)}) ORDER BY ALL", {"as_of": as_of}
        ).fetchall()


def test_every_as_of_view_of_the_demo_history_reads_the_same_after_the_move_to_versions(tmp_path, programme):
    demo = Store(tmp_path / "demo.duckdb", create=True)
    load_demo(demo, programme)
    old = tmp_path / "schema4.duckdb"
    schema_4_copy(demo, old)
    uploads = sorted(set(demo.extracts()["uploaded_at"].dt.to_pydatetime()))
    # Each moment an extract landed, the moment before it, and now.
    moments = sorted({*uploads, *(u - dt.timedelta(seconds=1) for u in uploads), dt.datetime(2026, 11, 21, 23, 59)})
    before = {m: schema_4_view(old, m) for m in moments}
    with duckdb.connect(str(old), read_only=True) as con:
        copies = con.execute("SELECT count(*) FROM participants").fetchone()[0]
    migrated = Store(old)
    assert migrated.schema_version() == store_module.SCHEMA_VERSION
    versions = migrated.table_counts()["participant_versions"]
    print(f"{copies} participant rows in schema 4, {versions} versions in schema 5, {len(before[moments[-1]])} current")
    # It grows with changes: a participant's row is stored again only when it changed.
    assert versions < copies / 5
    for moment in moments:
        assert view(migrated, moment) == before[moment], moment
    # The snapshot the pages and the summary read comes through Arrow (faster): the very frame, dtypes
    # and gaps included, that DuckDB's own conversion gives.
    snapshot_sql = f"SELECT * FROM ({store_module.rows_as_in(CURRENT_EXTRACTS)}) ORDER BY trial, site, participant_id"
    for moment in moments[:: max(1, len(moments) // 8)]:
        pd.testing.assert_frame_equal(migrated.current_participants(as_of=moment), migrated.query(snapshot_sql, {"as_of": moment}))
    # The demo's meetings: each cut reads as the meeting saw it.
    for meeting_id in migrated.meetings()["meeting_id"]:
        assert migrated.meeting_participants(int(meeting_id)).equals(demo.meeting_participants(int(meeting_id)))
