"""`pull`: Castor and REDCap sources fetched from a real local server (tests/edc_server.py)
and sent through the upload's own checks and write path. Every fault ends in one sentence
naming the source, stores nothing, and the next source is still pulled; no secret is ever
in a log line, a message or the audit log."""

import json
import logging
import os
import subprocess
import sys

import pytest
import yaml

from dashboard.config import ConfigError, load_programme
from dashboard.pull import decide, pull_all
from dashboard.sources.secrets import source_secrets
from dashboard.store import Store
from edc_server import CLIENT_ID, CLIENT_SECRET, EDC, REDCAP_TOKEN, STUDY
from support import ROOT

SECRETS = (CLIENT_SECRET, REDCAP_TOKEN, CLIENT_ID)


def programme_with_sources(tmp_path, url, **bounds):
    data = yaml.safe_load((ROOT / "data" / "programme.yaml").read_text())
    limits = {"timeout_seconds": 0.5, "retries": 2, "max_wait_seconds": 1, **bounds}
    sites = data["trials"]["PUMP"]["sites"]
    sites["EMC"]["source"] = {"name": "pump-emc", "castor": {"study_id": STUDY, "site": "EMC", "api": url}, **limits}
    sites["NKI"]["source"] = {"name": "pump-nki", "redcap": {"url": f"{url}/redcap/api/", "dag": "nki"}, **limits}
    # Castor numbers the participants by site (110001): six digits, refused as a hospital record number
    # (issue 19) unless the trial's study-number format says so, as the trial office does here.
    data["trials"]["PUMP"]["participant_id_pattern"] = r"11[0-9]{4}|(?![0-9]+$).+"
    path = tmp_path / "programme.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_programme(path), path


ENV = {"PUMP_SOURCE_PUMP_EMC_CLIENT_ID": CLIENT_ID, "PUMP_SOURCE_PUMP_EMC_CLIENT_SECRET": CLIENT_SECRET,
       "PUMP_SOURCE_PUMP_NKI_TOKEN": REDCAP_TOKEN}


@pytest.fixture
def edc():
    with EDC() as server:
        yield server


@pytest.fixture
def setup(tmp_path, edc):
    programme, path = programme_with_sources(tmp_path, edc.url)
    return programme, path


def pull(store, programme, env=ENV, **kw):
    return {o.source: o for o in pull_all(store, programme, environ=env, secrets_path=store.path.parent / "none.toml", **kw)}


def pull_audit(store):
    log = store.audit_log(action="pull")
    return [json.loads(d) for d in log["detail"]]


def no_secret_anywhere(store, caplog, *texts):
    everything = caplog.text + "".join(texts) + store.audit_log().to_json(date_format="iso")
    for secret in SECRETS[:2]:
        assert secret not in everything


def test_a_clean_pull_is_stored_as_an_upload_is_and_an_unchanged_one_confirms_it(store, setup, caplog):
    programme, _ = setup
    caplog.set_level(logging.DEBUG)
    first = pull(store, programme)
    assert first["pump-emc"].outcome == "stored" and first["pump-nki"].outcome == "stored", first
    extracts = store.extracts().set_index("extract_id")
    assert set(extracts["uploaded_by"]) == {"pump-pull@service"}
    assert set(extracts["format"]) == {"castor", "redcap"}
    current = store.current_participants("PUMP").set_index("participant_id")
    # Castor's EMC participants only (not its NKI one), paged over 3 pages; REDCap's nki group, folded events.
    assert sorted(current.index) == ["110001", "110002", "110003", "110004", "110005", "NKI-001", "NKI-002"]
    assert current.loc["110001", "arm"] == "haip" and current.loc["110002", "arm"] == "control"
    assert current.loc["110003", "enrolled_on"].date().isoformat() == "2020-03-13"
    assert current.loc["110001", "status"] == "on_treatment"  # a study variable named like the field
    assert current.loc["NKI-001", "enrolled_on"].date().isoformat() == "2020-03-02"
    assert first["pump-emc"].diff == {"new": 5, "changed": 0, "missing": 0, "unchanged": 0}
    again = pull(store, programme)
    assert again["pump-emc"].outcome == "confirmed" and again["pump-nki"].outcome == "confirmed"
    assert len(store.extracts()) == 2  # no copy stored
    assert store.table_counts()["extract_confirmations"] == 2
    outcomes = [(d["source"], d["site"], d["outcome"]) for d in pull_audit(store)]
    assert sorted(outcomes) == sorted([("pump-emc", "EMC", "stored"), ("pump-nki", "NKI", "stored"),
                                       ("pump-emc", "EMC", "confirmed"), ("pump-nki", "NKI", "confirmed")])
    no_secret_anywhere(store, caplog)


def failed_alone(store, programme, edc, caplog, source="pump-emc", env=ENV):
    """Pull with a fault at one source: it fails in one sentence naming it, the database holds
    nothing more than the audit entry, and the other source is still stored."""
    caplog.set_level(logging.DEBUG)
    before = store.table_counts()
    outcomes = pull(store, programme, env=env)
    failed = outcomes[source]
    other = outcomes["pump-nki" if source == "pump-emc" else "pump-emc"]
    assert failed.outcome == "failed" and failed.message.startswith(source)
    assert other.outcome == "stored"
    after = store.table_counts()
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]}.keys() <= {
        "extracts", "extract_sites", "participant_versions", "audit_log"}
    assert set(store.extracts()["format"]) == {"redcap" if source == "pump-emc" else "castor"}
    assert [d["outcome"] for d in pull_audit(store) if d["source"] == source] == ["failed"]
    no_secret_anywhere(store, caplog, failed.message)
    return failed.message


def test_wrong_credentials(store, setup, edc, caplog):
    edc.faults.add("bad_credentials")
    message = failed_alone(store, setup[0], edc, caplog)
    assert "refused the client id and secret" in message and "PUMP_SOURCE_PUMP_EMC_CLIENT_SECRET" in message


def test_no_credentials_says_where_to_put_them(store, setup, edc, caplog):
    env = {k: v for k, v in ENV.items() if "EMC" not in k}
    message = failed_alone(store, setup[0], edc, caplog, env=env)
    assert "no credentials" in message and "[sources.pump-emc]" in message


def test_an_expired_token_is_renewed_once(store, setup, edc):
    edc.faults.add("expired_once")
    outcomes = pull(store, setup[0])
    assert outcomes["pump-emc"].outcome == "stored"
    assert edc.tokens_issued == 2 and outcomes["pump-emc"].counts["token_renewals"] == 1


def test_a_rate_limit_is_waited_out_within_the_bound(store, setup, edc):
    edc.faults.add("rate_limited_once")
    outcomes = pull(store, setup[0])
    assert outcomes["pump-emc"].outcome == "stored"
    assert outcomes["pump-emc"].counts["rate_limit_waits"] == 1 and outcomes["pump-emc"].counts["waited_seconds"] == 0.2


def test_a_spent_rate_limit_window_is_waited_out_before_the_next_call(store, setup, edc):
    edc.faults.add("window_spent")  # X-RateLimit-Remaining: 0, X-RateLimit-Reset: 0.3 on a success
    outcomes = pull(store, setup[0])
    assert outcomes["pump-emc"].outcome == "stored"
    assert outcomes["pump-emc"].counts["rate_limit_waits"] == 1 and outcomes["pump-emc"].counts["waited_seconds"] == 0.3


def test_a_castor_site_that_the_study_does_not_have(store, tmp_path, edc, caplog):
    programme_with_sources(tmp_path, edc.url)
    data = yaml.safe_load((tmp_path / "programme.yaml").read_text())
    data["trials"]["PUMP"]["sites"]["EMC"]["source"]["castor"]["site"] = "ROT"
    (tmp_path / "programme.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    message = failed_alone(store, load_programme(tmp_path / "programme.yaml"), edc, caplog)
    assert "the study has no site 'ROT' (it has EMC, NKI)" in message


def test_a_rate_limit_longer_than_the_bound_fails_in_words(store, setup, edc, caplog):
    edc.faults.add("rate_limited_once")
    edc.retry_after = "120"
    message = failed_alone(store, setup[0], edc, caplog)
    assert "asks to wait 120 s, longer than this source's limit of 1 s" in message


def test_server_errors_are_retried_a_bounded_number_of_times(store, setup, edc, caplog):
    edc.faults.add("5xx")
    message = failed_alone(store, setup[0], edc, caplog)
    assert "server error (502), also after 2 retries" in message
    assert sum(c.startswith(f"GET /api/study/{STUDY} ") for c in edc.calls) == 3


def test_a_time_out_is_retried_then_fails_in_words(store, setup, edc, caplog):
    edc.faults.add("slow")
    message = failed_alone(store, setup[0], edc, caplog)
    assert "did not answer within 0.5 s, also after 2 retries" in message


def test_a_missing_page_fails_in_words(store, setup, edc, caplog):
    edc.faults.add("page_missing")
    message = failed_alone(store, setup[0], edc, caplog)
    assert "page 2 of the participants is missing (Castor said it has 3 pages)" in message


def test_malformed_json_fails_in_words(store, setup, edc, caplog):
    edc.faults.add("malformed")
    message = failed_alone(store, setup[0], edc, caplog)
    assert "is not the JSON it should be" in message


def test_a_study_that_does_not_exist(store, setup, edc, caplog):
    edc.faults.add("study_missing")
    message = failed_alone(store, setup[0], edc, caplog)
    assert f"no study {STUDY!r}" in message and "study_id in data/programme.yaml" in message


def test_a_data_access_group_that_does_not_exist(store, tmp_path, edc, caplog):
    edc.dags = [d for d in edc.dags if d["unique_group_name"] != "nki"]
    programme, _ = programme_with_sources(tmp_path, edc.url)
    message = failed_alone(store, programme, edc, caplog, source="pump-nki")
    assert "no data access group 'nki' (it has emc)" in message


def test_a_wrong_redcap_token(store, setup, edc, caplog):
    env = {**ENV, "PUMP_SOURCE_PUMP_NKI_TOKEN": "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"}
    message = failed_alone(store, setup[0], edc, caplog, source="pump-nki", env=env)
    assert "REDCap refused the API token" in message
    assert "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF" not in caplog.text + message + store.audit_log().to_json(date_format="iso")


def test_a_malformed_redcap_token_is_never_repeated(store, setup, edc, caplog):
    env = {**ENV, "PUMP_SOURCE_PUMP_NKI_TOKEN": "not-a-token-but-a-secret"}
    message = failed_alone(store, setup[0], edc, caplog, source="pump-nki", env=env)
    assert "not the 32 letters and digits" in message
    assert "not-a-token-but-a-secret" not in caplog.text + message + store.audit_log().to_json(date_format="iso")


def test_redcap_server_errors_are_retried_then_fail(store, setup, edc, caplog):
    edc.faults.add("redcap_5xx")
    message = failed_alone(store, setup[0], edc, caplog, source="pump-nki")
    assert "server error (503), also after 2 retries" in message


def test_a_pull_that_needs_a_person_waits_and_is_decided(store, setup, edc):
    programme, _ = setup
    assert pull(store, programme)["pump-emc"].outcome == "stored"
    edc.participants = edc.participants[:1] + edc.participants[5:]  # four of five EMC participants gone
    before = store.table_counts()
    waiting = pull(store, programme)["pump-emc"]
    assert waiting.outcome == "waiting" and "removes 4 of 5 EMC participants of PUMP" in waiting.message
    assert store.table_counts()["extracts"] == before["extracts"]
    assert pull(store, programme)["pump-emc"].outcome == "waiting"  # the same again: one waits, not two
    held = store.waiting_pulls("PUMP")
    assert list(held["source"]) == ["pump-emc"] and held["report"].iloc[0]["mass_removal"]["removes"] == 4
    assert "110002" not in held["canonical_csv"].iloc[0]  # only what the extract would hold
    with pytest.raises(Exception, match="type the number"):
        decide(store, programme, int(held["pull_id"].iloc[0]), "coordinator EMC")
    extract_id = decide(store, programme, int(held["pull_id"].iloc[0]), "coordinator EMC", confirm_removals=4)
    assert sorted(store.current_participants("PUMP").query("site == 'EMC'")["participant_id"]) == ["110001"]
    assert store.extracts().set_index("extract_id").loc[extract_id, "uploaded_by"] == "coordinator EMC"
    assert store.waiting_pulls().empty
    # The decision is the pull's last outcome in the audit log (what the digest reads).
    assert [d["outcome"] for d in pull_audit(store) if d["source"] == "pump-emc"][:3] == ["stored", "waiting", "waiting"]
    # The same data pulled again confirms the decided extract: no copy.
    assert pull(store, programme)["pump-emc"].outcome == "confirmed"


def test_a_waiting_pull_overtaken_by_a_clean_one_waits_no_more(store, setup, edc):
    programme, _ = setup
    full = list(edc.participants)
    pull(store, programme)
    edc.participants = full[:1] + full[5:]
    assert pull(store, programme)["pump-emc"].outcome == "waiting"
    edc.participants = full  # the export filter in Castor put right
    assert pull(store, programme)["pump-emc"].outcome == "confirmed"
    assert store.waiting_pulls().empty
    assert store.table_counts()["waiting_pulls"] == 1  # closed, not deleted


def test_secrets_come_from_the_secrets_file_and_the_environment_wins(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text('[sources.pump-emc]\nclient_id = "from-file"\nclient_secret = "file-secret"\n')
    assert source_secrets("pump-emc", {}, path) == {"client_id": "from-file", "client_secret": "file-secret"}
    env = {"PUMP_SOURCE_PUMP_EMC_CLIENT_SECRET": "env-secret"}
    assert source_secrets("pump-emc", env, path) == {"client_id": "from-file", "client_secret": "env-secret"}


def test_a_bad_source_in_the_configuration_names_the_entry(tmp_path):
    data = yaml.safe_load((ROOT / "data" / "programme.yaml").read_text())
    data["trials"]["PUMP"]["sites"]["NKI"]["source"] = {"name": "pump-nki", "redcap": {"url": "https://redcap.example.org/"}}
    path = tmp_path / "programme.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"trials\.PUMP\.sites\.NKI\.source\.redcap\.url: .*not a REDCap API address"):
        load_programme(path)


def test_a_credential_in_the_configuration_is_refused_without_repeating_it(tmp_path):
    data = yaml.safe_load((ROOT / "data" / "programme.yaml").read_text())
    data["trials"]["PUMP"]["sites"]["NKI"]["source"] = {
        "name": "pump-nki", "redcap": {"url": "https://redcap.example.org/api/", "dag": "nki", "token": REDCAP_TOKEN}}
    path = tmp_path / "programme.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as refused:
        load_programme(path)
    assert "trials.PUMP.sites.NKI.source: token must not be in the configuration" in str(refused.value)
    assert "[sources.pump-nki] of .streamlit/secrets.toml" in str(refused.value)
    assert REDCAP_TOKEN not in str(refused.value)


def test_the_command_line_prints_one_json_object_per_source(tmp_path, setup, edc):
    _, config = setup
    edc.faults.add("bad_credentials")
    env = {**os.environ, **ENV, "PUMP_CONFIG": str(config), "PUMP_SECRETS": str(tmp_path / "none.toml")}
    Store(tmp_path / "cli.duckdb", create=True).data_version()  # made by init: a pull never creates a database
    run = subprocess.run([sys.executable, "-m", "dashboard", "--db", str(tmp_path / "cli.duckdb"), "pull", "--json"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    objects = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(o["source"], o["trial"], o["site"], o["outcome"]) for o in objects] == [
        ("pump-emc", "PUMP", "EMC", "failed"), ("pump-nki", "PUMP", "NKI", "stored")]
    assert objects[1]["diff"] == {"new": 2, "changed": 0, "missing": 0, "unchanged": 0}
    assert run.returncode == 3  # one source could not be pulled
    assert CLIENT_SECRET not in run.stdout + run.stderr


def test_a_scheduled_pull_beside_the_running_dashboard_waits_its_turn_and_lands(tmp_path, setup, edc):
    """The dashboard's process holds the file (idle_release) while sessions poll; `pull` from cron
    says it waits, the dashboard lets go, the pull lands, and the sessions never fail."""
    import threading
    import time

    _, config = setup
    db = tmp_path / "served.duckdb"
    dashboard = Store(db, idle_release=60, create=True)
    dashboard.data_version()
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

    sessions = [threading.Thread(target=session) for _ in range(8)]
    for s in sessions:
        s.start()
    env = {**os.environ, **ENV, "PUMP_CONFIG": str(config), "PUMP_SECRETS": str(tmp_path / "none.toml")}
    try:
        run = subprocess.run([sys.executable, "-m", "dashboard", "--db", str(db), "pull", "--json"],
                             capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        shown = sorted(dashboard.current_participants("PUMP")["participant_id"])
    finally:
        stop.set()
        for s in sessions:
            s.join()
    assert run.returncode == 0, run.stdout + run.stderr
    assert [json.loads(line)["outcome"] for line in run.stdout.splitlines()] == ["stored", "stored"]
    assert "waiting" in run.stderr.lower()  # it said it waited its turn for the file
    assert errors == [] and len(polls) > 8
    assert shown == ["110001", "110002", "110003", "110004", "110005", "NKI-001", "NKI-002"]


def test_a_pull_holding_a_direct_identifier_is_refused_and_the_identifier_is_nowhere(store, setup, edc, caplog):
    for row in edc.redcap_rows:
        row["contact_email"] = "j.jansen@example.nl" if row["record_id"] == "NKI-002" else ""
    caplog.set_level(logging.DEBUG)
    outcomes = pull(store, setup[0])
    refused = outcomes["pump-nki"]
    assert refused.outcome == "refused" and outcomes["pump-emc"].outcome == "stored"
    assert refused.message.startswith("pump-nki: the pulled data has 1 error(s), the first column `contact_email`")
    assert set(store.extracts()["format"]) == {"castor"} and store.waiting_pulls().empty
    assert "j.jansen" not in refused.message + caplog.text + store.audit_log().to_json(date_format="iso")
    assert [d["outcome"] for d in pull_audit(store) if d["source"] == "pump-nki"] == ["refused"]


def test_the_pull_acts_as_its_service_user_within_that_users_grant(store, setup, tmp_path):
    from dashboard.access import load_access

    programme, _ = setup
    path = tmp_path / "access.toml"
    path.write_text('[users."pump-pull@service"]\nrole = "coordinator"\ntrials = ["PUMP"]\nsites = ["EMC"]\n')
    access = load_access(path, programme)
    outcomes = pull(store, programme, access=access)
    assert outcomes["pump-emc"].outcome == "stored"
    refused = outcomes["pump-nki"]
    assert refused.outcome == "refused" and refused.message.startswith("pump-nki: ") and "NKI" in refused.message
    assert set(store.extracts()["format"]) == {"castor"}
    refusals = store.audit_log(action="refused")
    assert list(refusals["actor"]) == ["pump-pull@service"]


def test_a_castor_checkbox_is_read_as_the_exports_option_columns_and_mapped_like_them():
    from dashboard.readers.castor import read_castor
    from dashboard.readers.reading import read_table
    from dashboard.sources.castor import export_csv
    from edc_server import FIELDS, castor_participant

    participants = [castor_participant("110001", "EMC", "2020-01-11", "Arm B", "2020-01-01"),
                    castor_participant("110002", "EMC", "2020-02-12", "Arm A", "2020-02-02")]
    points = [{"participant_id": "110001", "field_variable_name": "fail_reasons", "value": "1;3"}]
    table = read_table(export_csv(participants, points, "EMC", FIELDS))
    assert [c for c in table.frame.columns if c.startswith("fail_reasons")] == [
        "fail_reasons#No consent", "fail_reasons#Metastases elsewhere", "fail_reasons#Other"]
    extract = read_castor(table, {"screen_fail_reason": "fail_reasons"})
    assert list(extract.fields["screen_fail_reason"]) == ["No consent; Other", ""]
    assert extract.columns["screen_fail_reason"] == "fail_reasons"


def test_the_digest_reads_the_pulls_outcomes_from_the_audit_log(store, setup, edc):
    """What `pull` audits is what the weekly digest reports: a failed pull with its sentence, a
    waiting pull until it is decided on the upload page."""
    import datetime as dt

    from dashboard import digest, service

    programme, _ = setup
    pull(store, programme)
    edc.participants = edc.participants[:1] + edc.participants[5:]
    env = {k: v for k, v in ENV.items() if "NKI" not in k}  # pump-nki has no token now: it fails
    pull(store, programme, env=env)
    entries = service.audit_entries(store, action="pull")
    assert [(p["source"], p["site"]) for p in digest.waiting_pulls(entries)] == [("pump-emc", "EMC")]
    failed = digest.failed_pulls(entries, dt.datetime(2000, 1, 1))
    assert [(p["source"], p["count"]) for p in failed] == [("pump-nki", 1)] and "no API token" in failed[0]["reason"]
    decide(store, programme, int(store.waiting_pulls()["pull_id"].iloc[0]), "coordinator EMC", confirm_removals=4)
    assert digest.waiting_pulls(service.audit_entries(store, action="pull")) == []
