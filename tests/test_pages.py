"""The pages through Streamlit's AppTest: what a director sees, on demo data and on a
database where a trial has no extract yet."""

import shutil

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import service
from dashboard.demo import load_demo
from dashboard.ingest import check_file, commit
from dashboard.store import Store
from support import TODAY, template_csv

APP = "../streamlit_app.py"


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory, programme):
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    load_demo(Store(path), programme)
    return path


def run_app(monkeypatch, db, role="director", demo="1") -> AppTest:
    monkeypatch.setenv("PUMP_DB", str(db))
    monkeypatch.setenv("PUMP_DEMO", demo)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["role"] = role
    return at.run()


@pytest.fixture
def demo_copy(demo_db, tmp_path):
    copy = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, copy)
    return copy


def test_overview_on_demo_data_shows_each_trial_against_its_target(monkeypatch, demo_copy, programme):
    at = run_app(monkeypatch, demo_copy)
    assert not at.exception
    assert "Demo data" in at.warning[0].value
    assert [s.value for s in at.subheader] == ["PUMP", "PUMP-2", "PUMP-IT"]
    summary = service.programme_summary(Store(demo_copy), programme, service.today())
    shown = [m.value for m in at.metric]
    assert shown == [f"{t['enrolled']} / {t['target']}" for t in summary["trials"]]


def test_overview_of_a_trial_without_extracts_says_so(monkeypatch, tmp_path, programme):
    store = Store(tmp_path / "one.duckdb")
    checked = check_file(store, programme, template_csv("P-1,EMC,,2024-03-05,haip"), "pump.csv", "PUMP", today=TODAY)
    commit(store, checked, "coordinator")
    at = run_app(monkeypatch, store.path, demo="0")
    assert not at.exception
    assert not at.warning  # real data: no demo notice
    assert at.metric[0].value == "1 / 230"
    assert [i.value for i in at.info] == ["No extract received yet for this trial."] * 2
