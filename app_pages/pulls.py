"""On the upload page: the EDC sources of the coordinator's grant, with a "Pull now" button, and
the pulls that wait for a decision, each with the report a dropped file gets, decided here
through the same write path (dashboard/pull.py)."""

import streamlit as st

from app_pages import common
from dashboard import pull
from dashboard.issues import Issue
from dashboard.sources.secrets import source_secrets
from dashboard.store import Refused


def granted_sources(who, programme) -> list[tuple[str, str, object]]:
    trials = set(common.granted_trials(who.grant, programme))
    return [(t, s, src) for t, s, src in programme.sources()
            if t in trials and s in common.granted_sites(who.grant, list(programme.trials[t].sites))]


def _issues(report: dict) -> list[Issue]:
    return [Issue("warning", **{k: w.get(k) for k in ("code", "message", "row", "column", "value")},
                  needs_confirmation=bool(w.get("needs_confirmation"))) for w in report.get("warnings", [])]


def _choose_mapping(row, report: dict, programme, store, grants) -> None:
    """A pull that needs a mapping: pick the column of each field, then pull again with it (the
    check runs again; the choice is remembered once the pull is stored)."""
    from dashboard import upload_report

    st.warning("Some fields the dashboard needs have no column it recognises in the pulled data. Pick the column that "
               "holds each one and pull again.", icon=":material/rule:")
    offered = ["(choose a column)", *report.get("columns", [])]
    chosen = {}
    for name in report.get("unmapped", []):
        pick = st.selectbox(f"`{name}`: {upload_report.field_meaning(name)}", offered, key=f"pull-map-{row.pull_id}-{name}")
        if pick != offered[0]:
            chosen[name] = pick
    if st.button("Pull again with these columns", key=f"pull-remap-{row.pull_id}", disabled=len(chosen) < len(report.get("unmapped", []))):
        source = programme.trials[row.trial].sites[row.site].source
        with st.spinner(f"Pulling {source.name}…"), common.internal_errors(f"pulling {source.name}"):
            outcome = pull.pull_one(store, programme, row.trial, row.site, source, source_secrets(source.name), access=grants,
                                    mapping={**report.get("mapping", {}), **chosen})
        st.session_state["pull_done"] = f"{outcome.outcome.capitalize()}: {outcome.message}"
        st.rerun()


def show(who, programme, store, grants, user: str) -> None:
    """The sources section; nothing when no source of the grant is configured."""
    from dashboard import upload_report

    mine = granted_sources(who, programme)
    if not mine:
        return
    if done := st.session_state.pop("pull_done", None):
        st.success(done, icon=":material/cloud_done:")
    waiting = store.waiting_pulls()
    keys = {(t, s) for t, s, _ in mine}
    waiting = waiting[[(t, s) in keys for t, s in zip(waiting["trial"], waiting["site"], strict=True)]]
    for row in waiting.itertuples():
        report = row.report
        with st.container(border=True):
            st.markdown(f"#### A pull waiting for your decision: {row.trial} {row.site}, from {row.source}")
            st.caption(f"Pulled {row.pulled_at:%d %b %Y %H:%M}; nothing of it is stored until you decide.")
            if row.canonical_csv is None:
                _choose_mapping(row, report, programme, store, grants)
                continue
            common.change_counts(report["diff"])
            issues = _issues(report)
            if issues:
                st.dataframe(upload_report.issue_table(issues), hide_index=True, width="stretch")
            removals, ok = None, True
            if report.get("mass_removal"):
                st.error("**" + " ".join(report["mass_removal"]["sentences"]) + "**", icon=":material/warning:")
                removals = st.number_input("Participants this pull removes", min_value=0, step=1, value=None,
                                           key=f"pull-removals-{row.pull_id}")
                ok = removals == report["mass_removal"]["removes"]
            checked = st.checkbox("I have checked the warnings and the changes above; store this pull.", key=f"pull-ok-{row.pull_id}")
            if st.button("Store this pull", type="primary", key=f"pull-store-{row.pull_id}", disabled=not (ok and checked and user.strip())):
                try:
                    with common.internal_errors(f"storing the pull from {row.source}"):
                        extract_id = pull.decide(store, programme, int(row.pull_id), user, confirm_removals=removals, access=grants)
                except Refused as exc:
                    st.error(f"Not stored: {common.plain(str(exc))}")
                    return
                st.session_state["pull_done"] = f"Stored the pull from {row.source} as extract #{extract_id}."
                st.rerun()
    with st.expander("Pull from Castor or REDCap now", icon=":material/cloud_download:"):
        st.caption("Your sites' data is pulled every morning; pull now to see today's changes. A pull is checked "
                   "exactly as a dropped file is.")
        for trial, site, source in mine:
            if st.button(f"Pull now: {trial} {site} ({source.kind}, {source.name})", key=f"pull-now-{source.name}"):
                with st.spinner(f"Pulling {source.name}…"), common.internal_errors(f"pulling {source.name}"):
                    outcome = pull.pull_one(store, programme, trial, site, source, source_secrets(source.name), access=grants)
                st.session_state["pull_done"] = f"{outcome.outcome.capitalize()}: {outcome.message}"
                st.rerun()
