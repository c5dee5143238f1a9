"""The store on a real PostgreSQL server (tests/postgres_server.py), where it differs from a DuckDB file:
the audit log refuses UPDATE, DELETE and TRUNCATE in the database itself, faults of the server, the
password and the database are sentences with exit 3 and never show the password, a database is created
only by init and another one behind the same address is refused, an import killed at any moment
leaves the old state or the whole new extract, and the hooks `store copy` uses. (Everything the two
engines share runs on both in the store's own test modules: BOTH_ENGINES.)"""

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

import psycopg
import pyarrow as pa
import pytest
from postgres_server import APP_PASSWORD, BIN, PostgresServer

from dashboard import service
from dashboard.ingest import check_file, commit
from dashboard.store import Store, StoreUnavailable
from dashboard.store.postgres_engine import bind, masked
from support import ROOT, TODAY, template_csv

BASE = template_csv("P-1,EMC,,2024-01-10,haip", "P-2,EMC,,2024-02-11,control")


def cli(db: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard", "--db", db, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, env={**os.environ, **(env or {})})


def base_database(url: str, programme) -> Store:
    store = Store(url, create=True)
    service.record_config(store, programme)
    checked = check_file(store, programme, BASE, "base.csv", "PUMP", today=TODAY)
    commit(store, checked, "coordinator", accept_warnings=True)
    return store


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


# ---- item 2: the audit log is append-only in the database itself -------------------------------------

def test_the_dashboards_role_cannot_update_delete_or_empty_the_audit_log_and_the_entry_stays(pg_url, postgres_server, programme):
    store = base_database(pg_url, programme)
    before = store.audit_log()
    entry = int(before["audit_id"].iloc[0])
    attempts = [f"UPDATE audit_log SET actor = 'someone else' WHERE audit_id = {entry}",
                f"DELETE FROM audit_log WHERE audit_id = {entry}", "TRUNCATE audit_log"]
    with psycopg.connect(pg_url, autocommit=True) as con:  # the role the dashboard connects as, the tables' owner
        for statement in attempts:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                con.execute(statement)
    # Even a role that may (the superuser) meets the trigger: history is not rewritten by a bug or an injection.
    with postgres_server.admin(database_name(pg_url)) as con:
        for statement in attempts:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="the audit log is append-only"):
                con.execute(statement)
    after = store.audit_log()
    assert after.to_dict("records") == before.to_dict("records")
    # Appending goes on as before: the next write's entry lands.
    store.record("coordinator", "note", {"what": "after the attempts"})
    assert len(store.audit_log()) == len(before) + 1


def test_a_redaction_still_works_on_postgresql_without_touching_an_audit_entry(pg_url, programme):
    store = base_database(pg_url, programme)
    entries = store.audit_log().to_dict("records")
    detail = store.redact(1, ["file_name"], "director", "a name in the file name")
    assert detail["values_blanked"] == {"file_name": 1}
    assert store.extracts()["file_name"].tolist() == ["(redacted) extract #1"]
    assert store.audit_log().to_dict("records")[1:] == entries  # the old entries as they were, one more on top


APP_ONLY_PASSWORD = "app-only-Secret-1618"


def role_owning_nothing(postgres_server, pg_url: str) -> tuple[str, subprocess.CompletedProcess]:
    """A login role of the database's own (roles are the server's: one per test), granted the tables' use by the
    owner with `store grant`, as the README's deployment does: its address and the grant's outcome."""
    name = database_name(pg_url)
    role = f"app_{name}"
    with postgres_server.admin() as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{APP_ONLY_PASSWORD}'")
        admin.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {role}')
    granted = cli(pg_url, "store", "grant", "--to", role, "--json")
    assert granted.returncode == 0 and json.loads(granted.stdout)["role"] == role, granted.stdout + granted.stderr
    return postgres_server.url(name, role, APP_ONLY_PASSWORD), granted


def test_a_dashboard_role_owning_nothing_cannot_undo_the_audit_logs_guard_and_a_redaction_waits_for_the_owner(
        pg_url, postgres_server, programme, tmp_path):
    """The deployment the README gives: init (and upgrades) as the tables' owner, `store grant --to` the dashboard's own
    role, and the dashboard, the command line and the pulls as that role. It works as ever; but even an injected
    statement cannot switch off or drop the audit log's trigger, grant itself the right back, or rewrite an entry; a
    redaction blanks the rows at once and says that the files keep the old values until the owner's `store rewrite`."""
    owner = base_database(pg_url, programme)
    app, granted = role_owning_nothing(postgres_server, pg_url)
    assert owner.audit_log()["action"].iloc[0] == "grant"
    role = urlsplit(app).username

    extract = tmp_path / "more.csv"
    extract.write_bytes(template_csv("P-1,EMC,,2024-01-10,haip", "P-2,EMC,,2024-02-11,control", "P-3,EMC,,2024-03-12,haip"))
    stored = cli(app, "ingest", str(extract), "--trial", "PUMP", "--by", "coordinator", "--json")
    assert stored.returncode == 0, stored.stdout + stored.stderr
    summary = json.loads(cli(app, "summary", "--json").stdout)
    assert next(t for t in summary["trials"] if t["trial"] == "PUMP")["enrolled"] == 3

    entries = owner.audit_log().to_dict("records")
    with psycopg.connect(app, autocommit=True) as con:
        for statement in ("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
                          "DROP TRIGGER audit_log_append_only ON audit_log", "UPDATE audit_log SET actor = 'someone else'",
                          "DELETE FROM audit_log", "TRUNCATE audit_log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute(statement)
        con.execute(f"GRANT UPDATE, DELETE ON audit_log TO {role}")  # a mere warning: it owns nothing to grant
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("DELETE FROM audit_log")
    assert owner.audit_log().to_dict("records") == entries

    redacted = cli(app, "redact", "2", "--fields", "file_name", "--by", "director", "--reason", "a name in it", "--json")
    answer = json.loads(redacted.stdout)
    assert redacted.returncode == 0 and answer["files_rewritten"] is False and "store rewrite" in answer["message"]
    assert Store(app).extracts().set_index("extract_id").loc[2, "file_name"] == "(redacted) extract #2"
    refused = cli(app, "store", "rewrite")
    assert refused.returncode == 1 and "only the role that owns the dashboard's tables" in refused.stderr
    rewritten = cli(pg_url, "store", "rewrite", "--json")
    assert rewritten.returncode == 0 and json.loads(rewritten.stdout)["ok"] is True
    assert owner.audit_log()["action"].iloc[0] == "rewrite"
    for secret in (APP_PASSWORD, APP_ONLY_PASSWORD):
        assert all(secret not in r.stdout + r.stderr for r in (granted, stored, redacted, refused, rewritten))


def test_an_upgrade_the_dashboards_role_may_not_make_is_a_sentence_naming_the_owners_init(pg_url, postgres_server, programme, tmp_path):
    base_database(pg_url, programme)
    app, _ = role_owning_nothing(postgres_server, pg_url)
    with psycopg.connect(pg_url, autocommit=True) as con:  # as if the tables were of the version before this one
        con.execute("DELETE FROM schema_version WHERE version = (SELECT max(version) FROM schema_version)")
    log = tmp_path / "errors.log"
    result = cli(app, "summary", env={"PUMP_LOG": str(log)})
    assert_said_without_secrets(result, "needs an upgrade for this version of the dashboard, which only the role that owns", log)
    assert "run init with the owner's address" in result.stderr and APP_ONLY_PASSWORD not in result.stderr


def test_store_grant_is_refused_in_a_sentence_for_a_role_that_does_not_exist_and_on_duckdb(pg_url, programme, tmp_path):
    base_database(pg_url, programme)
    missing = cli(pg_url, "store", "grant", "--to", "nobody_here")
    assert missing.returncode == 1 and "there is no role nobody_here" in missing.stderr and "Traceback" not in missing.stderr
    path = str(tmp_path / "laptop.duckdb")
    assert cli(path, "init").returncode == 0
    on_duckdb = json.loads(cli(path, "store", "grant", "--to", "pump_app", "--json").stdout)
    assert on_duckdb["ok"] is False and "a DuckDB file has no roles" in on_duckdb["message"]


# ---- item 1: faults in sentences, exit 3, never the password ------------------------------------------

WRONG_PASSWORD = "not-the-Secret-2718"


def assert_said_without_secrets(result: subprocess.CompletedProcess, sentence: str, log):
    assert result.returncode == 3, result.stderr
    assert sentence in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    for secret in (APP_PASSWORD, WRONG_PASSWORD):
        assert secret not in result.stdout + result.stderr
        assert not log.exists() or secret not in log.read_text()


def test_a_wrong_password_is_a_sentence_without_it_and_exit_3(postgres_server, pg_url, tmp_path):
    url = pg_url.replace(APP_PASSWORD, WRONG_PASSWORD)
    log = tmp_path / "errors.log"
    result = cli(url, "summary", env={"PUMP_LOG": str(log)})
    assert_said_without_secrets(result, "refused the password of role pump", log)
    assert "postgresql://pump:***@127.0.0.1" in result.stderr
    answer = json.loads(cli(url, "summary", "--json", env={"PUMP_LOG": str(log)}).stdout)  # one JSON object
    assert answer["ok"] is False and "refused the password" in json.dumps(answer) and WRONG_PASSWORD not in json.dumps(answer)


def test_a_missing_database_is_a_sentence_and_exit_3(postgres_server, tmp_path):
    url = postgres_server.url("no_such_database")
    log = tmp_path / "errors.log"
    assert_said_without_secrets(cli(url, "summary", env={"PUMP_LOG": str(log)}), "there is no database no_such_database", log)


def test_a_stopped_server_is_a_sentence_and_exit_3(tmp_path):
    server = PostgresServer().start()
    url = server.database()
    server.stop()
    log = tmp_path / "errors.log"
    started = time.monotonic()
    result = cli(url, "summary", env={"PUMP_LOG": str(log)})
    assert_said_without_secrets(result, f"the database server 127.0.0.1:{server.port} cannot be reached", log)
    assert time.monotonic() - started < 30


def test_a_server_that_stops_while_the_store_is_in_use_is_a_sentence_and_the_store_recovers_after_its_restart(programme):
    server = PostgresServer().start()
    try:
        url = server.database()
        store = base_database(url, programme)
        assert len(store.current_participants("PUMP")) == 2
        pg_ctl = str(BIN / "pg_ctl")
        server._run(pg_ctl, "stop", "-D", str(server.data), "-m", "fast")
        started = time.monotonic()
        for use in (lambda: store.current_participants("PUMP"), lambda: store.record("coordinator", "note", {"n": 1})):
            with pytest.raises(StoreUnavailable, match=f"the database server 127.0.0.1:{server.port} cannot be reached") as caught:
                use()
            assert APP_PASSWORD not in str(caught.value) and "nothing was changed" in str(caught.value)
        assert time.monotonic() - started < 40  # said within the pool's wait, not hanging
        server._run(pg_ctl, "start", "-w", "-D", str(server.data), "-l", str(server.folder / "server.log"), "-o",
                    f"-p {server.port} -k {server.folder} -c listen_addresses=127.0.0.1")
        assert len(store.current_participants("PUMP")) == 2  # back: the same database, used again
        store.record("coordinator", "note", {"n": 2})
        assert store.audit_log()["action"].tolist()[0] == "note"
    finally:
        server.stop()


def test_an_empty_database_is_no_dashboard_database_until_init_makes_it(pg_url, tmp_path):
    log = tmp_path / "errors.log"
    result = cli(pg_url, "summary", env={"PUMP_LOG": str(log)})
    assert_said_without_secrets(result, f"no database at {masked(pg_url)}: create it with init", log)
    made = cli(pg_url, "init")
    assert made.returncode == 0 and f"database {masked(pg_url)} is ready" in made.stdout and APP_PASSWORD not in made.stdout
    assert cli(pg_url, "summary").returncode == 0


def test_a_read_only_database_still_shows_the_programme_and_refuses_a_change_in_a_sentence(pg_url, programme, tmp_path):
    """A replica pointed at a standby (or a database IT made read-only): the summary reads as before; an import
    says the database is read-only (exit 3), never a traceback, and stores nothing."""
    base_database(pg_url, programme)
    name = database_name(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    try:
        shown = cli(pg_url, "summary", "--json")
        assert shown.returncode == 0, shown.stderr
        assert next(t for t in json.loads(shown.stdout)["trials"] if t["trial"] == "PUMP")["enrolled"] == 2
        extract = tmp_path / "more.csv"
        extract.write_bytes(template_csv("P-1,EMC,,2024-01-10,haip", "P-2,EMC,,2024-02-11,control", "P-3,EMC,,2024-03-12,haip"))
        log = tmp_path / "errors.log"
        refused = cli(pg_url, "ingest", str(extract), "--trial", "PUMP", "--by", "coordinator", env={"PUMP_LOG": str(log)})
        assert_said_without_secrets(refused, "is read-only for this program", log)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute("SET default_transaction_read_only = off")
            con.execute(f"ALTER DATABASE {name} RESET default_transaction_read_only")
    assert len(Store(pg_url).extracts()) == 1


def test_another_database_behind_the_same_address_is_refused_never_used(pg_url, postgres_server, programme):
    store = base_database(pg_url, programme)
    assert store.data_version() > 0
    name = database_name(pg_url)
    with postgres_server.admin() as con:  # IT restores another database under the same name while the dashboard runs
        con.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    with pytest.raises(StoreUnavailable, match=f"there is no database {name}"):
        store.data_version()
    postgres_server.database(name)
    assert cli(pg_url, "init").returncode == 0
    with pytest.raises(StoreUnavailable, match="is no longer the one the dashboard opened"):
        store.current_participants()
    with pytest.raises(StoreUnavailable, match="is no longer the one the dashboard opened"):
        store.record("coordinator", "note", {"what": "must not land"})
    with psycopg.connect(pg_url) as con:  # nothing was written into the other one
        assert con.execute("SELECT count(*) FROM audit_log WHERE action = 'note'").fetchone()[0] == 0


def test_our_placeholders_become_psycopgs_and_quoted_text_is_taken_as_it_is(pg_url, programme):
    assert bind("SELECT '50% $x ?' || $x, lower($y) WHERE s IN (SELECT unnest($sites))", {"x": "a", "y": None, "sites": ["EMC"]}) == (
        "SELECT '50%% $x ?' || %(x)s, lower(%(y)s) WHERE s IN (SELECT unnest(%(sites)s::text[]))", {"x": "a", "y": None, "sites": ["EMC"]})
    store = base_database(pg_url, programme)
    assert store.scalar("SELECT count(*) FROM audit_log WHERE actor LIKE '%ordinat%' AND action = ?", ["ingest"]) == 1
    assert store.scalar("SELECT '100% ? $sure'") == "100% ? $sure"


def test_the_password_is_masked_wherever_the_address_is_shown():
    assert masked("postgresql://pump:s3cr%40t@db.example.org:5433/pump") == "postgresql://pump:***@db.example.org:5433/pump"
    assert masked("postgres://pump@db/pump?password=s3cret&sslmode=require") == "postgres://pump@db/pump?password=%2A%2A%2A&sslmode=require"
    assert Store("postgresql://pump:s3cret@127.0.0.1:1/pump").location == "postgresql://pump:***@127.0.0.1:1/pump"


# ---- a commit lands whole or not at all ---------------------------------------------------------------

def test_an_import_killed_at_any_moment_leaves_the_old_state_or_the_whole_new_extract(postgres_server, programme, tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(template_csv(*[f"B-{i},EMC,,2024-03-05,haip" for i in range(20_000)]))
    args = ["ingest", str(big), "--trial", "PUMP", "--by", "job", "--accept-warnings", "--confirm-removals", "2"]
    full = postgres_server.database()
    base_database(full, programme)
    started = time.monotonic()
    assert cli(full, *args).returncode == 0
    duration = time.monotonic() - started
    outcomes = set()
    for moment in sorted(random.Random(20261205).uniform(0.2, 1.0) * duration for _ in range(4)):
        url = postgres_server.database()
        base_database(url, programme)
        run = subprocess.Popen([sys.executable, "-m", "dashboard", "--db", url, *args], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(moment)
        run.send_signal(signal.SIGKILL)
        run.wait()
        store = Store(url)
        extracts = store.extracts()
        assert len(extracts) in (1, 2)
        if len(extracts) == 2:
            assert len(store.extract_participants(int(extracts["extract_id"].max()))) == 20_000
            assert len(store.current_participants("PUMP")) == 20_000
            assert store.audit_log()["action"].tolist().count("ingest") == 2
        else:
            assert sorted(store.current_participants("PUMP")["participant_id"]) == ["P-1", "P-2"]
            assert store.audit_log()["action"].tolist().count("ingest") == 1
            assert store.table_counts()["participant_versions"] == 2
        outcomes.add(len(extracts))
    assert 1 in outcomes  # at least one kill fell inside the import (the moments span its run)


# ---- the hooks of `store copy` ------------------------------------------------------------------------

def test_the_copy_hooks_list_the_tables_copy_rows_in_and_continue_the_ids(pg_url, postgres_server, programme):
    source = base_database(pg_url, programme)
    target_url = postgres_server.database()
    target = Store(target_url, create=True)
    engine = target._engine
    with source.connect() as con:
        tables = engine.tables(con)
        rows = {t: source._engine.arrow(con, f"SELECT * FROM {t}") for t in tables}
    assert tables == sorted(tables) and {"schema_version", "audit_log", "extracts", "participant_versions"} <= set(tables)
    copied = ["extracts", "extract_sites", "participant_versions", "audit_log"]
    with target.transaction() as con:  # a new database: the dashboard's tables, empty
        assert all(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0 for table in copied)
        for table in copied[:-1]:
            engine.bulk_insert(con, table, rows[table])
        engine.bulk_insert(con, "audit_log", pa.Table.from_pylist([{"audit_id": 100, "logged_at": dt.datetime(2024, 1, 1),
                                                                    "actor": "a", "action": "note", "detail": '{"x": 1}'}]))
        engine.continue_ids(con, "extract_ids", 7)
    assert target.current_participants()["participant_id"].tolist() == ["P-1", "P-2"]
    assert json.loads(target.audit_log().set_index("audit_id").loc[100, "detail"]) == {"x": 1}
    checked = check_file(target, programme, BASE.rstrip(b"\r\n") + b"\r\nP-3,EMC,,2024-05-01,haip\r\n", "next.csv", "PUMP", today=TODAY)
    assert commit(target, checked, "coordinator", accept_warnings=True) == 7


# ---- on the page: the sentence, the traceback in the errors log, and recovery -------------------------

def rename_database(server: PostgresServer, old: str, new: str) -> None:
    """ALTER DATABASE … RENAME, once nobody is connected (the dashboard's pool reconnects: try again)."""
    for _ in range(100):
        with server.admin() as con:
            con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [old])
            try:
                con.execute(f'ALTER DATABASE "{old}" RENAME TO "{new}"')
                return
            except psycopg.errors.ObjectInUse:
                time.sleep(0.05)
    raise AssertionError(f"could not rename {old}")


def test_the_page_says_the_sentence_logs_the_traceback_and_recovers_when_the_database_is_back(
        monkeypatch, pg_url, postgres_server, programme, tmp_path):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard.textnorm import plain

    base_database(pg_url, programme)
    log = tmp_path / "errors.log"
    monkeypatch.setenv("PUMP_DB", pg_url)
    monkeypatch.setenv("PUMP_LOG", str(log))
    monkeypatch.setenv("PUMP_DEMO", "1")  # the laptop default: a server database is never seeded all the same
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.session_state["role"] = "director"
    at.run()
    assert not at.exception and not at.error
    name = database_name(pg_url)
    rename_database(postgres_server, name, name + "_aside")  # IT moves it away while the dashboard runs
    st.cache_data.clear()
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("**The dashboard cannot use its database.** ")
    assert plain(f"there is no database {name}") in at.error[0].value and APP_PASSWORD not in at.error[0].value
    rename_database(postgres_server, name + "_aside", name)
    at.run()
    assert not at.exception and not at.error
    text = log.read_text()
    assert "the page met a fault of its database" in text and "Traceback" in text and APP_PASSWORD not in text
