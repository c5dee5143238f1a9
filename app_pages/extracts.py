"""Extract history: every extract ever uploaded, what each changed, and retraction
(the previous extract becomes current again; nothing is deleted)."""

import json

import streamlit as st

from app_pages import common
from dashboard import service, upload_report
from dashboard.store import Refused

who = common.require("extracts")
programme = common.get_programme()
store = common.get_store()
grants = common.get_access()
as_of, trials = common.view_controls()
live = as_of == service.today()
version = common.data_version()
common.page_header("Extract history", version)

if done := st.session_state.pop("retract_done", None):
    st.success(done, icon=":material/undo:")  # composed here, of no user text

if live:
    st.markdown(":small[**Every extract**, newest first, with its status today.]")
else:
    st.markdown(
        f":small[**What was known on {as_of:%A %d %B %Y}** (a past view: not live): the extracts accepted by the end "
        "of that day, current or superseded as they stood then. A retraction is a correction, so it shows in past "
        "views too.]"
    )
history = common.extracts(version, None if live else as_of)
if history.empty:
    st.info("No extract has been uploaded yet." if live else f"No extract had been uploaded by {as_of:%d %b %Y}.")
    st.stop()

statuses = st.multiselect("Status", ["current", "superseded", "retracted"], default=["current", "superseded", "retracted"])
shown = history[history["trial"].isin(trials) & history["status"].isin(statuses)]

# A blank, never a grey "None", where a file was never uploaded again.
table = shown.assign(sha256=shown["sha256"].str[:12] + "…", last_confirmed_at=shown["last_confirmed_at"].map(common.day))[
    ["extract_id", "trial", "sites", "file_name", "uploaded_by", "uploaded_at", "last_confirmed_at", "format", "row_count", "participant_count", "status", "sha256"]
]
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "extract_id": st.column_config.NumberColumn("#", format="%d"),
        "trial": "Trial",
        "sites": "Sites",
        "file_name": "File",
        "uploaded_by": "Uploaded by",
        "uploaded_at": st.column_config.DatetimeColumn("Uploaded", format="DD MMM YYYY HH:mm"),
        "last_confirmed_at": st.column_config.TextColumn(
            "Confirmed", help="The same file uploaded again later: its data was still current then"
        ),
        "format": "Format",
        "row_count": "Rows",
        "participant_count": "Participants",
        "status": "Status",
        "sha256": st.column_config.TextColumn("SHA-256", help="Fingerprint of the file as uploaded"),
    },
)
common.csv_download(table, "PUMP_extracts.csv", key="csv-extracts")
st.caption(f"{len(shown)} of {len(history)} extracts.")
if shown.empty:
    st.stop()

labels = {int(r.extract_id): f"#{r.extract_id} · {r.trial} · {r.file_name} · {r.status}" for r in shown.itertuples()}
extract_id = st.selectbox("Show what an extract changed, or retract it", list(labels), format_func=labels.get, key="extract_choice")
extract = shown.set_index("extract_id").loc[extract_id]
st.subheader(f"Extract #{extract_id}: {common.plain(extract['file_name'])}")
st.markdown(
    f"**{extract['trial']}**, sites {extract['sites']} · uploaded by **{common.plain(extract['uploaded_by'])}** on "
    f"{extract['uploaded_at']:%d-%m-%Y %H:%M} · {extract['format']} · status **{extract['status']}**  \n"
    f"SHA-256 `{extract['sha256']}`"
)
if extract["status"] == "retracted":
    st.warning(
        f"Retracted by {common.plain(extract['retracted_by'])} on {extract['retracted_at']:%d-%m-%Y %H:%M}: "
        f"{common.plain(extract['retraction_reason'])}"
    )

diff = json.loads(extract["diff"]) if extract["diff"] else None
if diff:
    common.change_counts(diff["counts"])
    if diff["new"]:
        st.markdown(f"**New:** {common.plain(', '.join(diff['new']))}")
    if diff["missing"]:
        st.markdown(f"**No longer in the extract:** {common.plain(', '.join(diff['missing']))}")
    if diff["changed"]:
        st.dataframe(upload_report.change_table(diff["changed"], programme.trials.get(extract["trial"])), hide_index=True, width="stretch")


def _stop_retracting() -> None:
    st.session_state.pop("retracting", None)


@st.dialog("Retract this extract?", on_dismiss=_stop_retracting)
def retract_dialog(extract_id: int, label: str) -> None:
    st.markdown(
        f"Extract **#{extract_id}** ({common.plain(label)}) will no longer count. The extract before it becomes current again "
        "for its sites. Nothing is deleted: the retraction is kept in the history and the audit log."
    )
    reason = st.text_area("Reason", placeholder="e.g. exported from the test environment")
    actor = common.actor_name(who, key="retract_by")
    if st.button("Retract", type="primary", disabled=not (reason.strip() and actor.strip())):
        try:
            store.retract(extract_id, actor, reason, access=grants)
        except Refused as exc:
            st.error(common.plain(str(exc)))
            return
        st.session_state["retract_done"] = f"Extract #{extract_id} is retracted; the previous extract of its sites is current again."
        _stop_retracting()
        st.rerun()


# The dialog stays open across reruns until it is used or dismissed. A retraction is made in today's view.
if not live:
    st.caption("Retracting is done in today's view (Back to today, in the sidebar).")
elif extract["status"] != "retracted" and not common.allowed(who, "retract", extract_uploaded_by=extract["uploaded_by"]):
    st.caption("A coordinator retracts only their own extracts; ask a programme director to retract this one.")
elif extract["status"] != "retracted" and st.button("Retract this extract…", icon=":material/undo:"):
    st.session_state["retracting"] = extract_id
if st.session_state.get("retracting") == extract_id:
    retract_dialog(extract_id, f"{extract['trial']}, {extract['file_name']}")

REDACT_LABELS = {"screen_fail_reason": "Screen-fail reasons", "withdrawal_reason": "Withdrawal reasons", "file_name": "The file name"}


def _stop_redacting() -> None:
    st.session_state.pop("redacting", None)


@st.dialog("Blank text that should never have been stored", on_dismiss=_stop_redacting)
def redact_dialog(extract_id: int) -> None:
    st.markdown(
        f"The chosen fields of extract **#{extract_id}** are blanked for good, in its participants and in its list of "
        "changes: the one exception to \"nothing is deleted\", for text that held what may not be stored here. "
        "The audit log records who, when and which fields, never the text."
    )
    fields = st.pills("Fields", list(REDACT_LABELS), format_func=REDACT_LABELS.get, selection_mode="multi", key="redact_fields")
    reason = st.text_area("Reason", placeholder="e.g. a screen-fail reason named the patient", key="redact_reason")
    actor = common.actor_name(who, key="redact_by")
    if st.button("Blank them", type="primary", disabled=not (fields and reason.strip() and actor.strip())):
        try:
            detail = store.redact(extract_id, list(fields), actor, reason, access=grants)
        except Refused as exc:
            st.error(common.plain(str(exc)))
            return
        blanked = ", ".join(f"{REDACT_LABELS[name].lower()} ({count})" for name, count in detail["values_blanked"].items())
        kept = "" if detail["files_rewritten"] else (" The database's files keep the old values until IT's owner role writes "
                                                    "the tables afresh (store rewrite).")
        st.session_state["retract_done"] = f"Extract #{extract_id}: blanked {blanked}.{kept}"
        _stop_redacting()
        st.rerun()


# Directors only: a redaction changes stored data for good.
if who.grant.role == "director":
    if st.button("Blank text fields…", icon=":material/ink_eraser:"):
        st.session_state["redacting"] = extract_id
    if st.session_state.get("redacting") == extract_id:
        redact_dialog(extract_id)
