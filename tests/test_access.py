"""Grants held in the write path (DESIGN.md 6.1): whatever the caller (a direct call, the
command line), an action outside the grant is refused with a sentence, changes nothing
but the one audit row that records the refusal, and exits 1 on the command line."""

import json
import re
from pathlib import Path

import pytest

from dashboard import access, service
from dashboard.access import AccessError, Grant, load_access, pages_for, refusal
from dashboard.cli import main
from dashboard.ingest import check_file, commit
from dashboard.store import Refused
from support import ROOT, TODAY, template_csv

DIRECTOR, COORDINATOR, OTHER_COORDINATOR, VIEWER = (
    "k.director@example.org", "w.filipe@example.org", "a.devries@example.org", "chair@example.org")
STRANGER = "someone@elsewhere.example"

ACCESS_FILE = f"""
contact = "the programme office"
[users."{DIRECTOR}"]
role = "director"
[users."{COORDINATOR}"]
role = "coordinator"
trials = ["PUMP"]
sites = ["EMC"]
[users."{OTHER_COORDINATOR}"]
role = "coordinator"
trials = ["PUMP"]
sites = ["NKI"]
[users."{VIEWER}"]
role = "viewer"
"""

EMC_ONLY = template_csv("P-1,EMC,,2024-03-05,haip", "P-2,EMC,,2024-03-06,control")
NKI_ONLY = template_csv("P-7,NKI,,2024-04-05,haip")
BOTH_SITES = template_csv("P-1,EMC,,2024-03-05,haip", "P-9,NKI,,2024-03-06,control")


@pytest.fixture
def grants(tmp_path, monkeypatch, programme, store):
    """An access file in use, named by $PUMP_ACCESS, as a deployment has it: the database has been
    used with it (it remembers the file), and this computer's login is a director's os_user."""
    path = tmp_path / "access.toml"
    path.write_text(ACCESS_FILE.replace('role = "director"', f'role = "director"\nos_user = "{service.current_user()}"', 1),
                    encoding="utf-8")
    monkeypatch.setenv("PUMP_ACCESS", str(path))
    grants = load_access(path, programme)
    assert store.bind_access(grants) is None
    return grants


def check(store, programme, data=EMC_ONLY, trial="PUMP", name="pump.csv"):
    checked = check_file(store, programme, data, name, trial, today=TODAY)
    assert checked.ok, [e.message for e in checked.errors]
    return checked


def assert_refused_and_audited(store, before, call, message, actor, action):
    """The call is refused with `message`; the only change is one audit row saying so."""
    with pytest.raises(Refused, match=message):
        call()
    after = store.table_counts()
    assert after == {**before, "audit_log": before["audit_log"] + 1}
    row = store.audit_log().iloc[0]
    detail = json.loads(row["detail"])
    assert (row["actor"], row["action"], detail["action"]) == (actor, "refused", action)
    assert re.search(message, detail["reason"])
    return row


# ---- the pure rules ---------------------------------------------------------------------------


def test_each_role_opens_its_own_pages_and_nobody_without_a_grant_opens_any():
    assert pages_for(None) == []
    assert "audit" in pages_for(Grant(DIRECTOR, "director")) and "upload" in pages_for(Grant(DIRECTOR, "director"))
    assert pages_for(Grant(COORDINATOR, "coordinator", ("PUMP",), ("EMC",)))[0] == "upload"
    viewer = pages_for(Grant(VIEWER, "viewer"))
    assert viewer[0] == "meeting" and not {"upload", "extracts", "audit"} & set(viewer)


def test_the_rule_names_what_is_missing():
    coordinator = Grant(COORDINATOR, "coordinator", ("PUMP",), ("EMC",))
    assert refusal(coordinator, "ingest", "PUMP", ["EMC"]) is None
    assert "not for PUMP-2" in refusal(coordinator, "ingest", "PUMP-2", ["EMC"])
    assert "this extract holds site NKI" in refusal(coordinator, "ingest", "PUMP", ["EMC", "NKI"])
    assert refusal(coordinator, "retract", extract_uploaded_by=COORDINATOR.upper()) is None
    assert "only their own extracts" in refusal(coordinator, "retract", extract_uploaded_by=OTHER_COORDINATOR)
    assert "only a programme director" in refusal(coordinator, "meeting")
    assert "viewer" in refusal(Grant(VIEWER, "viewer"), "ingest", "PUMP", ["EMC"])
    assert "not in the access file" in refusal(None, "ingest", who=STRANGER)
    assert refusal(Grant(DIRECTOR, "director"), "redact") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[users."x@example.org"]\nrole = "admin"\n', r'users\."x@example\.org"\.role: \'admin\' is not one of director, coordinator, viewer'),
        ('[users."x@example.org"]\nrole = "coordinator"\ntrials = ["PUMP"]\n', r'users\."x@example\.org"\.sites: a coordinator needs'),
        ('[users."x@example.org"]\nrole = "coordinator"\ntrials = ["PUMP-3"]\nsites = ["EMC"]\n', r"'PUMP-3' is not a trial code"),
        ('[users."x@example.org"]\nrole = "coordinator"\ntrials = ["PUMP"]\nsites = ["AMC"]\n', r"'AMC' is not a site code"),
        ('[users."x@example.org"]\nrole = "viewer"\nsite = ["EMC"]\n', r"unknown setting site"),
        ('[users."x@example.org"]\nrole = "viewer"\n[users."X@Example.org"]\nrole = "director"\n', r"the same address"),
        ('[users."not-an-address"]\nrole = "viewer"\n', r"e-mail address"),
        ('[users."x@example.org"\nrole = "viewer"\n', r"not valid TOML"),
        ('[users."x@example.org"]\nrole = "viewer"\nos_user = " x"\n', r'users\."x@example\.org"\.os_user: must be the person\'s login'),
        ('[users."x@example.org"]\nrole = "viewer"\nos_user = "x"\n[users."y@example.org"]\nrole = "director"\nos_user = "x"\n',
         r"'x' is already the os_user of users\.\"x@example\.org\" \(one login, one person\)"),
        ('session_hours = 0\n', r"session_hours must be a number of hours"),
        ('session_hours = "12"\n', r"session_hours must be a number of hours"),
    ],
)
def test_a_mistake_in_the_access_file_names_the_entry(tmp_path, programme, text, message):
    path = tmp_path / "access.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AccessError, match=message):
        load_access(path, programme)


def test_on_the_command_line_by_must_be_the_login_of_this_computer_unless_a_director_runs_a_service():
    grants = access.parse_access({"users": {COORDINATOR: {"role": "coordinator", "trials": ["PUMP"], "sites": ["EMC"], "os_user": "wf"},
                                            DIRECTOR: {"role": "director", "os_user": "svc-pump"}}})
    assert access.command_line_refusal(grants, "wf", COORDINATOR.upper()) is None
    assert f"--by {DIRECTOR} is not you: the login 'wf' is {COORDINATOR}" in access.command_line_refusal(grants, "wf", DIRECTOR)
    assert access.command_line_refusal(grants, "svc-pump", COORDINATOR) is None  # a director's service, in another's name
    assert "the login 'eve' of this computer is no os_user" in access.command_line_refusal(grants, "eve", COORDINATOR)


def test_a_sign_in_is_over_when_signed_out_or_older_than_the_session_lifetime():
    assert access.sign_in_over(1000, 1000 + 11 * 3600, 12, signed_out=False) is None
    assert access.sign_in_over(1000, 1000 + 13 * 3600, 12, signed_out=False) == "the sign-in is older than 12 hours"
    assert access.sign_in_over(1000, 1001, 12, signed_out=True) == "this sign-in was signed out"
    assert access.sign_in_over(None, 1001, 12, signed_out=False) == "the sign-in does not say when it was made"


def test_the_committed_example_is_a_valid_access_file(programme):
    example = load_access(ROOT / "data" / "access.example.toml", programme)
    assert {g.role for g in example.users.values()} == {"director", "coordinator", "viewer"}


def test_a_missing_file_named_by_pump_access_is_a_mistake_not_local_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("PUMP_ACCESS", str(tmp_path / "nowhere.toml"))
    with pytest.raises(AccessError, match="does not exist"):
        access.active()


# ---- the write path, called directly (no access object passed: the file in use decides) ------


def test_a_coordinator_uploads_for_their_own_trial_and_site(store, programme, grants):
    extract_id = commit(store, check(store, programme), COORDINATOR)
    assert store.extracts().set_index("extract_id").loc[extract_id, "uploaded_by"] == COORDINATOR


def test_an_extract_for_a_trial_not_granted_is_refused_and_audited(store, programme, grants):
    checked = check(store, programme, template_csv("P-1,EMC,,2024-03-05,haip"), trial="PUMP-2")
    before = store.table_counts()
    row = assert_refused_and_audited(store, before, lambda: commit(store, checked, COORDINATOR),
                                     "may upload for PUMP only, not for PUMP-2", COORDINATOR, "ingest")
    assert row["trial"] == "PUMP-2"


def test_an_extract_for_a_site_not_granted_is_refused_and_audited(store, programme, grants):
    checked = check(store, programme, BOTH_SITES)
    before = store.table_counts()
    assert_refused_and_audited(store, before, lambda: commit(store, checked, COORDINATOR),
                               "may upload for site EMC only; this extract holds site NKI", COORDINATOR, "ingest")


def test_the_store_refuses_even_when_the_caller_skips_the_upload_checks(store, programme, grants):
    """add_extract itself, not only ingest.commit, holds the grant."""
    checked = check(store, programme, NKI_ONLY)
    before = store.table_counts()
    extract = {"trial": "PUMP", "file_name": "x.csv", "sha256": checked.sha256, "format": "template", "encoding": "utf-8",
               "delimiter": ",", "row_count": 1, "participant_count": 1, "warnings_accepted": 0, "diff": None}
    assert_refused_and_audited(store, before, lambda: store.add_extract(extract, ["NKI"], checked.participants, COORDINATOR),
                               "may upload for site EMC only", COORDINATOR, "ingest")


def test_an_upload_by_someone_not_in_the_access_file_is_refused_and_audited(store, programme, grants):
    checked = check(store, programme)
    before = store.table_counts()
    assert_refused_and_audited(store, before, lambda: commit(store, checked, STRANGER),
                               f"{re.escape(STRANGER)} is not in the access file", STRANGER, "ingest")


def test_a_viewer_may_not_upload_retract_or_hold_a_meeting(store, programme, grants):
    extract_id = commit(store, check(store, programme), COORDINATOR)
    checked = check(store, programme, template_csv("P-1,EMC,,2024-03-05,haip"), name="again.csv")
    for call, action in (
        (lambda: commit(store, checked, VIEWER), "ingest"),
        (lambda: store.retract(extract_id, VIEWER, "wrong file"), "retract"),
        (lambda: store.hold_meeting(VIEWER, "weekly"), "meeting"),
        (lambda: service.hold_meeting(store, VIEWER, "weekly"), "meeting"),
    ):
        before = store.table_counts()
        assert_refused_and_audited(store, before, call, "steering committee \\(viewer\\) grant", VIEWER, action)


def test_a_coordinator_retracts_their_own_extract_but_not_someone_elses(store, programme, grants):
    mine = commit(store, check(store, programme), COORDINATOR)
    theirs = commit(store, check(store, programme, NKI_ONLY, name="nki.csv"), OTHER_COORDINATOR)
    before = store.table_counts()
    row = assert_refused_and_audited(store, before, lambda: store.retract(theirs, COORDINATOR, "not mine"),
                                     f"this one was uploaded by {re.escape(OTHER_COORDINATOR)}", COORDINATOR, "retract")
    assert row["extract_id"] == theirs and row["trial"] == "PUMP"
    assert store.extracts().set_index("extract_id").loc[theirs, "status"] == "current"
    store.retract(mine, COORDINATOR, "exported from the test environment")
    assert store.extracts().set_index("extract_id").loc[mine, "status"] == "retracted"


def test_a_director_retracts_anyones_extract_and_holds_the_meeting(store, programme, grants):
    theirs = commit(store, check(store, programme), COORDINATOR)
    store.retract(theirs, DIRECTOR, "wrong export")
    assert store.hold_meeting(DIRECTOR, "weekly")["meeting_id"] == 1


def test_a_coordinator_may_not_hold_a_meeting_or_blank_stored_text(store, programme, grants):
    extract_id = commit(store, check(store, programme), COORDINATOR)
    for call, action in (
        (lambda: store.hold_meeting(COORDINATOR), "meeting"),
        (lambda: store.redact(extract_id, ["file_name"], COORDINATOR, "a name in it"), "redact"),
    ):
        before = store.table_counts()
        assert_refused_and_audited(store, before, call, "only a programme director may", COORDINATOR, action)


def test_reconfirming_an_extract_is_an_upload_and_needs_the_grant(store, programme, grants):
    commit(store, check(store, programme), COORDINATOR)
    again = check(store, programme)
    assert again.already_loaded is not None
    before = store.table_counts()
    assert_refused_and_audited(store, before, lambda: commit(store, again, OTHER_COORDINATOR),
                               "may upload for site NKI only; this extract holds site EMC", OTHER_COORDINATOR, "ingest")


def test_local_mode_without_an_access_file_checks_nothing(store, programme, monkeypatch, tmp_path):
    monkeypatch.delenv("PUMP_ACCESS", raising=False)
    monkeypatch.setattr(access, "DEFAULT_ACCESS_PATH", tmp_path / "no-access.toml")
    extract_id = commit(store, check(store, programme), "anyone")
    store.retract(extract_id, "someone else", "wrong file")
    assert store.hold_meeting("anyone")["meeting_id"] == 1


# ---- the audit log is append-only -----------------------------------------------------------------


def test_no_store_code_updates_or_deletes_an_audit_row():
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "dashboard" / "store").glob("*.py")))
    changes = re.findall(r"(UPDATE|DELETE\s+FROM|TRUNCATE|DROP\s+TABLE|ALTER\s+TABLE)\s+(\w+)", source, flags=re.IGNORECASE)
    assert changes and not [c for c in changes if c[1].lower() == "audit_log"]


def test_every_write_leaves_the_earlier_audit_rows_as_they_were(store, programme, grants):
    extract_id = commit(store, check(store, programme), COORDINATOR)
    earlier = store.audit_log().sort_values("audit_id").reset_index(drop=True)
    store.retract(extract_id, DIRECTOR, "wrong export")
    store.redact(extract_id, ["file_name"], DIRECTOR, "a name in it")
    store.hold_meeting(DIRECTOR, "weekly")
    with pytest.raises(Refused):
        store.hold_meeting(VIEWER)
    service.record_sign_in(store, VIEWER, "viewer", "login-1")
    later = store.audit_log().sort_values("audit_id").reset_index(drop=True)
    assert len(later) == len(earlier) + 5
    assert later.iloc[: len(earlier)].astype(str).values.tolist() == earlier.astype(str).values.tolist()


def test_a_sign_in_is_audited_once_per_login_and_a_stranger_as_refused(store):
    assert service.record_sign_in(store, VIEWER, "viewer", "1700000000")
    assert not service.record_sign_in(store, VIEWER, "viewer", "1700000000")  # a reload
    assert service.record_sign_in(store, STRANGER, None, "1700000001")
    entries = service.audit_entries(store)
    assert [(e["actor"], e["action"]) for e in entries[:2]] == [(STRANGER, "refused"), (VIEWER, "sign_in")]
    assert entries[0]["detail"]["action"] == "sign_in"


# ---- the command line ------------------------------------------------------------------------------


def run(db, *args, capsys):
    code = main(["--db", str(db), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_command_line_refuses_an_unknown_by_with_exit_1_and_audits_it(store, programme, grants, tmp_path, capsys):
    export = tmp_path / "pump.csv"
    export.write_bytes(EMC_ONLY)
    run(store.path, "init", capsys=capsys)
    before = store.table_counts()
    code, out, _ = run(store.path, "ingest", str(export), "--trial", "PUMP", "--by", STRANGER, "--json", capsys=capsys)
    assert code == 1
    assert f"{STRANGER} is not in the access file" in json.loads(out)["message"]
    assert store.table_counts() == {**before, "audit_log": before["audit_log"] + 1}
    code, out, _ = run(store.path, "audit", "--json", "--action", "refused", capsys=capsys)
    [entry] = json.loads(out)
    assert (entry["actor"], entry["trial"], entry["detail"]["action"]) == (STRANGER, "PUMP", "ingest")


def test_the_command_line_refuses_a_coordinators_retraction_of_anothers_extract(store, programme, grants, capsys):
    theirs = commit(store, check(store, programme, NKI_ONLY), OTHER_COORDINATOR)
    run(store.path, "init", capsys=capsys)  # the configuration is audited on first use
    before = store.table_counts()
    code, _, err = run(store.path, "retract", str(theirs), "--by", COORDINATOR, "--reason", "mine?", capsys=capsys)
    assert code == 1 and "retracts only their own extracts" in err
    assert store.table_counts() == {**before, "audit_log": before["audit_log"] + 1}
    code, _, err = run(store.path, "meeting", "hold", "--by", VIEWER, capsys=capsys)
    assert code == 1 and "viewer" in err


def test_the_audit_command_filters_by_actor_action_and_day(store, programme, grants, capsys):
    commit(store, check(store, programme), COORDINATOR)
    store.hold_meeting(DIRECTOR, "weekly")
    code, out, _ = run(store.path, "audit", "--json", "--actor", COORDINATOR.upper(), capsys=capsys)
    assert code == 0 and [e["action"] for e in json.loads(out)] == ["ingest"]
    code, out, _ = run(store.path, "audit", "--json", "--since", "2100-01-01", capsys=capsys)
    assert json.loads(out) == []
    code, out, _ = run(store.path, "audit", capsys=capsys)
    assert [line.split()[2:4] for line in out.splitlines()][:2] == [["system", "config_loaded"], [DIRECTOR, "meeting"]]


def test_a_mistake_in_the_access_file_stops_the_command_line_naming_the_entry(store, tmp_path, monkeypatch, capsys):
    path = tmp_path / "access.toml"
    path.write_text('[users."x@example.org"]\nrole = "boss"\n', encoding="utf-8")
    monkeypatch.setenv("PUMP_ACCESS", str(path))
    code, _, err = run(store.path, "extracts", capsys=capsys)
    assert code == 2 and 'users."x@example.org".role' in err


def test_the_real_access_file_and_secrets_are_never_committed():
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "data/access.toml" in ignored and ".streamlit/secrets.toml" in ignored
    assert Path(ROOT / "data" / "access.example.toml").exists()
