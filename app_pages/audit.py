"""The audit log, for programme directors: who uploaded, retracted, was refused, held a meeting,
changed the configuration or signed in, and when. Filterable, downloadable as CSV (formulas
neutralised). Nothing here changes it: the store only ever appends to it."""

import datetime as dt

import pandas as pd
import streamlit as st

from app_pages import common
from dashboard import service
from dashboard.auditlog import sentence

common.require("audit")
store = common.get_store()
version = common.data_version()
common.page_header("Audit log", version)

ACTIONS = {
    "ingest": "Upload",
    "reconfirm": "Upload of the current file again",
    "retract": "Retraction",
    "redact": "Text blanked",
    "refused": "Refused",
    "meeting": "Meeting held",
    "config_loaded": "Configuration changed",
    "sign_in": "Sign-in",
}

everything = pd.DataFrame(service.audit_entries(store), columns=["at", "actor", "action", "trial", "extract_id", "detail"])
left, middle, right = st.columns(3)
actors = left.multiselect("Who", sorted(everything["actor"].unique()), placeholder="Everyone")
actions = middle.multiselect("What", list(ACTIONS), format_func=lambda a: ACTIONS.get(a, a), placeholder="Every action")
since = right.date_input("From", value=None, format="DD/MM/YYYY", max_value=service.today(), help="Entries from this day on; empty: all")

shown = everything
if actors:
    shown = shown[shown["actor"].isin(actors)]
if actions:
    shown = shown[shown["action"].isin(actions)]
if since:
    shown = shown[shown["at"] >= dt.datetime.combine(since, dt.time.min).isoformat(sep=" ")]


table = shown.assign(
    at=shown["at"].str.slice(0, 16),  # to the minute: the whole moment fits its column on a projector
    what=shown["action"].map(lambda a: ACTIONS.get(a, a)),
    # An entry about no trial or no extract shows nothing there, not "None".
    trial=shown["trial"].fillna(""),
    extract_id=shown["extract_id"].map(lambda v: "" if pd.isna(v) else f"#{int(v)}"),
    detail=[sentence(a, d) for a, d in zip(shown["action"], shown["detail"], strict=True)],  # in words, as plain text
)[["at", "actor", "what", "trial", "extract_id", "detail"]]
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "at": st.column_config.TextColumn("when", width="medium"),
        "actor": st.column_config.TextColumn("who"),
        "extract_id": st.column_config.TextColumn("extract", width="small"),
        "detail": st.column_config.TextColumn("detail", width="large"),
    },
)
st.caption(f"{len(shown)} of {len(everything)} entries, newest first. The log is only ever added to.")
common.csv_download(table, "PUMP_audit_log.csv", key="csv-audit", label="Audit log (CSV)")
