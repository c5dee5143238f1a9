"""The write path that cannot be gone round (issue 19): a redaction that leaves nothing behind,
not in any table nor in the bytes of the database file; a database used with sign-in that refuses
writes without its access file, with another one, or by a login that is not the --by named; writes
that are never stamped before what is stored, whatever PUMP_TODAY says; refusals for content in the
audit log; and a command line whose every mistake is a sentence (or one JSON object with --json).
Real DuckDB files; the command line as a nightly job runs it, in a process of its own."""

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from dashboard import access, service
from dashboard.access import load_access
from dashboard.ingest import check_file, commit
from dashboard.store import Refused, Store
from support import ROOT, TODAY, template_csv, with_trial

BOTH_ENGINES = True  # each test with the `store` fixture runs on DuckDB and on PostgreSQL (conftest)

DIRECTOR, COORDINATOR, OTHER = "k.director@example.org", "w.filipe@example.org", "a.devries@example.org"
LOGIN = service.current_user()


def access_text(login_of: str | None = COORDINATOR) -> str:
    """An access file in which this computer's login is `login_of`'s os_user."""
    entries = {DIRECTOR: 'role = "director"', COORDINATOR: 'role = "coordinator"\ntrials = ["PUMP"]\nsites = ["EMC", "NKI"]',
               OTHER: 'role = "coordinator"\ntrials = ["PUMP"]\nsites = ["NKI"]'}
    return "\n".join(f'[users."{email}"]\n{entry}\n' + (f'os_user = "{LOGIN}"\n' if email == login_of else "")
                     for email, entry in entries.items())


def cli(db, *args, env=None, cwd=ROOT):
    """`python -m dashboard` in a process of its own, as a nightly job runs it."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    environment = {k: v for k, v in environment.items() if v is not None}
    return subprocess.run([sys.executable, "-m", "dashboard", "--db", str(db), *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)


def export(tmp_path, name="pump.csv", *rows):
    path = tmp_path / name
    path.write_bytes(template_csv(*(rows or ("P-1,EMC,,2024-03-05,haip", "P-2,NKI,,2024-03-06,control"))))
    return path


@pytest.fixture
def no_access_file(monkeypatch, tmp_path):
    monkeypatch.delenv("PUMP_ACCESS", raising=False)
    monkeypatch.setattr(access, "DEFAULT_ACCESS_PATH", tmp_path / "no-access.toml")


# ---- 5. a redaction forgets everywhere ----------------------------------------------------------------

REASON = "Belt zelf terug na Zwolle-Qwertz vakantie"  # the text that should never have been stored
LATER_REASON = "Andere reden Xylofoon"
FILE_NAME = "export_Qwertzuiop_2026.csv"


def raw_bytes(store: Store, request) -> bytes:
    """The database file and its write-ahead log, byte for byte; on PostgreSQL the files of the database's
    tables in the server's data folder, after a checkpoint (its write-ahead log is the server's: rewrite_file)."""
    if store.path is not None:
        return b"".join(p.read_bytes() for p in (store.path, store.path.with_name(store.path.name + ".wal")) if p.exists())
    server = request.getfixturevalue("postgres_server")
    name = store.location.rsplit("/", 1)[1]
    with server.admin(name) as con:
        con.execute("CHECKPOINT")
        files = [r[0] for r in con.execute("SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                           "WHERE n.nspname = 'public' AND c.relkind IN ('r', 't', 'i')").fetchall() if r[0]]
    return b"".join(p.read_bytes() for f in files for p in sorted((server.data).glob(f + "*")) if p.is_file())


def upload_with_reason(store, programme, reason, status, name):
    """An extract whose P-1 carries `reason` (a trial that allows free text keeps it)."""
    checked = check_file(store, with_trial(programme, "PUMP", free_text=True), template_csv(f"P-1,EMC,,2024-03-05,haip,{status},{reason}", "P-2,EMC,,2024-03-06,haip,,",
                                                        header="participant_id,site,screened_on,enrolled_on,arm,status,withdrawal_reason"),
                         name, "PUMP", today=TODAY)
    assert checked.ok, [e.message for e in checked.errors]
    return commit(store, checked, "anna", accept_warnings=True)


def test_a_redaction_blanks_the_text_in_every_table_diff_and_byte_of_the_file(store, programme, no_access_file, request):
    first = upload_with_reason(store, programme, REASON, "withdrawn", FILE_NAME)
    # The next extract keeps the text with a new status (a second version holds it), the one after it changes the text (its diff holds it).
    second = upload_with_reason(store, programme, REASON, "follow_up", "second.csv")
    third = upload_with_reason(store, programme, LATER_REASON, "follow_up", "third.csv")
    assert REASON.encode() in raw_bytes(store, request) and FILE_NAME.encode() in raw_bytes(store, request)  # what a grep finds before
    assert REASON in json.loads(store.extracts().set_index("extract_id").loc[third, "diff"])["changed"]["P-1"]["withdrawal_reason"]["old"]

    detail = store.redact(first, ["withdrawal_reason", "file_name"], "director", "a name in the reason")

    with store.connect() as con:  # every text column of every table
        tables = con.execute("""SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()
                                AND upper(data_type) IN ('VARCHAR', 'JSON', 'CHARACTER VARYING', 'TEXT')""").fetchall()
        assert len(tables) > 20
        for table, column in tables:
            found = con.execute(f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?',
                                ["%Qwertz%"]).fetchone()[0]
            assert found == 0, (table, column)
    assert b"Qwertz" not in raw_bytes(store, request)  # the old bytes are gone from the file too
    assert detail["values_blanked"]["withdrawal_reason"] == 2 and detail["diffs_cleaned"] == 1  # the third's: its old value
    # The audit entry records counts and fields, never the text or the file name; the text that was
    # not redacted (the later reason) is still there, and so are the extracts.
    entry = service.audit_entries(store, action="redact")[0]["detail"]
    assert entry["fields"] == ["file_name", "withdrawal_reason"] and "Qwertz" not in json.dumps(entry)
    assert LATER_REASON in set(store.extract_participants(third)["withdrawal_reason"].dropna())
    assert store.extracts()["extract_id"].tolist() == [third, second, first]
    assert store.current_participants("PUMP")["participant_id"].tolist() == ["P-1", "P-2"]
    # Life goes on in the rewritten file: the next extract gets the next id.
    assert upload_with_reason(store, programme, "", "follow_up", "fourth.csv") == third + 1


def test_no_ingest_audit_entry_carries_the_file_name(store, programme, no_access_file):
    commit(store, check_file(store, programme, template_csv("P-1,EMC,,2024-03-05,haip"), FILE_NAME, "PUMP", today=TODAY), "anna")
    commit(store, check_file(store, programme, template_csv("P-1,EMC,,2024-03-05,haip"), FILE_NAME, "PUMP", today=TODAY), "anna")
    assert [e["action"] for e in service.audit_entries(store)[:2]] == ["reconfirm", "ingest"]
    assert "Qwertz" not in store.audit_log().to_string()


# ---- 6. no way round the grants ----------------------------------------------------------------------


@pytest.fixture
def signed_in(tmp_path, programme, monkeypatch, store):
    """A database used with an access file (it remembers it) in which this login is the coordinator."""
    path = tmp_path / "access.toml"
    path.write_text(access_text(), encoding="utf-8")
    monkeypatch.setenv("PUMP_ACCESS", str(path))
    commit(store, check_file(store, programme, template_csv("P-1,EMC,,2024-03-05,haip"), "a.csv", "PUMP", today=TODAY), COORDINATOR)
    return path


def test_a_signed_in_database_refuses_a_write_without_its_access_file_and_audits_it(store, programme, signed_in, no_access_file):
    before = store.table_counts()
    with pytest.raises(Refused, match="this database is used with sign-in: give the access file"):
        store.hold_meeting("anyone")
    assert store.table_counts() == {**before, "audit_log": before["audit_log"] + 1}
    entry = service.audit_entries(store)[0]
    assert (entry["actor"], entry["action"], entry["detail"]["action"]) == ("anyone", "refused", "meeting")


def test_a_file_of_ones_own_does_not_help_but_the_same_file_changed_is_a_recorded_change(store, programme, signed_in, tmp_path,
                                                                                          monkeypatch):
    own = tmp_path / "mine.toml"
    own.write_text('[users."eve@example.org"]\nrole = "director"\n', encoding="utf-8")
    monkeypatch.setenv("PUMP_ACCESS", str(own))
    with pytest.raises(Refused, match=f"used with the access file {signed_in.resolve()}, not {own.resolve()}"):
        store.hold_meeting("eve@example.org")
    monkeypatch.setenv("PUMP_ACCESS", str(signed_in))
    signed_in.write_text(access_text() + '\n[users."new@example.org"]\nrole = "viewer"\n', encoding="utf-8")
    store.hold_meeting(DIRECTOR)
    changes = [e["detail"] for e in service.audit_entries(store, action="access_file")]
    assert [c["changed"] for c in changes] == [True, False]
    assert changes[0]["sha256"] == load_access(signed_in).sha256


def test_the_command_line_refuses_the_signed_in_database_without_its_file_or_with_another(new_location, store, signed_in, tmp_path):
    for env in ({"PUMP_ACCESS": None}, {"PUMP_ACCESS": ""}, {"PUMP_ACCESS": str(tmp_path / "own.toml")}):
        if env["PUMP_ACCESS"]:
            (tmp_path / "own.toml").write_text(access_text(login_of=DIRECTOR), encoding="utf-8")
        result = cli(new_location, "retract", "1", "--by", DIRECTOR, "--reason", "mine now", env=env, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert "this database is used with" in result.stderr and "Traceback" not in result.stderr
    assert store.extracts()["status"].tolist() == ["current"]


def test_by_must_be_the_login_of_this_computer_and_the_audit_entry_records_both(new_location, store, programme, signed_in, tmp_path):
    result = cli(new_location, "ingest", str(export(tmp_path)), "--trial", "PUMP", "--by", DIRECTOR, "--json")
    assert result.returncode == 1 and f"--by {DIRECTOR} is not you" in json.loads(result.stdout)["message"]
    refused = service.audit_entries(store)[0]
    assert refused["action"] == "refused" and refused["detail"]["os_user"] == LOGIN
    # Without --by the login's own person uploads, and the audit entry says who ran it.
    result = cli(new_location, "ingest", str(export(tmp_path)), "--trial", "PUMP", "--json")
    assert result.returncode == 0, result.stdout
    stored = service.audit_entries(store, action="ingest")[0]
    assert stored["actor"] == COORDINATOR and (stored["detail"]["os_user"], stored["detail"]["os_user_is"]) == (LOGIN, COORDINATOR)


def test_a_director_runs_a_service_in_anothers_name_and_only_a_director_moves_the_database(new_location, store, signed_in, tmp_path):
    signed_in.write_text(access_text(login_of=DIRECTOR), encoding="utf-8")
    result = cli(new_location, "ingest", str(export(tmp_path)), "--trial", "PUMP", "--by", COORDINATOR)
    assert result.returncode == 0, result.stderr
    stored = service.audit_entries(store, action="ingest")[0]
    assert (stored["actor"], stored["detail"]["os_user_is"]) == (COORDINATOR, DIRECTOR)
    moved = tmp_path / "moved.toml"
    moved.write_text(access_text(login_of=DIRECTOR), encoding="utf-8")
    assert cli(new_location, "access", "adopt", "--by", COORDINATOR, env={"PUMP_ACCESS": str(moved)}).returncode == 1
    result = cli(new_location, "access", "adopt", "--by", DIRECTOR, "--json", env={"PUMP_ACCESS": str(moved)})
    assert result.returncode == 0 and json.loads(result.stdout)["path"] == str(moved.resolve())
    assert cli(new_location, "meeting", "hold", "--by", DIRECTOR, env={"PUMP_ACCESS": str(moved)}).returncode == 0
    assert cli(new_location, "meeting", "hold", "--by", DIRECTOR, env={"PUMP_ACCESS": str(signed_in)}).returncode == 1


# ---- 7. refusals for content are audited, without the content ------------------------------------------


def test_a_refusal_for_content_is_one_audit_entry_with_its_kind_and_counts(store, programme, no_access_file):
    bad = check_file(store, programme, template_csv("P-1,EMC,,31-02-2024,haip"), "bad.csv", "PUMP", today=TODAY)
    with pytest.raises(Refused, match="1 error"):
        commit(store, bad, "anna")
    with pytest.raises(Refused):
        store.hold_meeting("chair", "call Jan Jansen 06-12345678")
    entries = service.audit_entries(store, action="refused")
    assert [(e["detail"]["action"], e["detail"]["reason"]) for e in entries] == [("meeting", "identifier"), ("ingest", "validation errors")]
    assert entries[1]["detail"]["errors"] == 1
    assert "Jansen" not in json.dumps(entries) and "31-02" not in json.dumps(entries)


# ---- 8. time moves forward ---------------------------------------------------------------------------


def test_a_write_under_an_earlier_pump_today_is_stamped_after_what_is_stored(new_location, store, tmp_path, no_access_file):
    assert cli(new_location, "ingest", str(export(tmp_path)), "--trial", "PUMP", "--by", "anna").returncode == 0
    past = "2024-03-06"
    before = json.loads(cli(new_location, "summary", "--as-of", past, "--json").stdout)
    later = export(tmp_path, "later.csv", "P-1,EMC,,2024-03-05,haip", "P-2,NKI,,2024-03-06,control", "P-3,EMC,,2024-03-06,haip")
    result = cli(new_location, "ingest", str(later), "--trial", "PUMP", "--by", "anna", env={"PUMP_TODAY": past})
    assert result.returncode == 0, result.stderr
    assert cli(new_location, "meeting", "hold", "--by", "chair", env={"PUMP_TODAY": "2022-01-01"}).returncode == 0
    # The past view is what it was; the audit log, the extracts and the meeting run forward.
    assert json.loads(cli(new_location, "summary", "--as-of", past, "--json").stdout) == before
    stamps = store.audit_log().sort_values("audit_id")["logged_at"].tolist()
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    uploaded = store.extracts().sort_values("extract_id")["uploaded_at"].tolist()
    assert uploaded[1] > uploaded[0] and uploaded[1].date() >= TODAY
    assert store.meetings()["held_at"].iloc[0] > uploaded[1]


def test_the_demo_keeps_its_made_up_dates_and_its_audit_entries_say_demo(store, programme):
    from dashboard.demo import load_demo

    service.record_config(store, programme)  # the app records its configuration first, today
    load_demo(store, programme)
    assert store.extracts()["uploaded_at"].min() < dt.datetime(2021, 1, 1)
    entries = [e for e in service.audit_entries(store) if e["actor"] == service.DEMO_ACTOR]
    assert entries and all(e["detail"]["demo"] is True for e in entries)


# ---- 9. a command line that cannot hurt and says every mistake -----------------------------------------


def test_report_out_never_overwrites_without_force_never_follows_a_link_nor_climbs(new_location, store, tmp_path, no_access_file):
    existing = tmp_path / "pack.html"
    existing.write_text("the minutes", encoding="utf-8")
    result = cli(new_location, "report", "--out", str(existing))
    assert result.returncode == 1 and "exists; add --force" in result.stderr
    assert existing.read_text(encoding="utf-8") == "the minutes"
    target = tmp_path / "precious.txt"
    target.write_text("keep me", encoding="utf-8")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    for args in (["--out", str(link)], ["--out", str(link), "--force"]):
        result = cli(new_location, "report", *args)
        assert result.returncode == 1 and "symbolic link" in result.stderr
    assert target.read_text(encoding="utf-8") == "keep me" and link.is_symlink()
    (tmp_path / "sub").mkdir()
    result = cli(new_location, "report", "--out", "sub/../../escaped.html", cwd=tmp_path)
    assert result.returncode == 2 and "'..'" in result.stderr and not (tmp_path.parent / "escaped.html").exists()
    assert cli(new_location, "report", "--out", str(existing), "--force").returncode == 0
    assert "<html" in existing.read_text(encoding="utf-8").lower()


@pytest.mark.parametrize("args", [
    ["summary", "--as-of", "yesterday", "--json"],
    ["ingest", "--json"],
    ["forecast", "--target", "0", "--enrolled", "1", "--elapsed-days", "10", "--planned-days", "100", "--json"],
    ["ingest", "x.csv", "--trial", "PUMP", "--site", "XYZ", "--json"],
])
def test_every_bad_usage_with_json_is_one_json_object_and_exit_2(new_location, store, args, no_access_file):
    result = cli(new_location, *args)
    assert result.returncode == 2, result.stderr
    answer = json.loads(result.stdout)
    assert answer["ok"] is False and answer["errors"][0]["code"] == "bad_usage" and "Traceback" not in result.stderr


def test_an_unknown_site_and_a_bad_pump_today_are_sentences(new_location, store, tmp_path, no_access_file):
    result = cli(new_location, "ingest", str(export(tmp_path)), "--trial", "PUMP", "--site", "XYZ")
    assert result.returncode == 2 and "--site XYZ is not a site of the programme" in result.stderr
    for command in (["summary"], ["report", "--out", str(tmp_path / "r.html")]):
        result = cli(new_location, *command, env={"PUMP_TODAY": "21-11-2026"})
        assert result.returncode == 2 and result.stderr.strip() == "bad usage: PUMP_TODAY='21-11-2026' is not a date (YYYY-MM-DD)"
