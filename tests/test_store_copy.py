"""`store copy`: a programme's whole history moved into an empty database (the laptop's DuckDB file to
the hospital's server, or back), verified before it commits; refused into a database that holds
anything, and nothing copied on any failure. Real DuckDB files, the real command line."""

import datetime as dt
import json
import os

import duckdb
import pandas as pd
import psycopg
import pyarrow as pa

from dashboard.cli import main
from dashboard.store import Store
from dashboard.store.copy import fingerprint
from support import meeting_history, upload

# Every table but the database's own identity is copied (the schema's history too).
COPIED = ["audit_log", "column_mappings", "extract_confirmations", "extract_sites", "extracts", "meeting_cuts", "meetings",
          "participant_versions", "schema_version", "waiting_pulls"]


def copy(source, target, capsys, *extra) -> tuple[int, dict]:
    code = main(["store", "copy", "--from", str(source), "--to", str(target), "--json", *extra])
    return code, json.loads(capsys.readouterr().out)  # one JSON object, whatever the outcome


def rows_of(path, table: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def moments(store: Store) -> list:
    return [None, *sorted(set(store.extracts()["uploaded_at"]))]


def test_the_demo_history_copied_is_the_same_history_table_by_table_and_view_by_view(demo_db, tmp_path, capsys):
    target = tmp_path / "hospital.duckdb"
    before = {table: rows_of(demo_db, table) for table in COPIED}
    code, result = copy(demo_db, target, capsys)
    assert code == 0 and result["ok"] is True
    assert result["rows"]["extracts"] == 172 and result["rows"]["participant_versions"] == len(before["participant_versions"])
    assert result["message"].startswith("copied ") and result["message"].endswith("verified")
    for table in COPIED:  # the source as it was, and the copy row for row (read here, not by the copy's own check)
        assert rows_of(demo_db, table) == before[table], table
        if table != "audit_log":
            assert rows_of(target, table) == before[table], table
    # The audit log: the source's, then one entry of the copy with counts only.
    copied_log = rows_of(target, "audit_log")
    assert copied_log[:-1] == before["audit_log"]
    audit_id, _, _, action, trial, extract_id, detail = copied_log[-1]
    assert (audit_id, action, trial, extract_id) == (before["audit_log"][-1][0] + 1, "store_copied", None, None)
    assert json.loads(detail) == {"source": str(demo_db), "rows": {t: len(before[t]) for t in COPIED}}
    # Each database keeps an identity of its own: the copy is another database.
    assert rows_of(target, "store_identity")[0][0] != rows_of(demo_db, "store_identity")[0][0]
    # Every as-of view of the history, as the dashboard reads it, at every upload moment and now.
    source, copied = Store(demo_db), Store(target)
    for at in moments(source):
        pd.testing.assert_frame_equal(copied.current_participants(as_of=at), source.current_participants(as_of=at))
        pd.testing.assert_frame_equal(copied.extracts(as_of=at), source.extracts(as_of=at))
    pd.testing.assert_frame_equal(copied.meetings(), source.meetings())
    for meeting_id in source.meetings()["meeting_id"]:
        pd.testing.assert_frame_equal(copied.meeting_participants(meeting_id), source.meeting_participants(meeting_id))


def test_after_the_copy_the_next_ids_continue(tmp_path, programme, capsys):
    source = Store(tmp_path / "laptop.duckdb", create=True)
    history = meeting_history(source, programme)
    target = tmp_path / "hospital.duckdb"
    assert copy(source.path, target, capsys)[0] == 0
    copied = Store(target)
    last_extract = int(source.extracts()["extract_id"].max())
    new = upload(copied, programme, ["P2-N1,NKI,,2026-09-15,haip,on_treatment,", "P2-N3,NKI,,2026-11-12,haip,on_treatment,"],
                 at=dt.datetime(2026, 11, 20, 9))
    assert new == last_extract + 1 and copied.extracts()["extract_id"].max() == new
    assert copied.hold_meeting("chair", "after the move")["meeting_id"] == history["meeting"] + 1
    audit_ids = copied.audit_log()["audit_id"].tolist()
    assert audit_ids == sorted(audit_ids, reverse=True) and len(set(audit_ids)) == len(audit_ids)
    assert copied.audit_log().iloc[0]["action"] == "meeting"


def test_a_target_that_holds_anything_is_refused_and_left_unchanged(tmp_path, programme, capsys):
    source = Store(tmp_path / "laptop.duckdb", create=True)
    meeting_history(source, programme)
    target = Store(tmp_path / "hospital.duckdb", create=True)
    upload(target, programme, ["P2-N1,NKI,,2026-09-15,haip,on_treatment,"])
    before = {table: rows_of(target.path, table) for table in COPIED}
    code, result = copy(source.path, target.path, capsys)
    assert code == 1 and result["ok"] is False and result["errors"][0]["code"] == "refused"
    assert result["message"] == (
        f"refused: the database at {target.path} is not empty: it holds 1 row of audit_log, 1 row of extract_sites, "
        "1 row of extracts, 1 row of participant_versions; store copy only fills an empty database, and nothing was "
        "copied or changed"
    )
    assert {table: rows_of(target.path, table) for table in COPIED} == before  # not even an audit entry
    # A database made by `init` holds its first audit entry: a copy goes into a database nothing has used.
    assert main(["--db", str(tmp_path / "initialised.duckdb"), "init"]) == 0
    capsys.readouterr()
    code, result = copy(source.path, tmp_path / "initialised.duckdb", capsys)
    assert code == 1 and "it holds 1 row of audit_log" in result["message"]


def test_a_source_that_is_not_a_dashboard_database_copies_nothing(tmp_path, capsys):
    target = tmp_path / "hospital.duckdb"
    text = tmp_path / "notes.duckdb"
    text.write_text("participant list\n")
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE visits (id INTEGER)")
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    expected = {
        text: f"{text} is not a dashboard database (it is another kind of file, or damaged)",
        other: f"{other} is not a dashboard database: it holds another program's tables (visits); it was not used or changed",
        empty: f"no database at {empty} (it holds no dashboard tables): create it with init",
        tmp_path / "missing.duckdb": f"no database at {tmp_path / 'missing.duckdb'}: create it with init",
    }
    for source, sentence in expected.items():
        code, result = copy(source, target, capsys)
        assert code == 3 and result["ok"] is False and result["errors"][0]["code"] == "failed", source
        assert result["message"].startswith(f"could not copy: {sentence}"), result["message"]
        assert not target.exists()  # the target is made only once the source has been read
    assert text.read_text() == "participant list\n"
    with duckdb.connect(str(other), read_only=True) as con:
        assert [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()] == ["visits"]


def test_a_failure_in_the_middle_of_the_copy_leaves_the_target_empty(tmp_path, programme, capsys):
    source = Store(tmp_path / "laptop.duckdb", create=True)
    meeting_history(source, programme)
    with source.connect() as con:  # a damaged source: a row the target's schema refuses, in the last table copied
        con.execute("ALTER TABLE waiting_pulls ALTER COLUMN source DROP NOT NULL")
        con.execute("""INSERT INTO waiting_pulls (source, trial, site, pulled_at, pulled_by, sha256, format, report)
                       VALUES (NULL, 'PUMP-2', 'EMC', TIMESTAMP '2026-11-20 09:00', 'system', 'x', 'castor', '{}')""")
    target = tmp_path / "hospital.duckdb"
    code, result = copy(source.path, target, capsys)
    assert code == 3 and result["ok"] is False
    assert result["message"].startswith(f"could not copy: the rows of waiting_pulls could not be written into {target} (")
    assert result["message"].endswith("; nothing was copied")
    copied = Store(target)
    assert set(copied.table_counts().values()) == {0}  # the tables copied before it (audit_log, extracts, ...) too
    with source.connect() as con:  # the source mended, the copy goes into the same target
        con.execute("DELETE FROM waiting_pulls WHERE source IS NULL")
    assert copy(source.path, target, capsys)[0] == 0
    assert Store(target).extracts()["extract_id"].tolist() == source.extracts()["extract_id"].tolist()


def test_bad_usage_is_one_json_object_with_exit_2(tmp_path, capsys):
    path = tmp_path / "laptop.duckdb"
    code, result = copy(path, path, capsys)
    assert code == 2 and result["errors"][0]["code"] == "bad_usage"
    assert result["message"] == f"bad usage: --from and --to are the same database ({path})"
    assert main(["store", "copy", "--from", str(path), "--json"]) == 2
    assert "the following arguments are required: --to" in json.loads(capsys.readouterr().out)["message"]
    assert not path.exists()


def test_one_database_under_two_names_is_not_copied_into_itself(tmp_path, capsys):
    path = tmp_path / "laptop.duckdb"
    assert main(["--db", str(path), "init"]) == 0
    capsys.readouterr()
    other_name = tmp_path / "same.duckdb"
    os.link(path, other_name)  # another path, the same file: known by the database's identity
    code, result = copy(path, other_name, capsys)
    assert code == 1 and result["message"] == f"refused: {path} and {other_name} are the same database; nothing was copied"


def test_the_demo_history_through_postgresql_and_back_is_the_same_history(demo_db, pg_url, postgres_server, tmp_path, capsys):
    """DuckDB -> PostgreSQL -> DuckDB: every table and every as-of view as the laptop's file had them;
    the server's address never shows its password, in the answer or in the audit log."""
    password = pg_url.split(":")[2].split("@")[0]
    code, result = copy(demo_db, pg_url, capsys)
    assert code == 0 and result["ok"] is True and result["to"] == pg_url.replace(f":{password}@", ":***@")
    on_server = Store(pg_url)
    source = Store(demo_db)
    for at in moments(source):  # the server's own reads of the history
        pd.testing.assert_frame_equal(on_server.current_participants(as_of=at), source.current_participants(as_of=at))
    back = tmp_path / "back.duckdb"
    code, result = copy(pg_url, back, capsys)
    assert code == 0 and password not in json.dumps(result)
    for table in COPIED:
        if table != "audit_log":
            assert rows_of(back, table) == rows_of(demo_db, table), table
    came_back = rows_of(back, "audit_log")
    assert came_back[:-2] == rows_of(demo_db, "audit_log")  # and one entry for each copy
    assert [(row[3], json.loads(row[6])["source"]) for row in came_back[-2:]] == [
        ("store_copied", str(demo_db)), ("store_copied", pg_url.replace(f":{password}@", ":***@"))]
    returned = Store(back)
    for at in moments(source):
        pd.testing.assert_frame_equal(returned.current_participants(as_of=at), source.current_participants(as_of=at))
        pd.testing.assert_frame_equal(returned.extracts(as_of=at), source.extracts(as_of=at))
    for meeting_id in source.meetings()["meeting_id"]:
        pd.testing.assert_frame_equal(returned.meeting_participants(meeting_id), source.meeting_participants(meeting_id))
    # Into a server database that holds anything: refused, nothing changed there.
    before = on_server.table_counts()
    code, result = copy(back, pg_url, capsys)
    assert code == 1 and result["message"].startswith(f"refused: the database at {on_server.location} is not empty: it holds ")
    assert password not in json.dumps(result) and on_server.table_counts() == before


def test_after_a_copy_to_postgresql_the_next_ids_continue(tmp_path, pg_url, programme, capsys, monkeypatch):
    source = Store(tmp_path / "laptop.duckdb", create=True)
    history = meeting_history(source, programme)
    # As the README's deployment does it: the password in the environment (a root-only file), not in the address.
    _, password = pg_url.split("//")[1].split("@")[0].split(":")
    monkeypatch.setenv("PGPASSWORD", password)
    address = pg_url.replace(f":{password}@", "@")
    assert copy(source.path, address, capsys)[0] == 0
    with psycopg.connect(address) as con:  # the planner has statistics of what was loaded in bulk (ANALYZE after the commit)
        analyzed = dict(con.execute("SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables").fetchall())
    assert analyzed["participant_versions"] and analyzed["extracts"] and all(analyzed.values())
    copied = Store(address)
    new = upload(copied, programme, ["P2-N1,NKI,,2026-09-15,haip,on_treatment,", "P2-N3,NKI,,2026-11-12,haip,on_treatment,"],
                 at=dt.datetime(2026, 11, 20, 9))
    assert new == int(source.extracts()["extract_id"].max()) + 1
    assert copied.hold_meeting("chair", "after the move")["meeting_id"] == history["meeting"] + 1
    assert copied.audit_log()["audit_id"].iloc[0] == int(source.audit_log()["audit_id"].max()) + 3  # the copy's, the upload's, the meeting's


def test_the_checksum_is_the_same_for_the_same_rows_from_either_engine():
    """What differs between engines and means nothing (row order, JSON spacing and key order, the
    integer width, timestamps' unit) leaves the checksum alone; a changed value changes it."""
    duck = pa.table({"id": pa.array([1, 2], pa.int32()), "at": pa.array([dt.datetime(2026, 1, 1, 9)] * 2, pa.timestamp("us")),
                     "detail": ['{"b": 1, "a": [1, 2]}', None]})
    server = pa.table({"id": pa.array([2, 1], pa.int64()), "at": pa.array([dt.datetime(2026, 1, 1, 9)] * 2, pa.timestamp("ns")),
                       "detail": [None, '{"a":[1,2],"b":1}']})
    assert fingerprint(duck, ["detail"]) == fingerprint(server, ["detail"])
    changed = server.set_column(2, "detail", pa.array([None, '{"a":[1,2],"b":2}']))
    assert fingerprint(changed, ["detail"]) != fingerprint(duck, ["detail"])
    later = server.set_column(1, "at", pa.array([dt.datetime(2026, 1, 1, 9, 0, 0, 1)] * 2, pa.timestamp("ns")))
    assert fingerprint(later, ["detail"]) != fingerprint(duck, ["detail"])
