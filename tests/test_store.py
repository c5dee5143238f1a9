"""The store on a real temporary DuckDB file: migrations, one transaction per write,
readers during a write, retraction, and the command line beside a running reader."""

import datetime as dt
import json
import subprocess
import sys
import threading
import time

import duckdb
import pandas as pd
import psycopg
import pytest

from dashboard import store as store_module
from dashboard.ingest import check_file, commit
from dashboard.store import SCHEMA_VERSION, Refused, Store
from support import ROOT, TODAY, template_csv

BOTH_ENGINES = True  # each test with the `store` fixture runs on DuckDB and on PostgreSQL (conftest)


def ingest(store, programme, data, name="extract.csv", trial="PUMP", actor="coordinator", accept=False):
    checked = check_file(store, programme, data, name, trial, today=TODAY)
    assert checked.ok, [i.message for i in checked.errors]
    return commit(store, checked, actor, accept_warnings=accept)


FIRST = template_csv("P-1,EMC,,2024-03-05,haip", "P-2,EMC,,2024-03-06,control")
SECOND = template_csv("P-1,EMC,,2024-03-05,haip", "P-2,EMC,,2024-03-06,control", "P-3,EMC,,2024-04-01,haip")


def test_an_extract_lands_with_its_participants_and_audit_entry(store, programme):
    extract_id = ingest(store, programme, FIRST, actor="Anna (EMC)")
    rows = store.current_participants("PUMP")
    assert rows["participant_id"].tolist() == ["P-1", "P-2"]
    assert rows["enrolled_on"].dt.date.tolist() == [dt.date(2024, 3, 5), dt.date(2024, 3, 6)]
    log = store.audit_log()
    assert log.iloc[0]["action"] == "ingest" and log.iloc[0]["actor"] == "Anna (EMC)" and log.iloc[0]["extract_id"] == extract_id


def test_a_new_snapshot_replaces_the_old_one_for_its_sites_only(store, programme):
    ingest(store, programme, template_csv("N-1,NKI,,2024-03-05,haip"))
    ingest(store, programme, FIRST)
    ingest(store, programme, SECOND)
    current = store.current_participants("PUMP")
    assert sorted(current["participant_id"]) == ["N-1", "P-1", "P-2", "P-3"]
    statuses = store.extracts().set_index("extract_id")["status"].to_dict()
    assert statuses == {1: "current", 2: "superseded", 3: "current"}


def test_identical_reupload_stores_nothing_new_but_confirms_freshness(store, programme):
    extract_id = ingest(store, programme, FIRST)
    before = store.table_counts()
    checked = check_file(store, programme, FIRST, "again.csv", "PUMP", today=TODAY)
    assert checked.already_loaded == extract_id
    later = dt.datetime(2030, 1, 7, 9, 0)
    assert commit(store, checked, "coordinator", uploaded_at=later) == extract_id
    after = store.table_counts()
    assert {t: after[t] - before[t] for t in after} == {
        "extracts": 0, "extract_sites": 0, "participant_versions": 0, "column_mappings": 0,
        "extract_confirmations": 1, "audit_log": 1, "meetings": 0, "meeting_cuts": 0, "waiting_pulls": 0,
    }
    last = store.last_extract_per_site(as_of=later)
    assert last["uploaded_at"].tolist() == [pd.Timestamp(later)]
    assert store.extracts()["last_confirmed_at"].tolist() == [pd.Timestamp(later)]


def test_a_file_identical_to_a_superseded_extract_is_a_new_snapshot(store, programme):
    ingest(store, programme, FIRST)
    ingest(store, programme, SECOND, accept=True)
    # Going back to the first file undoes the second (P-3 was a registration error).
    checked = check_file(store, programme, FIRST, "first-again.csv", "PUMP", today=TODAY)
    assert checked.already_loaded is None and checked.diff.missing == ["P-3"]
    assert checked.mass_removal.sentences() == ["This removes 1 of 3 EMC participants of PUMP."]  # a third of them
    commit(store, checked, "coordinator", accept_warnings=True, confirm_removals=1)
    assert sorted(store.current_participants("PUMP")["participant_id"]) == ["P-1", "P-2"]


def test_retraction_restores_the_previous_extract_and_deletes_nothing(store, programme):
    ingest(store, programme, FIRST)
    second = ingest(store, programme, SECOND)
    store.retract(second, "Director", "wrong export: test records included")
    assert sorted(store.current_participants("PUMP")["participant_id"]) == ["P-1", "P-2"]
    extracts = store.extracts().set_index("extract_id")
    assert extracts.loc[second, "status"] == "retracted"
    assert extracts.loc[second, "retraction_reason"] == "wrong export: test records included"
    assert len(store.extract_participants(second)) == 3  # the retracted extract's rows are kept
    entry = store.audit_log().iloc[0]
    assert entry["action"] == "retract" and entry["trial"] == "PUMP" and entry["extract_id"] == second
    with pytest.raises(Refused, match=f"extract #{second} was already retracted"):
        store.retract(second, "Director", "again")


def test_a_write_without_a_user_is_refused(store, programme):
    checked = check_file(store, programme, FIRST, "x.csv", "PUMP", today=TODAY)
    with pytest.raises(Refused, match="say who you are"):
        commit(store, checked, "  ")
    assert store.is_empty()


def test_a_failing_ingest_leaves_every_table_unchanged(store, programme):
    ingest(store, programme, FIRST)
    before = store.table_counts()
    checked = check_file(store, programme, SECOND, "second.csv", "PUMP", today=TODAY)
    # Break the participant rows after validation (P-3 twice): the insert fails half-way through the write.
    checked.participants = pd.concat([checked.participants, checked.participants.iloc[[-1]]])
    with pytest.raises((duckdb.ConstraintException, psycopg.errors.UniqueViolation)):
        commit(store, checked, "coordinator")
    assert store.table_counts() == before
    assert sorted(store.current_participants("PUMP")["participant_id"]) == ["P-1", "P-2"]


def test_readers_during_a_write_see_the_old_or_the_new_data_never_half(store, programme):
    ingest(store, programme, FIRST)
    big = template_csv(*[f"B-{i},EMC,,2024-03-05,haip" for i in range(60_000)])
    checked = check_file(store, programme, big, "big.csv", "PUMP", today=TODAY)
    seen, errors = set(), []
    done = threading.Event()

    def read():
        while not done.is_set():
            try:
                seen.add(len(store.current_participants("PUMP")))
            except Exception as exc:  # a reader must never fail because of the writer
                errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    commit(store, checked, "coordinator", accept_warnings=True, confirm_removals=2)  # P-1 and P-2 go
    # Until a reader has seen the new data (a loaded machine reads 60,000 rows slowly), at most 60 s.
    deadline = time.monotonic() + 60
    while 60_000 not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
    done.set()
    for reader in readers:
        reader.join()
    assert errors == []
    assert seen <= {2, 60_000} and 60_000 in seen


def test_a_database_of_schema_version_1_upgrades_itself_and_keeps_its_data(tmp_path, programme):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    store_module.migrate(con, up_to=1)
    con.execute(
        "INSERT INTO extracts (trial, file_name, sha256, format, uploaded_by, uploaded_at, row_count, participant_count) "
        "VALUES ('PUMP', 'old.csv', 'abc', 'template', 'someone', TIMESTAMP '2024-01-01 09:00', 1, 1)"
    )
    con.execute("INSERT INTO extract_sites VALUES (1, 'EMC')")
    con.execute("INSERT INTO participants (extract_id, trial, participant_id, site, enrolled_on) VALUES (1, 'PUMP', 'OLD-1', 'EMC', DATE '2023-12-01')")
    con.close()
    store = Store(path)
    assert store.schema_version() == store_module.SCHEMA_VERSION
    assert store.current_participants("PUMP")["participant_id"].tolist() == ["OLD-1"]
    data = template_csv("P-1,EMC,,2024-03-05,haip", header="participant_id,site,screened_on,inclusion_date,arm")
    mapping = {"enrolled_on": "inclusion_date"}
    checked = check_file(store, programme, data, "new.csv", "PUMP", today=TODAY, mapping=mapping)
    commit(store, checked, "coordinator", accept_warnings=True, mapping=mapping, confirm_removals=1)  # OLD-1 is not in it
    assert store.mappings("PUMP") == {"template": {"enrolled_on": "inclusion_date"}}


def test_the_command_line_ingests_while_another_process_keeps_reading(tmp_path, programme):
    path = tmp_path / "shared.duckdb"
    Store(path, create=True).data_version()
    reader = subprocess.Popen(
        [sys.executable, "-c", (
            "import time; from dashboard.store import Store\n"
            f"s = Store({str(path)!r}); end = time.time() + 6; n = 0\n"
            "while time.time() < end: s.current_participants(); n += 1\n"
            "print(n)"
        )],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    time.sleep(1)
    extract = tmp_path / "extract.csv"
    extract.write_bytes(FIRST)
    result = subprocess.run(
        [sys.executable, "-m", "dashboard", "--db", str(path), "ingest", str(extract), "--trial", "PUMP", "--by", "nightly job"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    out, _ = reader.communicate(timeout=30)
    assert result.returncode == 0, result.stderr
    assert "stored as extract #1: 2 new" in result.stdout
    assert reader.returncode == 0 and int(out) > 10
    assert len(Store(path).current_participants("PUMP")) == 2


def test_a_configuration_change_is_recorded_once_in_the_audit_log(store, programme):
    from dashboard import service

    assert service.record_config(store, programme) is True
    assert service.record_config(store, programme) is False  # the same file again: nothing new
    amended = programme.model_copy(update={"source_sha256": "another file"})
    assert service.record_config(store, amended) is True
    log = store.audit_log()
    assert log["action"].tolist() == ["config_loaded", "config_loaded"]
    assert store.last_config_sha256() == "another file"


def test_an_extract_checked_before_another_landed_is_refused_and_the_stored_summary_stays_right(store, programme):
    ingest(store, programme, FIRST)
    # Two coordinators check files of the same trial at the same time; one stores first.
    early = check_file(store, programme, SECOND, "anna.csv", "PUMP", today=TODAY)
    late = check_file(store, programme, template_csv("P-1,EMC,,2024-03-05,haip", "P-2,EMC,,2024-03-06,control", "P-4,EMC,,2024-05-01,haip"), "bob.csv", "PUMP", today=TODAY)
    commit(store, early, "anna")
    before = store.table_counts()
    with pytest.raises(Refused, match="another PUMP extract was stored while you were checking this one"):
        commit(store, late, "bob")
    assert store.table_counts() == before
    # Checked again, its change is against the snapshot it replaces: P-4 new, P-3 no longer in it.
    again = check_file(store, programme, template_csv("P-1,EMC,,2024-03-05,haip", "P-2,EMC,,2024-03-06,control", "P-4,EMC,,2024-05-01,haip"), "bob.csv", "PUMP", today=TODAY)
    commit(store, again, "bob", accept_warnings=True, confirm_removals=1)
    stored = json.loads(store.extracts().iloc[0]["diff"])
    assert stored["counts"] == {"new": 1, "changed": 0, "missing": 1, "unchanged": 2}


def test_an_id_that_became_current_at_another_site_while_a_file_was_checked_is_refused_at_the_commit(store, programme):
    """Two sites' coordinators upload at once, and both files hold P-9: the preview of each saw no clash, but the
    second to commit is refused in its transaction (one participant, one site), stored nothing, and the refusal is
    audited; the summary counts P-9 once."""
    ingest(store, programme, FIRST)
    emc = check_file(store, programme, template_csv("P-1,EMC,,2024-03-05,haip", "P-2,EMC,,2024-03-06,control", "P-9,EMC,,2024-04-02,haip"),
                     "emc.csv", "PUMP", today=TODAY)
    nki = check_file(store, programme, template_csv("P-9,NKI,,2024-04-03,control"), "nki.csv", "PUMP", today=TODAY)
    assert emc.ok and nki.ok
    commit(store, nki, "nina", accept_warnings=True)
    before = store.table_counts()
    with pytest.raises(Refused, match="'P-9' became current at NKI while you were checking this file"):
        commit(store, emc, "anna", accept_warnings=True)
    counts = store.table_counts()
    assert {k: v for k, v in counts.items() if k != "audit_log"} == {k: v for k, v in before.items() if k != "audit_log"}
    refusal = store.audit_log().iloc[0]
    assert refusal["action"] == "refused" and "participant at another site" in str(refusal["detail"])
    assert (store.current_participants("PUMP")["participant_id"] == "P-9").sum() == 1


def test_a_file_that_is_not_a_database_is_refused_in_words_and_left_as_it_was(tmp_path, capsys):
    from dashboard.cli import main

    path = tmp_path / "notes.duckdb"
    path.write_bytes(b"minutes of the steering meeting\n" * 100)
    code = main(["--db", str(path), "summary", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 3 and result["ok"] is False
    assert result["message"].startswith(f"could not run: {path} is not a dashboard database (it is another kind of file, or damaged)")
    assert path.read_bytes() == b"minutes of the steering meeting\n" * 100


def test_a_database_from_a_newer_version_is_not_opened(tmp_path, capsys):
    from dashboard.cli import main

    store = Store(tmp_path / "newer.duckdb", create=True)
    store.data_version()
    store.query(f"INSERT INTO schema_version VALUES ({SCHEMA_VERSION + 1}, now()) RETURNING version")
    code = main(["--db", str(store.path), "extracts"])
    err = capsys.readouterr().err
    assert code == 3 and err.startswith(
        f"could not run: this database was written by a newer version of the dashboard (schema {SCHEMA_VERSION + 1}; "
        f"this version knows {SCHEMA_VERSION}); it was not opened or changed."
    )


def test_extracts_as_of_a_past_day_list_what_was_known_then(store, programme):
    monday, tuesday = dt.datetime(2026, 11, 16, 9, 0), dt.datetime(2026, 11, 17, 9, 0)
    first = commit(store, check_file(store, programme, FIRST, "a.csv", "PUMP", today=TODAY), "anna", uploaded_at=monday)
    second = commit(store, check_file(store, programme, SECOND, "b.csv", "PUMP", today=TODAY), "anna", uploaded_at=tuesday)
    end_of_monday = dt.datetime(2026, 11, 16, 23, 59, 59)
    then = store.extracts(as_of=end_of_monday)
    # On Monday evening only the first extract existed, and it was current.
    assert then[["extract_id", "status"]].values.tolist() == [[first, "current"]]
    now = store.extracts().set_index("extract_id")["status"].to_dict()
    assert now == {second: "current", first: "superseded"}
