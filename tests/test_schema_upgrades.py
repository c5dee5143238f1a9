"""Every schema version the dashboard has shipped upgrades to today's with its data intact:
each is a frozen database (tests/files/schemas/schema_N.sql, written by that version's own
migrations), loaded into a real file and opened by today's store."""

import datetime as dt

import duckdb
import pytest

from dashboard import store as store_module
from dashboard.ingest import check_file, commit
from dashboard.store import Store
from support import ROOT, TODAY, iso, template_csv

SCHEMAS = sorted((ROOT / "tests" / "files" / "schemas").glob("schema_*.sql"))


def test_every_earlier_schema_has_a_frozen_database():
    # Today's schema is frozen when the next migration is written (scripts/freeze_schema.py).
    assert [p.name for p in SCHEMAS][: store_module.SCHEMA_VERSION - 1] == [f"schema_{n}.sql" for n in range(1, store_module.SCHEMA_VERSION)]


def load(path, sql_file):
    con = duckdb.connect(str(path))
    con.execute(sql_file.read_text())
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name <> 'schema_version'").fetchall()]
    before = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
    columns = {t: [r[0] for r in con.execute(f"DESCRIBE {t}").fetchall()] for t in tables}
    if "participants" not in tables:  # schema 5 on: each extract's rows are its versions
        cuts = "SELECT e.trial, s.site, e.extract_id FROM extracts e JOIN extract_sites s USING (extract_id)"
        columns["participants"] = list(store_module.SNAPSHOT_COLUMNS)
        before["participants"] = con.execute(f"SELECT * FROM ({store_module.rows_as_in(cuts)}) ORDER BY ALL").fetchall()
    con.close()
    return before, columns


@pytest.mark.parametrize("sql_file", SCHEMAS, ids=lambda p: p.stem)
def test_an_old_database_upgrades_and_keeps_every_row_and_every_view(tmp_path, sql_file, programme):
    path = tmp_path / f"{sql_file.stem}.duckdb"
    before, columns = load(path, sql_file)
    store = Store(path)
    assert store.schema_version() == store_module.SCHEMA_VERSION
    with store.connect() as con:  # every old row, column for column (participant rows: below)
        for table, rows in before.items():
            if table != "participants":
                assert con.execute(f"SELECT {', '.join(columns[table])} FROM {table} ORDER BY ALL").fetchall() == rows, table
    # Every extract's participant rows, retracted ones included, as they were stored.
    cuts = "SELECT e.trial, s.site, e.extract_id FROM extracts e JOIN extract_sites s USING (extract_id)"
    with store.connect() as con:
        stored = con.execute(f"SELECT {', '.join(columns['participants'])} FROM ({store_module.rows_as_in(cuts)}) ORDER BY ALL").fetchall()
    assert stored == before["participants"]
    # The as-of views: before the correction, after it, and after the wrong PUMP-2 extract was retracted.
    def current(day):
        frame = store.current_participants(as_of=dt.datetime.combine(day, dt.time(23, 59)))
        return sorted(zip(frame["trial"], frame["participant_id"], iso(frame["enrolled_on"]), strict=True))

    assert current(dt.date(2023, 12, 31)) == []
    assert current(dt.date(2024, 1, 15)) == [("PUMP", "EMC-001", "2023-10-10"), ("PUMP", "EMC-002", "2023-11-08"),
                                              ("PUMP", "EMC-003", None)]
    assert current(dt.date(2024, 3, 1)) == [("PUMP", "EMC-001", "2023-10-09"), ("PUMP", "EMC-002", "2023-11-08"),
                                             ("PUMP", "EMC-003", None), ("PUMP", "EMC-004", "2024-01-20")]
    extracts = store.extracts().set_index("extract_id")
    assert extracts["status"].to_dict() == {3: "retracted", 2: "current", 1: "superseded"}
    # Life goes on: the next extract and meeting get the next ids, and land.
    data = template_csv("EMC-001,EMC,,2023-10-09,haip", "EMC-002,EMC,,2023-11-08,control", "EMC-003,EMC,2023-12-01,,",
                        "EMC-004,EMC,,2024-01-20,haip",
                        "EMC-005,EMC,,2024-03-01,haip")
    checked = check_file(store, programme, data, "after_upgrade.csv", "PUMP", today=TODAY)
    assert commit(store, checked, "coordinator EMC", accept_warnings=True) == 4
    assert store.hold_meeting("chair")["meeting_id"] == (1 if sql_file.name < "schema_4" else 2)  # meetings from 4 on
