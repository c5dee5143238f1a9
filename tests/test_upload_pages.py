"""The coordinator's upload page and the extract history through AppTest: every branch
of the flow, with the database checked after each."""

import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard.access import load_access
from dashboard.config import load_programme
from dashboard.ingest import check_file, commit
from dashboard.store import Store
from support import TODAY, template_csv

APP = "../streamlit_app.py"
FIRST = template_csv("P-1,EMC,2024-03-01,2024-03-05,haip", "P-2,EMC,2024-03-02,2024-03-06,control")


@pytest.fixture
def db(tmp_path, monkeypatch):
    store = Store(tmp_path / "upload.duckdb", create=True)
    store.data_version()
    monkeypatch.setenv("PUMP_DB", str(store.path))
    monkeypatch.setenv("PUMP_DEMO", "0")
    st.cache_data.clear()
    st.cache_resource.clear()
    return store


def seed(store, data=FIRST, trial="PUMP", accept=False):
    checked = check_file(store, load_programme(), data, "seed.csv", trial, today=TODAY)
    return commit(store, checked, "seeder", accept_warnings=accept)


def open_app(role="coordinator", page=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["role"] = role
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


def upload(at: AppTest, data: bytes, name="PUMP_export_20261116.csv", trial="PUMP") -> AppTest:
    at.selectbox[0].set_value(trial)
    at.text_input(key="uploader_name").input("Anna de Vries")
    at.file_uploader[0].set_value((name, data, "text/csv"))
    return at.run()


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


def test_a_good_file_is_checked_previewed_and_stored(db):
    at = upload(open_app(), FIRST)
    assert not at.exception
    assert "No problems found" in at.success[0].value
    assert any("Project template · comma-separated · UTF-8 · **2 rows**" in m.value for m in at.markdown)
    assert metrics(at)["New participants"] == "2"
    assert db.is_empty()  # nothing stored before the coordinator confirms
    button(at, "Store the extract").click()
    at.run()
    # The file name is the uploader's text: escaped, so that it shows exactly as written.
    assert at.success[0].value.startswith("Stored PUMP\\_export\\_20261116\\.csv as extract #1 for PUMP (EMC): 2 new, 0 changed")
    [extract] = db.extracts().to_dict("records")
    assert extract["uploaded_by"] == "Anna de Vries" and extract["participant_count"] == 2


def test_errors_block_the_commit_and_are_listed_with_row_and_column(db):
    at = upload(open_app(), template_csv("P-1,EMC,,31-02-2024,haip", "P-1,EMC,,2024-03-05,arm Z"))
    assert "3 problems must be fixed" in at.error[0].value
    report = at.dataframe[0].value
    assert list(report["row"]) == ["2", "3", "3"]
    assert report[["column", "value"]].iloc[0].tolist() == ["enrolled_on", "31-02-2024"]
    assert report["problem"].iloc[0] == "'31-02-2024' is not a date (write day-month-year, e.g. 27-10-2024, or 2024-10-27)"
    assert not [b for b in at.button if b.label == "Store the extract"]
    assert at.get("download_button")[-1].proto.label == "Download the report (CSV)"
    assert db.is_empty()


def test_identifiers_are_refused_and_the_page_says_how_to_export_without_them(db):
    data = template_csv("P-1,EMC,,2024-03-05,haip,Jan Jansen", header="participant_id,site,screened_on,enrolled_on,arm,patient_name")
    at = upload(open_app(), data)
    assert at.error[0].value.startswith("**1 problem must be fixed before this file can be stored.** Correct it in the EDC")
    # A problem of a whole column is a sentence of its own, read whole (escaped: file text never formats).
    message = at.error[1].value.replace("\\", "")
    assert message.startswith("`patient_name`: its name says it holds a name. Direct identifiers of patients may not be stored")
    assert message.endswith("Remove these columns from the file and upload it again.")
    assert not at.dataframe  # no table of row problems: there is none
    assert db.is_empty()


def test_a_file_that_is_not_a_table_is_one_plain_sentence_without_placeholders(db):
    at = upload(open_app(), b"\x00\x01\x02binary\x00" * 10)
    header = next(m.value for m in at.markdown if "PUMP_export_20261116.csv" in m.value.replace("\\", ""))
    assert header.endswith(": format not recognised")  # no "–-separated", no row count of a file never read
    assert at.error[0].value.startswith("**1 problem must be fixed")
    assert at.error[1].value.replace("\\", "") == (
        "the file cannot be read: this is not a text file (it holds binary data); export the data as CSV, or upload the .xlsx workbook"
    )
    assert not at.dataframe and "None" not in " ".join(e.value for e in at.error)
    assert db.is_empty()


def test_warnings_need_an_explicit_confirmation(db):
    seed(db)
    at = upload(open_app(), template_csv("P-1,EMC,2024-03-01,2024-03-12,haip"))
    assert "2 changes need your decision" in at.warning[0].value
    assert at.dataframe[0].value["kind"].tolist() == ["decision", "decision"]
    assert metrics(at)["No longer in the extract"] == "1" and metrics(at)["Changed"] == "1"
    changes = at.dataframe[2].value
    assert changes.to_dict("records") == [{"participant": "P-1", "field": "enrolled_on", "old": "2024-03-05", "new": "2024-03-12"}]
    assert button(at, "Store the extract").disabled
    at.checkbox[0].check()
    at.run()
    # One of the two EMC participants goes: half of them, a mass removal, so its number must be typed.
    assert at.error[0].value == "**This removes 1 of 2 EMC participants of PUMP.**"
    assert button(at, "Store the extract").disabled
    at.number_input(key="confirm_removals").set_value(2).run()
    assert button(at, "Store the extract").disabled  # not the number it removes
    at.number_input(key="confirm_removals").set_value(1).run()
    button(at, "Store the extract").click()
    at.run()
    assert "1 no longer in the extract" in at.success[0].value
    assert db.current_participants("PUMP")["participant_id"].tolist() == ["P-1"]


def test_a_mapping_is_asked_for_and_remembered_for_next_week(db):
    header = "participant_id,site,randomisatiedatum,arm"
    at = upload(open_app(), template_csv("P-1,EMC,05-03-2024,haip", header=header), name="week1.csv")
    assert at.selectbox(key="map-enrolled_on").options[1:] == ["participant_id", "site", "randomisatiedatum", "arm"]
    at.selectbox(key="map-enrolled_on").set_value("randomisatiedatum")
    at.run()
    button(at, "Apply").click()
    at.run()
    assert "No problems found" in at.success[0].value
    button(at, "Store the extract").click()
    at.run()
    assert db.mappings("PUMP") == {"template": {"enrolled_on": "randomisatiedatum"}}
    at = upload(open_app(), template_csv("P-1,EMC,05-03-2024,haip", "P-2,EMC,12-03-2024,control", header=header), name="week2.csv")
    assert not [s for s in at.selectbox if s.key == "map-enrolled_on"]
    assert metrics(at)["New participants"] == "1"


def test_a_reason_that_is_no_code_is_mapped_on_the_page_and_remembered_without_its_words(db):
    header = "participant_id,site,screened_on,enrolled_on,arm,screening_outcome,screen_fail_reason"
    typed = "wil liever dichter bij huis behandeld worden"
    at = upload(open_app(), template_csv(f"P-1,EMC,2024-03-01,,,declined,{typed}", header=header), name="week1.csv")
    assert not at.exception
    [pick] = [s for s in at.selectbox if s.key and s.key.startswith("reason-screen_fail_reason-")]
    assert pick.label == f"`screen_fail_reason`: {typed}"
    assert pick.options[0] == "(leave it as other)" and "travel distance too far" in pick.options
    pick.set_value("travel distance too far")
    at.run()
    button(at, "Apply the reasons").click()
    at.run()
    assert not [s for s in at.selectbox if s.key and s.key.startswith("reason-")]
    button(at, "Store the extract").click()
    at.run()
    assert db.current_participants("PUMP")["screen_fail_reason"].tolist() == ["travel_distance"]
    [(key, remembered)] = db.mappings("PUMP").items()
    assert key == "reasons:screen_fail_reason" and list(remembered.values()) == ["travel_distance"]
    assert typed not in str(remembered)
    # Next week the same words are that reason without asking.
    at = upload(open_app(), template_csv(f"P-2,EMC,2024-03-08,,,declined,{typed}", header=header), name="week2.csv")
    assert not [s for s in at.selectbox if s.key and s.key.startswith("reason-")]


def test_the_same_file_again_says_it_is_loaded_and_stores_nothing(db):
    seed(db)
    at = open_app()
    before = db.table_counts()
    at = upload(at, FIRST)
    assert "already loaded as extract #1" in at.info[0].value
    assert not [b for b in at.button if b.label == "Store the extract"]
    assert db.table_counts() == before


def test_retract_from_the_history_restores_the_previous_extract(db):
    seed(db)
    second = seed(db, template_csv("P-1,EMC,2024-03-01,2024-03-05,haip", "P-2,EMC,2024-03-02,2024-03-06,control", "X-9,EMC,,2024-04-01,haip"))
    at = open_app(page="app_pages/extracts.py")
    assert not at.exception
    history = at.dataframe[0].value
    assert history["status"].tolist() == ["current", "superseded"]
    assert at.selectbox(key="extract_choice").value == second
    assert metrics(at)["New participants"] == "1" and "**New:** X\\-9" in [m.value for m in at.markdown]
    button(at, "Retract this extract…").click()
    at.run()
    at.text_area[0].input("test records exported by mistake")
    at.text_input[0].input("Dr. Director")
    at.run()
    button(at, "Retract").click()
    at.run()
    assert "is retracted" in at.success[0].value
    assert sorted(db.current_participants("PUMP")["participant_id"]) == ["P-1", "P-2"]
    retracted = db.extracts().set_index("extract_id").loc[second]
    assert retracted["retraction_reason"] == "test records exported by mistake" and retracted["retracted_by"] == "Dr. Director"
    assert db.audit_log().iloc[0]["action"] == "retract"


def test_template_downloads_are_offered(db):
    at = open_app()
    labels = [d.proto.label for d in at.get("download_button")]
    assert labels == ["CSV template", "Data dictionary", "REDCap data dictionary"]


def test_the_history_shows_field_changes_of_an_extract(db):
    seed(db)
    seed(db, template_csv("P-1,EMC,2024-03-01,2024-03-07,haip", "P-2,EMC,2024-03-02,2024-03-06,control"), accept=True)
    at = open_app(page="app_pages/extracts.py")
    changes = at.dataframe[1].value
    assert changes.to_dict("records") == [{"participant": "P-1", "field": "enrolled_on", "old": "2024-03-05", "new": "2024-03-07"}]


def test_a_director_blanks_a_free_text_field_from_the_history_and_a_coordinator_cannot(db):
    header = "participant_id,site,screened_on,enrolled_on,arm,screening_outcome,screen_fail_reason"
    extract_id = seed(db, template_csv("P-1,EMC,2024-03-01,,,declined,te ver weg", header=header))
    assert not [b for b in open_app("coordinator", page="app_pages/extracts.py").button if b.label == "Blank text fields…"]
    at = open_app("director", page="app_pages/extracts.py")
    button(at, "Blank text fields…").click()
    at.run()
    at.get("button_group")[-1].set_value(["screen_fail_reason"])
    at.text_area(key="redact_reason").input("free text may name people")
    at.text_input(key="redact_by").input("Dr. Director")
    at.run()
    button(at, "Blank them").click()
    at.run()
    assert at.success[0].value == f"Extract #{extract_id}: blanked screen-fail reasons (1)."
    assert db.current_participants("PUMP")["screen_fail_reason"].isna().all()
    assert db.audit_log().iloc[0]["action"] == "redact"


def test_an_unforeseen_error_is_a_sentence_on_the_page_and_the_traceback_goes_to_the_log(db, monkeypatch, tmp_path):
    monkeypatch.setenv("PUMP_LOG", str(tmp_path / "errors.log"))

    def broken(*args, **kwargs):
        raise RuntimeError("a bug deep inside")

    monkeypatch.setattr("dashboard.ingest.check_file", broken)
    at = upload(open_app(), FIRST)
    assert not at.exception  # not Streamlit's generic error
    assert at.error[0].value.startswith("Internal error while checking PUMP\\_export\\_20261116\\.csv: nothing was stored.")
    assert "RuntimeError: a bug deep inside" in (tmp_path / "errors.log").read_text()
    assert db.is_empty()


def test_local_mode_on_a_database_used_with_sign_in_stores_nothing_and_the_refusal_is_audited(db, tmp_path):
    grants = tmp_path / "access.toml"
    grants.write_text('[users."k.director@example.org"]\nrole = "director"\n', encoding="utf-8")
    assert db.bind_access(load_access(grants)) is None  # a deployment with sign-in used this database
    at = upload(open_app(), FIRST)  # now opened without sign-in and access file: local mode
    button(at, "Store the extract").click()
    at.run()
    assert at.error[0].value.startswith("Not stored: this database is used with sign\\-in\\: give the access file")
    assert db.is_empty()
    refused = db.audit_log(action="refused").iloc[0]
    assert refused["actor"] == "Anna de Vries" and "used with sign-in" in json.loads(refused["detail"])["reason"]


def test_a_bad_pump_today_stops_the_app_with_a_sentence(db, monkeypatch):
    monkeypatch.setenv("PUMP_TODAY", "21-11-2026")
    at = open_app()
    assert not at.exception
    assert at.error[0].value.startswith("**The dashboard cannot start**: PUMP\\_TODAY\\='21\\-11\\-2026' is not a date")
