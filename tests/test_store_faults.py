"""The store under many readers, parallel imports and faults of the file or its disk: reads
never fail, a second import checked against an old snapshot is refused, and every fault
ends in a sentence and exit 3 with the database as it was."""

import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from dashboard import cli, service
from dashboard.ingest import check_file, commit
from dashboard.store import Store
from support import ROOT, TODAY, template_csv

# Tests with the `store` or `new_location` fixture run on DuckDB and on PostgreSQL (conftest); the others are
# about the DuckDB file itself (its lock, the waiting marker, its bytes, its disk) and stay DuckDB's.
BOTH_ENGINES = True

BASE = template_csv("P-1,EMC,,2024-01-10,haip", "P-2,EMC,,2024-02-11,control")


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def run_cli(db: Path, *args: str, env: dict | None = None, prefix: tuple = (), **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "dashboard", "--db", str(db), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})}, **kwargs,
    )


def base_database(path: Path, programme) -> Store:
    """PUMP at EMC: P-1 and P-2; the configuration recorded, as the command line does first."""
    store = Store(path, create=True)
    service.record_config(store, programme)
    checked = check_file(store, programme, BASE, "base.csv", "PUMP", today=TODAY)
    commit(store, checked, "coordinator", accept_warnings=True)
    return store


def hold_file(db: Path, seconds: float) -> subprocess.Popen:
    """Another program that opens the database read-write and keeps it for `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('open', flush=True); "
         f"time.sleep({seconds}); c.close()"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "open"
    return holder


# ---- many readers, one writer, one process -------------------------------------------------------


def test_eight_threads_reading_300_times_each_while_one_writes_never_fail(store, new_location, programme):
    base_database(new_location, programme)
    errors, counts = [], []

    def read():
        for i in range(300):
            try:
                if i % 3 == 0:
                    store.data_version()
                elif i % 3 == 1:
                    counts.append(len(store.current_participants("PUMP")))
                else:
                    store.extracts()
            except Exception as exc:  # a reader must never fail because another thread reads or writes
                errors.append(repr(exc))

    readers = [threading.Thread(target=read) for _ in range(8)]
    for reader in readers:
        reader.start()
    rows = ["P-1,EMC,,2024-01-10,haip", "P-2,EMC,,2024-02-11,control"]
    for n in range(3, 8):  # five uploads while they read
        rows.append(f"P-{n},EMC,,2024-03-{n:02d},haip")
        checked = check_file(store, programme, template_csv(*rows), f"week{n}.csv", "PUMP", today=TODAY)
        commit(store, checked, "coordinator", accept_warnings=True)
    for reader in readers:
        reader.join()
    assert errors == []
    assert len(counts) == 8 * 100 and set(counts) <= {2, 3, 4, 5, 6, 7}
    assert len(store.current_participants("PUMP")) == 7


# ---- two imports of one trial at once ---------------------------------------------------------------

CHECK_THEN_WAIT = """
import pathlib, sys, time
from dashboard.config import load_programme
from dashboard.ingest import check_file, commit
from dashboard.store import Refused, Store
db, file, go = sys.argv[1:4]
store = Store(db)
checked = check_file(store, load_programme(), pathlib.Path(file).read_bytes(), pathlib.Path(file).name, "PUMP")
print("checked", flush=True)
while not pathlib.Path(go).exists():
    time.sleep(0.01)
try:
    print("stored", commit(store, checked, "job", accept_warnings=True), flush=True)
except Refused as exc:
    print("refused", exc, flush=True)
"""


def test_two_processes_committing_the_same_trial_one_lands_and_the_other_is_told_to_check_again(tmp_path, new_location, programme):
    # On PostgreSQL the two commits really run at once (no file lock takes turns): the write lock of the
    # database makes the later one see the earlier one's extract in its re-check.
    db = new_location
    base_database(db, programme)
    files = {
        "a": write(tmp_path, "a.csv", BASE.rstrip(b"\r\n") + b"\r\nA-1,EMC,,2024-05-01,haip\r\n"),
        "b": write(tmp_path, "b.csv", BASE.rstrip(b"\r\n") + b"\r\nB-1,EMC,,2024-05-02,haip\r\nB-2,EMC,,2024-05-03,haip\r\n"),
    }
    go = tmp_path / "go"
    runs = {
        name: subprocess.Popen([sys.executable, "-c", CHECK_THEN_WAIT, str(db), str(path), str(go)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, path in files.items()
    }
    for run in runs.values():  # both checked against the same snapshot (P-1, P-2)
        assert run.stdout.readline().strip() == "checked"
    go.touch()
    said = {name: run.communicate(timeout=120)[0].strip() for name, run in runs.items()}
    stored = [name for name, text in said.items() if text.startswith("stored")]
    refused = [name for name, text in said.items() if text.startswith("refused")]
    assert len(stored) == 1 and len(refused) == 1, said
    assert "another PUMP extract was stored while you were checking this one" in said[refused[0]]
    assert "check the file again. Nothing was stored." in said[refused[0]]
    store = Store(db)
    extracts = store.extracts()
    assert len(extracts) == 2
    # The stored summary is the winner's against the snapshot it replaced: its own new ids, nobody missing.
    diff = json.loads(extracts.iloc[0]["diff"])["counts"]
    assert diff == {"new": 1 if stored == ["a"] else 2, "changed": 0, "missing": 0, "unchanged": 2}
    expected = {"a": ["A-1", "P-1", "P-2"], "b": ["B-1", "B-2", "P-1", "P-2"]}[stored[0]]
    assert sorted(store.current_participants("PUMP")["participant_id"]) == expected


def test_the_same_file_landing_from_elsewhere_while_the_command_line_checks_it_is_a_confirmation(tmp_path, programme, monkeypatch, capsys):
    db = tmp_path / "twice.duckdb"
    base_database(db, programme)
    extract = write(tmp_path, "week2.csv", BASE.rstrip(b"\r\n") + b"\r\nP-3,EMC,,2024-05-01,haip\r\n")
    real_check = cli.check_file

    def check_while_the_page_stores_it(store, programme, data, *args, **kwargs):
        checked = real_check(store, programme, data, *args, **kwargs)
        other = real_check(Store(db), programme, data, "week2.csv", "PUMP", today=TODAY)  # the upload page, meanwhile
        commit(Store(db), other, "coordinator on the page", accept_warnings=True)
        return checked

    monkeypatch.setattr(cli, "check_file", check_while_the_page_stores_it)
    code = cli.main(["--db", str(db), "ingest", str(extract), "--trial", "PUMP", "--by", "nightly job", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["message"].startswith("already loaded as extract #2; nothing changed")
    store = Store(db)
    assert len(store.extracts()) == 2
    assert store.table_counts()["extract_confirmations"] == 1


# ---- waiting for another program --------------------------------------------------------------------


def test_the_command_line_waits_its_turn_and_says_so(tmp_path, programme):
    db = tmp_path / "busy.duckdb"
    base_database(db, programme)
    holder = hold_file(db, 3)
    result = run_cli(db, "extracts", "--json")
    holder.wait(timeout=30)
    assert result.returncode == 0, result.stderr
    assert "the database is in use by another program (process" in result.stderr
    assert "waiting for it (at most 30 s)" in result.stderr
    assert [e["file_name"] for e in json.loads(result.stdout)] == ["base.csv"]


def test_a_program_that_waited_quietly_leaves_no_waiting_marker_behind(tmp_path, programme):
    """The dashboard waits without a word on the screen; a marker it left would make the next
    holder of the file give way to nobody."""
    db = tmp_path / "busy.duckdb"
    base_database(db, programme)
    holder = hold_file(db, 2)
    try:
        assert list(Store(db).extracts()["file_name"]) == ["base.csv"]
    finally:
        holder.wait(timeout=30)
    assert not db.with_name(db.name + ".waiting").exists()


def test_a_wait_that_is_no_number_of_seconds_is_bad_usage_in_words(tmp_path):
    result = run_cli(tmp_path / "any.duckdb", "extracts", env={"PUMP_LOCK_WAIT": "half a minute"})
    assert result.returncode == 2
    assert result.stderr.strip() == "bad usage: PUMP_LOCK_WAIT='half a minute' is not a number of seconds (e.g. 30)"
    assert not (tmp_path / "any.duckdb").exists()


def test_a_database_held_beyond_the_wait_exits_3_in_words_and_nothing_changes(tmp_path, programme):
    db = tmp_path / "held.duckdb"
    base_database(db, programme)
    before = Store(db).table_counts()
    extract = write(tmp_path, "week2.csv", BASE.rstrip(b"\r\n") + b"\r\nP-3,EMC,,2024-05-01,haip\r\n")
    holder = hold_file(db, 60)
    try:
        result = run_cli(db, "ingest", str(extract), "--trial", "PUMP", "--by", "job", "--json", env={"PUMP_LOCK_WAIT": "2"})
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 3
    message = json.loads(result.stdout)["message"]
    assert message.startswith(f"could not run: the database {db} is in use by another program (process")
    assert message.endswith("for more than 2 s; nothing was changed. Try again in a minute")
    assert "Traceback" not in result.stderr
    assert Store(db).table_counts() == before


def test_the_dashboard_lets_go_of_the_file_for_a_waiting_import_while_twenty_sessions_poll(tmp_path, programme):
    db = tmp_path / "watched.duckdb"
    base_database(db, programme)
    # The dashboard's store keeps the file for a minute after its last use, unless someone waits.
    dashboard = Store(db, idle_release=60)
    stop, errors, polls = threading.Event(), [], []

    def session():
        while not stop.is_set():
            try:
                dashboard.data_version()
                dashboard.current_participants()
                polls.append(1)
            except Exception as exc:
                errors.append(repr(exc))
            time.sleep(0.1)

    sessions = [threading.Thread(target=session) for _ in range(20)]
    for s in sessions:
        s.start()
    extract = write(tmp_path, "nightly.csv", BASE.rstrip(b"\r\n") + b"\r\nP-3,EMC,,2024-05-01,haip\r\n")
    try:
        result = run_cli(db, "ingest", str(extract), "--trial", "PUMP", "--by", "nightly job")
        shown = len(dashboard.current_participants("PUMP"))
    finally:
        stop.set()
        for s in sessions:
            s.join()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stored as extract #2: 1 new" in result.stdout
    assert errors == [] and len(polls) > 20
    assert shown == 3


# ---- faults of the file or its disk ----------------------------------------------------------------


@pytest.fixture
def read_only_database(programme):
    """A database whose file and folder may not be written. Root may write any file, so as root
    the command runs without that power (the capability to override file permissions)."""
    folder = Path(tempfile.mkdtemp(prefix="pump-ro-"))
    db = folder / "pump.duckdb"
    base_database(db, programme)
    extract = write(folder, "week2.csv", BASE.rstrip(b"\r\n") + b"\r\nP-3,EMC,,2024-05-01,haip\r\n")
    db.chmod(0o444)
    folder.chmod(0o555)
    prefix = ("setpriv", "--inh-caps=-dac_override,-fowner", "--bounding-set=-dac_override,-fowner") if os.getuid() == 0 else ()
    yield db, extract, {"prefix": prefix, "env": {"PUMP_LOG": str(Path(tempfile.gettempdir()) / "pump-ro-errors.log")}}
    folder.chmod(0o755)
    shutil.rmtree(folder)


def test_a_read_only_database_is_still_read_and_a_change_exits_3_in_words(read_only_database):
    db, extract, as_user = read_only_database
    before = Store(db).table_counts()
    summary = run_cli(db, "summary", "--json", **as_user)
    assert summary.returncode == 0, summary.stderr
    assert {t["trial"]: t["enrolled"] for t in json.loads(summary.stdout)["trials"]}["PUMP"] == 2
    ingest = run_cli(db, "ingest", str(extract), "--trial", "PUMP", "--by", "job", "--json", **as_user)
    assert ingest.returncode == 3
    assert json.loads(ingest.stdout)["message"] == (
        f"could not run: the database {db} is read-only for this program (its file or folder may not be written); "
        "nothing was changed, and reading still works. Ask IT to make it writable, then try again"
    )
    assert "Traceback" not in ingest.stderr
    assert Store(db).table_counts() == before


def fill_the_disk_after(size: int):
    """In the child: the kernel refuses to write past `size` bytes in any file, as on a full disk."""

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write returns an error instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def test_a_full_disk_exits_3_saying_so_and_the_database_is_as_it_was(tmp_path, programme):
    db = tmp_path / "full.duckdb"
    store = base_database(db, programme)
    before = store.table_counts()
    big = write(tmp_path, "big.csv", template_csv(*[f"B-{i},EMC,,2024-03-05,haip" for i in range(30_000)]))
    env = {"PUMP_LOG": str(tmp_path / "errors.log")}
    result = run_cli(db, "ingest", str(big), "--trial", "PUMP", "--by", "job", "--accept-warnings", "--confirm-removals", "2",
                     "--json", env=env, preexec_fn=fill_the_disk_after(128 * 1024))
    assert result.returncode == 3, result.stdout + result.stderr
    assert json.loads(result.stdout)["message"] == (
        f"could not run: the disk that holds {db} is full, so the change could not be written; nothing was changed. "
        "Free some space on it (or ask IT to), then try again"
    )
    assert "Traceback" not in result.stderr
    after = Store(db)
    assert after.table_counts() == before
    assert sorted(after.current_participants("PUMP")["participant_id"]) == ["P-1", "P-2"]


def test_a_damaged_database_exits_3_in_words_and_is_left_as_it_was(tmp_path, programme):
    db = tmp_path / "damaged.duckdb"
    base_database(db, programme)
    with db.open("r+b") as f:  # a disk fault overwrites a block of the file
        f.seek(8192)
        f.write(b"\xff" * 4096)
    damaged = db.read_bytes()
    result = run_cli(db, "summary", "--json")
    assert result.returncode == 3
    assert json.loads(result.stdout)["message"].startswith(
        f"could not run: {db} is not a dashboard database (it is another kind of file, or damaged); nothing was changed."
    )
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == damaged


# ---- an import killed at any moment -----------------------------------------------------------------


def test_an_import_killed_at_any_moment_leaves_the_old_state_or_the_whole_new_extract(tmp_path, programme):
    base = tmp_path / "base.duckdb"
    base_database(base, programme)
    big = write(tmp_path, "big.csv", template_csv(*[f"B-{i},EMC,,2024-03-05,haip" for i in range(20_000)]))
    args = ["ingest", str(big), "--trial", "PUMP", "--by", "job", "--accept-warnings", "--confirm-removals", "2"]
    started = time.monotonic()
    full = run_cli(shutil.copy(base, tmp_path / "full.duckdb"), *args)
    duration = time.monotonic() - started
    assert full.returncode == 0, full.stderr
    moments = sorted(random.Random(20261123).uniform(0.1, 1.0) * duration for _ in range(5))
    for n, moment in enumerate([*moments, None]):
        db = Path(shutil.copy(base, tmp_path / f"killed{n}.duckdb"))
        run = subprocess.Popen([sys.executable, "-m", "dashboard", "--db", str(db), *args], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if moment is None:  # the moment it starts writing: its write-ahead log appears
            wal = Path(f"{db}.wal")
            while run.poll() is None and not wal.exists():
                time.sleep(0.005)
        else:
            time.sleep(moment)
        run.send_signal(signal.SIGKILL)
        run.wait()
        store = Store(db)
        extracts = store.extracts()
        assert len(extracts) in (1, 2)
        if len(extracts) == 2:
            assert len(store.extract_participants(2)) == 20_000
            assert len(store.current_participants("PUMP")) == 20_000
            assert store.audit_log()["action"].tolist().count("ingest") == 2
        else:
            assert sorted(store.current_participants("PUMP")["participant_id"]) == ["P-1", "P-2"]
            assert store.audit_log()["action"].tolist().count("ingest") == 1

