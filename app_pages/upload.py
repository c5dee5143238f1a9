"""Upload an extract: check, preview the change, confirm, commit. Nothing is stored
until the coordinator confirms, and then it lands whole in one transaction."""

import pandas as pd
import streamlit as st

from app_pages import common, pulls
from dashboard import templates, upload_report
from dashboard.config import reason_fingerprint
from dashboard.ingest import Checked, check_file, commit
from dashboard.readers import FORMATS
from dashboard.readers.reading import sha256_of
from dashboard.store import Refused

FORMAT_LABELS = {None: "Detect from the file", "template": "Project template", "castor": "Castor EDC export", "redcap": "REDCap export"}
FROM_FILE = "From the file's site column"

who = common.require("upload")
programme = common.get_programme()
store = common.get_store()
grants = common.get_access()
version = common.data_version()
common.page_header("Upload an extract", version)

if done := st.session_state.pop("upload_done", None):
    st.success(done, icon=":material/check_circle:")  # its file name escaped where it is composed

st.markdown(
    "Export the full list of participants of one trial from Castor, REDCap or your screening log and drop the file "
    "below. It is checked and compared with what the dashboard holds **before** anything is stored."
)
trials = common.granted_trials(who.grant, programme)
if not trials:
    st.error("Your grant names no trial of the current configuration: ask the programme office.", icon=":material/block:")
    st.stop()
left, middle, right = st.columns(3)
trial = left.selectbox("Trial", trials)
site_choice = middle.selectbox(
    "Site", [FROM_FILE, *common.granted_sites(who.grant, programme.trials[trial].sites)], help="Choose the site when the file has no site column."
)
fmt = right.selectbox("Format", [None, *FORMATS], format_func=FORMAT_LABELS.get)
site = None if site_choice == FROM_FILE else site_choice
if not (who.grant.local or who.grant.role == "director"):
    st.caption(f"You may upload for {', '.join(who.grant.trials)} at site {', '.join(who.grant.sites)}.")
user = common.actor_name(who, key="uploader_name")
pulls.show(who, programme, store, grants, user)

with st.expander("Template and data dictionaries"):
    st.markdown("Not exporting from Castor or REDCap? Use the project's template. Its data dictionary lists every field.")
    a, b, c = st.columns(3)
    a.download_button("CSV template", templates.template_csv(), "pump_extract_template.csv", "text/csv")
    b.download_button("Data dictionary", templates.data_dictionary_csv(programme.trials[trial]), f"{trial}_data_dictionary.csv", "text/csv")
    c.download_button(
        "REDCap data dictionary",
        templates.redcap_dictionary_csv(programme.trials[trial]),
        f"{trial}_redcap_data_dictionary.csv",
        "text/csv",
        help="Upload it in REDCap (Project Setup > Data Dictionary) to build a matching instrument.",
    )

upload_round = st.session_state.setdefault("upload_round", 0)
limit = st.get_option("server.maxUploadSize")
uploaded = st.file_uploader(
    f"Drop the extract here (CSV, TSV or Excel, up to {limit} MB)",
    type=["csv", "txt", "tsv", "xlsx"],
    key=f"extract-{upload_round}",
    help=f"A file larger than {limit} MB is refused by the server; an extract of a trial is far smaller. Split a "
    "larger export per trial, or ask the programme office. If a dropped file does not show here within a few "
    "seconds (a very busy computer), reload the page and drop it again: nothing was stored.",
)
if uploaded is None:
    st.stop()

data = uploaded.getvalue()
mapping = st.session_state.get("column_mapping", {})
reason_mapping = st.session_state.get("reason_mapping", {})
key = (sha256_of(data), trial, site, fmt, tuple(sorted(mapping.items())), repr(sorted(reason_mapping.items())), version)
if st.session_state.get("check_key") != key:
    with st.status(f"Checking {common.plain(uploaded.name)} ({len(data) / 1024:,.0f} KB)…", expanded=False) as status:
        with common.internal_errors(f"checking {common.plain(uploaded.name)}"):
            checked = check_file(
                store, programme, data, uploaded.name, trial, site=site, fmt=fmt, mapping=mapping or None, progress=status.write,
                reason_mapping=reason_mapping or None,
            )
        status.update(label=f"Checked {common.plain(uploaded.name)}", state="complete")
    st.session_state["check_key"], st.session_state["checked"] = key, checked
checked: Checked = st.session_state["checked"]

st.markdown(f"**{common.plain(uploaded.name)}**: {upload_report.file_description(checked)}")

if checked.already_loaded is not None:
    st.info(
        f"This file is already loaded as extract #{checked.already_loaded}: nothing in it is new, and uploading it "
        "again changes nothing. You can record that its data is still current (a quiet week).",
        icon=":material/content_copy:",
    )
    if st.button("Record that the data is still current", disabled=not user.strip()):
        with common.internal_errors("recording the confirmation"):
            try:
                commit(store, checked, user, access=grants)
            except Refused as exc:
                st.error(f"Not recorded: {common.plain(str(exc))}")
                st.stop()
        st.session_state["upload_done"] = f"Recorded that extract #{checked.already_loaded} is still current. Nothing else changed."
        st.session_state["upload_round"] += 1
        st.rerun()
    st.stop()

if checked.unmapped:
    st.subheader("Match the columns")
    st.markdown(
        "Some fields the dashboard needs have no column it recognises. Pick the column of your file that holds each one; "
        "the check runs again, and the choice is remembered for this trial and format once you store the extract."
    )
    offered = ["(choose a column)", *checked.columns]
    chosen = {}
    for name in checked.unmapped:
        pick = st.selectbox(f"`{name}`: {upload_report.field_meaning(name)}", offered, key=f"map-{name}")
        if pick != offered[0]:
            chosen[name] = pick
    if st.button("Apply", type="primary", disabled=len(chosen) < len(checked.unmapped)):
        st.session_state["column_mapping"] = {**mapping, **chosen}
        st.rerun()

errors, warnings = checked.errors, checked.warnings
if errors:
    st.error(upload_report.error_banner(len(errors)), icon=":material/block:")
    # A problem of the whole file or of a column is a sentence of its own, read whole.
    for issue in upload_report.file_problems(errors):
        st.error(common.plain(issue.message))
elif checked.needs_confirmation:
    decisions = sum(i.needs_confirmation for i in warnings)
    st.warning(f"**No errors. {decisions} change{'s' if decisions > 1 else ''} need{'' if decisions > 1 else 's'} your decision** before storing.", icon=":material/help:")
else:
    st.success("**No problems found.**" + (f" {len(warnings)} note{'s' if len(warnings) > 1 else ''} below." if warnings else ""), icon=":material/task_alt:")

row_issues = upload_report.row_problems(checked.issues) if errors else checked.issues
if row_issues:
    report = upload_report.issue_table(row_issues)
    kinds = {"All": None, "Errors": "error", "Decisions": "decision", "Notes": "note"}
    shown = st.segmented_control("Show", list(kinds), default="All", key="issue_filter")
    if kinds.get(shown):
        report = report[report["kind"] == kinds[shown]]
    picked = st.dataframe(
        report,
        hide_index=True,
        width="stretch",
        column_config={
            "kind": st.column_config.TextColumn(width="small"),
            "row": st.column_config.TextColumn(width="small"),
            "value": st.column_config.TextColumn(width="small"),
            "problem": st.column_config.TextColumn(width="large"),
        },
        on_select="rerun",
        selection_mode="single-row",
        key="issue_table",
    )
    chosen = picked.selection.rows if picked else []
    if chosen:
        st.info(common.plain(report["problem"].iloc[chosen[0]]), icon=":material/info:")
    else:
        st.caption("Click a row to read its problem in full.")
if checked.issues:
    st.download_button(
        "Download the report (CSV)",
        upload_report.report_csv(checked.issues),
        f"{uploaded.name}_report.csv",
        "text/csv",
    )

if errors:
    st.stop()

if checked.unmatched_reasons:
    trial_config = programme.trials[checked.trial]
    st.subheader("Reasons to map")
    st.markdown(
        f"These reasons are none of {checked.trial}'s: each is stored as *other* and its words are not kept. Pick the "
        "reason each one means; the check runs again, and the choice is remembered for this trial (by a fingerprint "
        "of the words, never the words) once you store the extract."
    )
    chosen_reasons: dict[str, dict[str, str]] = {}
    for name, values in checked.unmatched_reasons.items():
        options = upload_report.reason_options(trial_config, name)
        for value in values:
            pick = st.selectbox(
                f"`{name}`: {common.plain(value)}", [upload_report.LEAVE_AS_OTHER, *options], key=f"reason-{name}-{reason_fingerprint(value)[:16]}"
            )
            if pick != upload_report.LEAVE_AS_OTHER:
                chosen_reasons.setdefault(name, {})[value] = options[pick]
    if st.button("Apply the reasons", disabled=not chosen_reasons):
        st.session_state["reason_mapping"] = {
            name: {**reason_mapping.get(name, {}), **chosen_reasons.get(name, {})} for name in {*reason_mapping, *chosen_reasons}
        }
        st.rerun()

st.subheader("What changes")
diff = checked.diff
counts = diff.counts()
common.change_counts(counts)
st.dataframe(upload_report.per_site_table(checked), hide_index=True)
if diff.new:
    with st.expander(f"New participants ({len(diff.new)})"):
        new_rows = checked.participants[checked.participants["participant_id"].isin(diff.new)]
        st.dataframe(upload_report.participant_preview(new_rows), hide_index=True, width="stretch")
if diff.changed:
    with st.expander(f"Changed participants ({len(diff.changed)})", expanded=True):
        st.dataframe(upload_report.change_table(diff.changed, programme.trials[checked.trial]), hide_index=True, width="stretch")
if diff.missing:
    with st.expander(f"Participants no longer in the extract ({len(diff.missing)})", expanded=True):
        st.dataframe(pd.DataFrame({"participant": diff.missing}), hide_index=True)

confirmed = True
if checked.needs_confirmation:
    confirmed = st.checkbox("I have checked the warnings and the changes above; store this extract.")
removals = None
if checked.mass_removal:
    st.error("**" + " ".join(checked.mass_removal.sentences()) + "**", icon=":material/warning:")
    st.markdown(
        "An extract is a full snapshot: participants it lacks are no longer counted. A filtered or wrong export "
        "removes them by mistake. If this is right, type the number of participants it removes."
    )
    removals = st.number_input("Participants this extract removes", min_value=0, step=1, value=None, key="confirm_removals")
    confirmed = confirmed and removals == checked.mass_removal.count
if not user.strip():
    st.caption("Enter your name above to store the extract.")
if st.button("Store the extract", type="primary", disabled=not (confirmed and user.strip())):
    try:
        with common.internal_errors(f"storing {common.plain(uploaded.name)}"):
            extract_id = commit(
                store, checked, user, accept_warnings=confirmed, mapping=mapping or None, confirm_removals=removals, access=grants,
                reason_mapping=reason_mapping or None,
            )
    except Refused as exc:
        st.error(f"Not stored: {common.plain(str(exc))}")
        st.stop()
    st.session_state["upload_done"] = (
        f"Stored {common.plain(uploaded.name)} as extract #{extract_id} for {checked.trial} ({', '.join(checked.sites)}): "
        f"{counts['new']} new, {counts['changed']} changed, {counts['missing']} no longer in the extract, "
        f"{counts['unchanged']} unchanged. Every open dashboard shows it within seconds."
    )
    st.session_state["upload_round"] += 1
    st.session_state.pop("column_mapping", None)
    st.session_state.pop("reason_mapping", None)
    st.rerun()
