"""Every schema version the dashboard has shipped upgrades to today's with its data intact:
each is a frozen database (tests/files/schemas/schema_N.sql, written by that version's own
migrations), loaded into a real file, or a real PostgreSQL database, and opened by today's store."""

import datetime as dt
from contextlib import contextmanager

import duckdb
import psycopg
import pytest

from dashboard import store as store_module
from dashboard.ingest import check_file, commit
from dashboard.store import Store, postgres_engine
from support import ROOT, TODAY, iso, template_csv

BOTH_ENGINES = True  # every frozen schema upgrades on DuckDB and on PostgreSQL (conftest)

SCHEMAS = sorted((ROOT / "tests" / "files" / "schemas").glob("schema_*.sql"))


def test_every_earlier_schema_has_a_frozen_database():
    # Today's schema is frozen when the next migration is written (scripts/freeze_schema.py).
    assert [p.name for p in SCHEMAS][: store_module.SCHEMA_VERSION - 1] == [f"schema_{n}.sql" for n in range(1, store_module.SCHEMA_VERSION)]


def unordered(rows) -> list:
    """Rows in one order whatever the engine (PostgreSQL cannot order by a JSON column)."""
    return sorted((tuple(r) for r in rows), key=lambda row: [(v is None, str(v)) for v in row])


TABLES = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
COLUMNS = "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position"


@contextmanager
def connected(location):
    """A connection to the frozen database as it was loaded, outside the store (it must not upgrade it yet).
    On PostgreSQL the frozen DuckDB SQL is read through the engine's dialect (DuckDB's first()/last() of
    migration 5, our placeholders): the one conversion, the same the store's migrations go through."""
    if isinstance(location, str):
        with psycopg.connect(location, autocommit=True) as conn:
            postgres_engine.configure(conn)
            yield postgres_engine.Cursor(conn)
    else:
        con = duckdb.connect(str(location))
        try:
            yield con
        finally:
            con.close()


def load(location, sql_file):
    with connected(location) as con:
        con.execute(sql_file.read_text())
        tables = [r[0] for r in con.execute(TABLES).fetchall() if r[0] != "schema_version"]
        before = {t: unordered(con.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}
        columns = {t: [r[0] for r in con.execute(COLUMNS, [t]).fetchall()] for t in tables}
        if "participants" not in tables:  # schema 5 on: each extract's rows are its versions
            cuts = "SELECT e.trial, s.site, e.extract_id FROM extracts e JOIN extract_sites s USING (extract_id)"
            columns["participants"] = list(store_module.SNAPSHOT_COLUMNS)
            before["participants"] = unordered(con.execute(f"SELECT * FROM ({store_module.rows_as_in(cuts)}) AS rows").fetchall())
    return before, columns


@pytest.mark.parametrize("sql_file", SCHEMAS, ids=lambda p: p.stem)
def test_an_old_database_upgrades_and_keeps_every_row_and_every_view(new_location, sql_file, programme):
    before, columns = load(new_location, sql_file)
    store = Store(new_location)
    assert store.schema_version() == store_module.SCHEMA_VERSION
    with store.connect() as con:  # every old row, column for column (participant rows: below)
        for table, rows in before.items():
            if table != "participants":
                assert unordered(con.execute(f"SELECT {', '.join(columns[table])} FROM {table}").fetchall()) == rows, table
    # Every extract's participant rows, retracted ones included, as they were stored.
    cuts = "SELECT e.trial, s.site, e.extract_id FROM extracts e JOIN extract_sites s USING (extract_id)"
    with store.connect() as con:
        stored = unordered(con.execute(f"SELECT {', '.join(columns['participants'])} FROM ({store_module.rows_as_in(cuts)}) AS rows").fetchall())
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
