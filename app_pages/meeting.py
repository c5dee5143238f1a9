"""Steering meeting: made for a projector (1920x1080, and 1280x720 when it is old). One trial
per step with previous/next (or the arrow keys), then the programme summary, where the chair
marks the meeting as held and downloads the pack. Any past meeting reopens as it was. Every
number is `changes --json`'s and `summary --json`'s (service.meeting_pack)."""

import datetime as dt

import streamlit as st

from app_pages import common
from dashboard import report, service
from dashboard.downloads import csv_bytes
from dashboard.meetings import (
    block_of,
    month,
    programme_table,
    since_line,
    site_table,
    status_moved,
)

MEETING_PARAM = "meeting"  # ?meeting=ID reopens a past meeting as it was
STEP = "meeting.step"
LIVE = 0

st.set_page_config(initial_sidebar_state="collapsed")  # the projector needs the width
# ... and the height: less empty space above the first row than the other pages keep.
st.html("<style>[data-testid='stMainBlockContainer'] { padding-top: 3.9rem; }</style>")
who = common.require("meeting")
programme = common.get_programme()
store = common.get_store()
version = common.data_version()
today = service.today()


@st.cache_data(max_entries=16, show_spinner=False)
def listed(version: int) -> list[dict]:
    return service.meeting_list(store)


@st.cache_data(max_entries=16, show_spinner="Comparing with the last meeting…")
def live_pack(version: int, day: dt.date) -> dict:
    return service.meeting_pack(store, programme, as_of=day)


@st.cache_data(max_entries=16, show_spinner="Reopening the meeting…")
def past_pack(version: int, meeting_id: int) -> dict:
    return service.meeting_as_it_was(store, programme, meeting_id)


meetings = listed(version)
known = {m["meeting"]: m for m in meetings}
try:
    chosen = int(st.query_params.get(MEETING_PARAM, LIVE))
except ValueError:
    chosen = LIVE
if chosen not in known:
    chosen = LIVE
    st.query_params.pop(MEETING_PARAM, None)
pack = live_pack(version, today) if chosen == LIVE else past_pack(version, chosen)
summary, changes, participants = pack["summary"], pack["changes"], pack["participants"]
as_of = dt.date.fromisoformat(summary["as_of"])
trials = [t for t in summary["trials"]]
steps = [t["trial"] for t in trials] + ["Programme summary"]
step = min(st.session_state.get(STEP, 0), len(steps) - 1)


def go(delta: int) -> None:
    st.session_state[STEP] = max(0, min(len(steps) - 1, st.session_state.get(STEP, 0) + delta))


def reopen() -> None:
    picked = st.session_state["meeting.pick"]
    st.session_state[STEP] = 0
    if picked == LIVE:
        st.query_params.pop(MEETING_PARAM, None)
    else:
        st.query_params[MEETING_PARAM] = str(picked)


def meeting_label(meeting_id: int) -> str:
    if meeting_id == LIVE:
        return f"Today, live ({today:%d %b %Y})"
    m = known[meeting_id]
    return f"Meeting #{meeting_id} of {dt.date.fromisoformat(m['held_on']):%d %b %Y}, as it was"


# ---- the bar: this step's title, previous / next, which meeting; then what the data is ------------
since = changes["since"] if changes else None


def step_title() -> str:
    if step == len(trials):
        return "## Summary"
    t = trials[step]
    block = block_of(changes, t["trial"])
    moved = status_moved(block) if block else None
    return f"## {t['trial']} &nbsp;{common.status_markdown(t['status'] if t['has_data'] else None)}" + (
        f" :gray[({moved})]" if moved else ""
    )


with st.container(horizontal=True, vertical_alignment="center", gap="small"):
    st.button("Previous", icon=":material/arrow_back:", on_click=go, args=(-1,), disabled=step == 0, shortcut="Left", key="prev")
    st.button("Next", icon=":material/arrow_forward:", on_click=go, args=(1,), disabled=step == len(steps) - 1, shortcut="Right", key="next")
    st.markdown(step_title(), width="content")
    st.markdown(f":gray[step {step + 1} of {len(steps)}]", width="content")
    st.space("stretch")
    downloads = st.container(horizontal=True, gap="small", width="content")
    st.selectbox(
        "Meeting",
        [LIVE, *known],
        index=[LIVE, *known].index(chosen),
        format_func=meeting_label,
        key="meeting.pick",
        on_change=reopen,
        label_visibility="collapsed",
        width=300,
    )
st.markdown(
    "###### Steering meeting · "
    + f"data as of {as_of:%a %d %b %Y}"
    + (" (what this meeting saw)" if chosen != LIVE else "")
    + (
        f" · changes since the meeting of {dt.date.fromisoformat(since['held_on']):%d %b %Y} (#{since['meeting']})"
        if since
        else " · no earlier meeting recorded: nothing to compare with"
    )
    + (" · :orange[:material/science: demo data, not real patients]" if common.is_demo(version) else "")
)

if held := st.session_state.pop("meeting.held", None):
    st.toast(f"Meeting #{held} recorded: it keeps the data it saw, and changes now count from it.", icon=":material/check_circle:")


# ---- one trial -------------------------------------------------------------------------------------
def site_rows(table) -> "object":
    """The sites table turned for a narrow column: one row per measure, one column per site."""
    shown = table.set_index("Site")
    if "New" in shown:
        shown["New"] = [f"{n} ({late} late)" if late else str(n) for n, late in zip(shown["New"], shown.pop("of them late"), strict=True)]
        shown = shown.rename(columns={"No longer enrolled": "No longer in"})
    return shown.T.astype(str)


def trial_step(t: dict) -> None:
    code = t["trial"]
    block = block_of(changes, code)
    if not t["has_data"]:
        st.info(f"No extract received yet for {code}.")
        return
    f = t["forecast"]
    then = block["forecast_then"] if block else None
    with st.container(horizontal=True, gap="small"):
        st.metric("Enrolled / target", f"{t['enrolled']} / {t['target']}", **common.plan_delta(t["ahead_of_plan"]), width=230)
        st.metric(
            "Since last meeting",
            f"{sum(block['new_enrolments'].values()):+d}" if block else "–",
            f"enrolled then {block['enrolled_then']}" if block else None,
            delta_color="off",
            delta_arrow="off",
            width=210,
        )
        interval = f"90%: {month(f['p05'])} – {month(f['p95'])}" if f else ""
        moved_to = (f"was {month(then['median'])}" if month(then["median"]) != month(f["median"]) else "unchanged") if f and then else ""
        st.metric(
            "Forecast finish",
            month(f["median"]) if f else "–",
            " · ".join(p for p in (interval, moved_to) if p) or None,
            delta_color="off",
            delta_arrow="off",
            width=340,
        )
        st.metric(
            f"Chance by {month(t['planned_end_on'])}",
            f"{f['p_on_time']:.0%}" if f else "–",
            f"was {then['p_on_time']:.0%}" if f and then else None,
            delta_color="off",
            delta_arrow="off",
            width=210,
        )
    table = site_table(t, block)
    with downloads:
        st.download_button(
            "Sites CSV",
            csv_bytes(table),
            file_name=f"{code}_sites_{as_of.isoformat()}.csv",
            mime="text/csv",
            icon=":material/download:",
            key=f"csv-{code}",
        )
    if block:
        st.markdown(f"##### Since last meeting: {since_line(block)}")
    left, right = st.columns([11, 9], gap="medium")
    with left:
        plot(report.accrual_figure(programme, t, participants, as_of, height=275), f"meeting-accrual-{code}")
    with right:
        st.table(site_rows(table))
        st.caption("Data: " + " · ".join(f"{site} {common.arrival(version, as_of, code, site)}" for site in table["Site"]))
        if block and block["corrections"]:
            st.caption(
                "Corrected (not counted as new): "
                + "; ".join(
                    f"{c['site']} {common.plain(c['participant_id'])} ({', '.join(k.replace('_', ' ') for k, v in c.items() if isinstance(v, dict))})"
                    for c in block["corrections"]
                )
            )


def plot(figure, key: str) -> None:
    common.plot(figure, key)


# ---- the programme summary: mark as held, the pack ------------------------------------------------
def summary_step() -> None:
    for column, t in zip(st.columns(len(trials)), trials, strict=True):
        block = block_of(changes, t["trial"])
        f = t["forecast"]
        with column, st.container(border=True):
            status = t["status"] if t["has_data"] else None
            moved = status_moved(block) if block else None
            st.markdown(f"### {t['trial']} &nbsp;{common.status_markdown(status)}" + (f" :gray[({moved})]" if moved else ""))
            st.metric("Enrolled / target", f"{t['enrolled']} / {t['target']}")
            lines = []
            if block:
                lines.append(f"Since last meeting: **{since_line(block)}**")
            if f:
                then = block["forecast_then"] if block else None
                was = f", was {month(then['median'])}" if then and month(then["median"]) != month(f["median"]) else ""
                lines.append(f"Finish **{month(f['median'])}**{was}; chance on time {f['p_on_time']:.0%}")
            st.markdown("  \n".join(lines))
    if chosen != LIVE:
        m = known[chosen]
        st.markdown(
            f"Held on {dt.date.fromisoformat(m['held_on']):%d %B %Y} by {common.plain(m['held_by'])}."
            + (f" Note: {common.plain(m['note'])}" if m["note"] else "")
        )
    table = programme_table(summary, changes)
    with st.container(horizontal=True, gap="small"):
        if chosen == LIVE and common.allowed(who, "meeting"):  # the chair: a programme director
            with st.popover("Mark this meeting as held", icon=":material/event_available:", type="primary"):
                hold_form()
        st.download_button(
            "Meeting pack (HTML)",
            lambda: report.pack_html(programme, pack).encode("utf-8"),
            file_name=f"PUMP_meeting_pack_{as_of.isoformat()}.html",
            mime="text/html",
            icon=":material/download:",
            key="pack-html",
        )
        st.download_button(
            "Meeting pack (PDF)",
            lambda: report.html_to_pdf(report.pack_html(programme, pack)),
            file_name=f"PUMP_meeting_pack_{as_of.isoformat()}.pdf",
            mime="application/pdf",
            icon=":material/picture_as_pdf:",
            key="pack-pdf",
        )
        st.download_button(
            "Summary (CSV)",
            csv_bytes(table),
            file_name=f"PUMP_summary_{as_of.isoformat()}.csv",
            mime="text/csv",
            icon=":material/table:",
            key="csv-summary",
        )


def hold_form() -> None:
    with st.form("hold", clear_on_submit=True, border=False):
        st.markdown("It keeps the data it saw; the next meeting's changes count from it.")
        chair = who.email if who.mode == "signed_in" else st.text_input("Chair", value=service.current_user())
        note = st.text_input("Note for the minutes (optional; no patient names or numbers)", max_chars=500)
        if st.form_submit_button("Mark as held", icon=":material/event_available:", type="primary"):
            try:
                held = service.hold_meeting(store, chair, note, access=common.get_access())
            except service.Refused as refusal:
                st.error(f"Not recorded: {common.plain(refusal)}")
            else:
                st.session_state["meeting.held"] = held["meeting"]
                st.session_state[STEP] = 0
                st.rerun()


if step < len(trials):
    trial_step(trials[step])
else:
    summary_step()
