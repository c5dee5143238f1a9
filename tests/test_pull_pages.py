"""Pulls on the pages (AppTest): the upload page's waiting pull decided there and its "Pull
now" button; how each site's data came, said the same way on the overview and sites page
(dashboard/freshness.py)."""

import datetime as dt

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from test_pull import ENV, programme_with_sources

from dashboard.freshness import how_data_came
from dashboard.ingest import check_file, commit
from dashboard.pull import pull_all
from dashboard.store import Store
from edc_server import CLIENT_ID, CLIENT_SECRET, EDC, REDCAP_TOKEN
from support import TODAY, template_csv

APP = "../streamlit_app.py"
NOW = dt.datetime(2026, 11, 21, 9, 30)


def test_how_the_data_came_in_words():
    assert how_data_came("pump-emc", "castor", "pump-pull", dt.datetime(2026, 11, 21, 6, 0), NOW) == "pulled from Castor today 06:00"
    assert how_data_came("pump-nki", "redcap", "pump-pull", dt.datetime(2026, 11, 20, 6, 0), NOW) == "pulled from REDCap yesterday 06:00"
    assert how_data_came(None, "template", "Anna de Vries", dt.datetime(2026, 11, 18, 14, 2), NOW) == "uploaded by Anna de Vries 3 days ago"
    assert how_data_came(None, None, "", None, NOW) == "no data yet"


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A store and a programme whose PUMP sites pull from a local Castor (EMC) and REDCap (NKI)."""
    with EDC() as edc:
        programme, config = programme_with_sources(tmp_path, edc.url)
        store = Store(tmp_path / "pages.duckdb", create=True)
        store.data_version()
        for name, value in {**ENV, "PUMP_DB": str(store.path), "PUMP_DEMO": "0", "PUMP_CONFIG": str(config),
                            "PUMP_SECRETS": str(tmp_path / "none.toml")}.items():
            monkeypatch.setenv(name, value)
        st.cache_data.clear()
        st.cache_resource.clear()
        yield store, programme, edc


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["role"] = "coordinator"
    at.run()
    at.switch_page(f"app_pages/{page}.py").run()
    return at


def test_a_waiting_pull_is_decided_on_the_upload_page(world):
    store, programme, edc = world
    pull_all(store, programme, environ=ENV, secrets_path=store.path.parent / "none.toml")
    edc.participants = edc.participants[:1] + edc.participants[5:]  # four of five EMC participants gone
    waiting = pull_all(store, programme, environ=ENV, secrets_path=store.path.parent / "none.toml")
    assert [o.outcome for o in waiting] == ["waiting", "confirmed"]
    extracts = len(store.extracts())
    at = open_page("upload")
    assert not at.exception
    assert any("A pull waiting for your decision: PUMP EMC, from pump-emc" in m.value for m in at.markdown)
    assert any("removes 4 of 5 EMC participants of PUMP" in e.value for e in at.error)
    store_button = next(b for b in at.button if b.label == "Store this pull")
    assert store_button.disabled
    at.text_input(key="uploader_name").input("Anna de Vries")
    at.number_input(key=f"pull-removals-{int(store.waiting_pulls()['pull_id'].iloc[0])}").set_value(4)
    at.checkbox[0].check()
    at.run()
    next(b for b in at.button if b.label == "Store this pull").click()
    at.run()
    assert not at.exception
    assert any("Stored the pull from pump-emc as extract" in s.value for s in at.success)
    assert len(store.extracts()) == extracts + 1 and store.waiting_pulls().empty
    assert sorted(store.current_participants("PUMP").query("site == 'EMC'")["participant_id"]) == ["110001"]
    assert store.extracts()["uploaded_by"].iloc[0] == "Anna de Vries"


def test_pull_now_on_the_upload_page_and_how_the_data_came_on_the_overview(world):
    store, programme, _ = world
    checked = check_file(store, programme, template_csv("P-1,NKI,,2024-03-05,haip"), "nki.csv", "PUMP", today=TODAY)
    commit(store, checked, "Anna de Vries")
    at = open_page("upload")
    next(b for b in at.button if b.label == "Pull now: PUMP EMC (castor, pump-emc)").click()
    at.run()
    assert not at.exception
    assert any(s.value.startswith("Stored: pump-emc: stored as extract #2: 5 new") for s in at.success)
    overview = open_page("overview")
    table = next(d.value for d in overview.dataframe if "How it came" in d.value)
    came = dict(zip(zip(table["Trial"], table["Site"], strict=True), table["How it came"], strict=True))
    assert came[("PUMP", "EMC")].startswith("pulled from Castor today ")
    assert came[("PUMP", "NKI")].startswith("uploaded by Anna de Vries today ")
    assert came[("PUMP-2", "EMC")] == "no data yet"
    for secret in (CLIENT_ID, CLIENT_SECRET, REDCAP_TOKEN):
        assert secret not in str([e.value for e in [*at.markdown, *at.success, *at.error]])


def test_a_pull_that_needs_a_mapping_is_mapped_on_the_upload_page_and_remembered(world):
    store, programme, edc = world
    for row in edc.redcap_rows:
        row["ic_date"] = row.pop("enrolled_on")  # the study calls its inclusion date ic_date
    outcomes = {o.source: o for o in pull_all(store, programme, environ=ENV, secrets_path=store.path.parent / "none.toml")}
    assert outcomes["pump-nki"].outcome == "waiting" and "not mapped" in outcomes["pump-nki"].message
    at = open_page("upload")
    assert any("A pull waiting for your decision: PUMP NKI, from pump-nki" in m.value for m in at.markdown)
    pull_id = int(store.waiting_pulls()["pull_id"].iloc[0])
    at.selectbox(key=f"pull-map-{pull_id}-enrolled_on").set_value("ic_date")
    at.run()
    next(b for b in at.button if b.label == "Pull again with these columns").click()
    at.run()
    assert not at.exception
    assert any(s.value.startswith("Stored: pump-nki: stored as extract") for s in at.success)
    assert store.mappings("PUMP")["redcap"]["enrolled_on"] == "ic_date" and store.waiting_pulls().empty
    # The next scheduled pull uses the remembered column.
    again = {o.source: o for o in pull_all(store, programme, environ=ENV, secrets_path=store.path.parent / "none.toml")}
    assert again["pump-nki"].outcome == "confirmed"
