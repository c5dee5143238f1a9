"""What every page shares: the store and configuration (one per process), cached reads
keyed by the data version, the demo-data notice and the live refresh."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboard import service
from dashboard.config import Programme, load_programme
from dashboard.demo import load_demo
from dashboard.store import Store

LIVE_POLL = dt.timedelta(seconds=10)


@st.cache_resource(show_spinner=False)
def get_programme() -> Programme:
    return load_programme()


@st.cache_resource(show_spinner="Preparing the database (the first start loads the demo data: about half a minute)…")
def get_store() -> Store:
    """The process's Store: it opens a connection per use, so sessions never share one.
    An empty database is seeded with the demo data, through the real ingest path."""
    store = Store(service.db_path())
    programme = get_programme()
    service.record_config(store, programme)
    if service.seed_demo_when_empty() and store.is_empty():
        load_demo(store, programme)
    return store


@st.cache_data(max_entries=64, show_spinner=False)
def snapshot(version: int, as_of: dt.date) -> tuple[pd.DataFrame, dict]:
    """Participants current at `as_of`; `version` is only the cache key (new data, new key)."""
    return service.snapshot(get_store(), as_of)


@st.cache_data(max_entries=8, show_spinner=False)
def extracts(version: int) -> pd.DataFrame:
    return get_store().extracts()


def data_version() -> int:
    return get_store().data_version()


def is_demo(version: int) -> bool:
    """Demo data is what the demo loader stored; any real extract makes it real data."""
    frame = extracts(version)
    return bool(len(frame)) and bool((frame.loc[frame["status"] == "current", "uploaded_by"] == service.DEMO_ACTOR).any())


def page_header(title: str, version: int) -> None:
    st.title(title)
    if is_demo(version):
        st.warning(
            "**Demo data.** These numbers are made up by the demo generator to show what the dashboard does; "
            "they are not real patients. They disappear from view as real extracts are uploaded.",
            icon=":material/science:",
        )


@st.fragment(run_every=LIVE_POLL)
def watch_for_new_data(shown_version: int) -> None:
    """Poll the cheap data version; redraw the page only when it changed."""
    if data_version() != shown_version:
        st.rerun(scope="app")
