"""A store never starts anew by accident (issue 22, item 6): a database is created only when asked
(init, demo, the dashboard's first start); the file deleted, its folder renamed, the file replaced
by another database or truncated while a Store uses it is a sentence, nothing is written anywhere,
and the Store works again once the right file is back. On the pages too, and on the command line.
These are faults of a DuckDB file (deleted, moved, replaced, truncated) and stay DuckDB's; PostgreSQL's
own (no dashboard schema, no such database, another database behind the address, the server stopped, a
database moved away while a page shows) are in test_store_postgres.py."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import service
from dashboard.ingest import check_file, commit
from dashboard.store import Store, StoreUnavailable
from dashboard.textnorm import plain
from support import ROOT, TODAY, template_csv

APP = str(ROOT / "streamlit_app.py")
BASE = template_csv("P-1,EMC,,2024-01-10,haip", "P-2,EMC,,2024-02-11,control")
WEEK_2 = template_csv("P-1,EMC,,2024-01-10,haip", "P-2,EMC,,2024-02-11,control", "P-3,EMC,,2024-03-01,haip")


def stored(db: Path, programme) -> Store:
    """PUMP at EMC: P-1 and P-2, in a database made on purpose."""
    store = Store(db, create=True)
    commit(store, check_file(store, programme, BASE, "base.csv", "PUMP", today=TODAY), "coordinator", accept_warnings=True)
    return store


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def store_something(store: Store, programme) -> None:
    commit(store, check_file(store, programme, WEEK_2, "week2.csv", "PUMP", today=TODAY), "coordinator", accept_warnings=True)


def delete(db: Path, aside: Path) -> None:
    shutil.move(db, aside)


def rename_folder(db: Path, aside: Path) -> None:
    db.parent.rename(aside.parent / "moved")


def replace_by_another(db: Path, aside: Path) -> None:
    shutil.move(db, aside)
    other = Store(aside.parent / "other" / "other.duckdb", create=True)
    other.data_version()
    shutil.copy(other.path, db)


def truncate(db: Path, aside: Path) -> None:
    shutil.copy(db, aside)
    os.truncate(db, db.stat().st_size // 2)


def put_back(db: Path, aside: Path) -> None:
    if (aside.parent / "moved").exists():
        (aside.parent / "moved").rename(db.parent)
    else:
        db.unlink(missing_ok=True)
        shutil.move(aside, db)


FAULTS = {
    "deleted": (delete, "is gone: the file was deleted, or its folder was moved or renamed"),
    "folder renamed": (rename_folder, "is gone: the file was deleted, or its folder was moved or renamed"),
    "replaced by another database": (replace_by_another, "is no longer the one the dashboard opened"),
    "truncated": (truncate, "is not a dashboard database (it is another kind of file, or damaged)"),
}


@pytest.fixture
def places(tmp_path):
    """The database in its own folder, and a place aside for the file while it is away."""
    (tmp_path / "data").mkdir()
    (tmp_path / "aside").mkdir()
    return tmp_path / "data" / "pump.duckdb", tmp_path / "aside" / "pump.duckdb"


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
@pytest.mark.parametrize("held", [False, True], ids=["closed between uses", "held open"])
def test_a_fault_of_the_file_is_a_sentence_nothing_is_written_and_the_store_recovers(places, programme, fault, held):
    db, aside = places
    store = stored(db, programme)
    if held:  # the dashboard keeps the file open between uses
        store = Store(db, idle_release=60)
    assert len(store.current_participants("PUMP")) == 2
    make_fault, sentence = FAULTS[fault]
    make_fault(db, aside)
    before = files_in(db.parent)
    for use in (lambda: store.current_participants("PUMP"), lambda: store_something(store, programme),
                lambda: Store(db).data_version()):
        with pytest.raises(StoreUnavailable) as caught:
            use()
        assert sentence in str(caught.value)
        assert "nothing was written" in str(caught.value) or "nothing was changed" in str(caught.value)
    assert files_in(db.parent) == before  # no new database, no log, no folder made again
    assert not (db.parent.exists() and fault == "folder renamed")
    put_back(db, aside)
    assert len(store.current_participants("PUMP")) == 2  # the right file is back: it works again
    store_something(store, programme)
    assert len(Store(db).current_participants("PUMP")) == 3


def test_a_write_whose_file_is_deleted_before_it_commits_says_it_is_not_stored(places, programme):
    db, aside = places
    store = stored(db, programme)
    checked = check_file(store, programme, WEEK_2, "week2.csv", "PUMP", today=TODAY)
    with store.connect():  # a use under way (the page's) while the file goes
        shutil.move(db, aside)
        with pytest.raises(StoreUnavailable, match="is gone"):
            commit(store, checked, "coordinator", accept_warnings=True)
    assert files_in(db.parent) == []
    put_back(db, aside)
    assert len(Store(db).current_participants("PUMP")) == 2


def test_a_path_that_holds_no_database_is_never_created_by_a_use(tmp_path):
    with pytest.raises(StoreUnavailable) as caught:
        Store(tmp_path / "mistyped" / "pump.duckdb").data_version()
    assert str(caught.value) == f"no database at {tmp_path / 'mistyped' / 'pump.duckdb'}: create it with init"
    assert files_in(tmp_path) == []


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=ROOT, capture_output=True, text=True, timeout=180)


def test_the_command_line_on_a_mistyped_db_says_so_with_exit_3_and_creates_nothing(tmp_path):
    mistyped = tmp_path / "dta" / "pump.duckdb"
    for command in (["summary", "--json"], ["extracts"], ["audit"]):
        result = run_cli("--db", str(mistyped), *command)
        assert result.returncode == 3, result
        said = result.stdout if "--json" in command else result.stderr
        assert f"could not run: no database at {mistyped}: create it with init" in said
    assert files_in(tmp_path) == []
    result = run_cli("--db", str(mistyped), "init")  # init is how a database is made
    assert result.returncode == 0 and mistyped.exists()
    assert run_cli("--db", str(mistyped), "summary", "--json").returncode == 0


def test_the_command_line_on_a_truncated_database_exits_3_and_leaves_it_as_it_is(places, programme):
    db, aside = places
    stored(db, programme)
    truncate(db, aside)
    size = db.stat().st_size
    result = run_cli("--db", str(db), "extracts")
    assert result.returncode == 3
    assert "is not a dashboard database (it is another kind of file, or damaged); nothing was changed" in result.stderr
    assert db.stat().st_size == size and files_in(db.parent) == ["pump.duckdb"]


# ---- on the page -------------------------------------------------------------------------------------------


def run_app(monkeypatch, db: Path) -> AppTest:
    monkeypatch.setenv("PUMP_DB", str(db))
    monkeypatch.setenv("PUMP_DEMO", "1")  # the embedded default: the first start would seed an empty folder
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["role"] = "director"
    return at.run()


@pytest.mark.parametrize("fault", ["deleted", "folder renamed", "replaced by another database"])
def test_the_page_says_the_sentence_logs_the_traceback_and_recovers_when_the_file_is_back(monkeypatch, places, programme, fault):
    db, aside = places
    stored(db, programme)
    at = run_app(monkeypatch, db)
    assert not at.exception and not at.error
    make_fault, sentence = FAULTS[fault]
    make_fault(db, aside)
    before, found = files_in(db.parent), db.read_bytes() if db.exists() else None
    st.cache_data.clear()  # a new visit: nothing cached from before
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("**The dashboard cannot use its database.** ")
    assert plain(sentence) in at.error[0].value
    # Not seeded anew, the other database untouched, no folder made again; only the errors log beside it.
    assert set(files_in(db.parent)) - {"pump-errors.log"} <= set(before)
    assert (db.read_bytes() if db.exists() else None) == found
    put_back(db, aside)
    at.run()
    assert not at.exception and not at.error
    assert "The dashboard cannot use its database" not in " ".join(m.value for m in at.markdown)
    if fault != "folder renamed":  # (the log beside the database moved with it: the server's output has it)
        log = service.log_path(db).read_text()
        assert "the page met a fault of its database" in log and "Traceback" in log and sentence in log
