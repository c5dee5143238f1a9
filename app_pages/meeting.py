"""Steering meeting: made for a projector (1920x1080, and 1280x720 when it is old). One trial
per step with previous/next (or the arrow keys), then the programme summary, where the chair
marks the meeting as held and downloads the pack. Any past meeting reopens as it was. Every
number is `changes --json`'s and `summary --json`'s (service.meeting_pack)."""

import datetime as dt

import streamlit as st

from app_pages import common
from dashboard import consort, metrics, report, service
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
# ... and the height: less empty space above the first row than the other pages keep. Each step fills the
# screen it is shown on (1920x1080, or 1280x720 on an old projector) without a scroll: the numbers large, the
# chart taking the height that is left (from the viewport, not a fixed number of pixels), the tables legible
# from the back of the room. On a phone the columns stack and the chart keeps a readable height.
PROJECTOR_CSS = """<style>
[data-testid='stMainBlockContainer'] { padding-top: 3.9rem; }
[data-testid='stMainBlockContainer'] [data-testid='stMetricValue'] { font-size: clamp(2rem, 5.2vh, 3.4rem); }
[data-testid='stMainBlockContainer'] [data-testid='stMetricLabel'] p { font-size: clamp(0.95rem, 2.1vh, 1.35rem); }
[data-testid='stMainBlockContainer'] [data-testid='stMetricDelta'] { font-size: clamp(0.9rem, 1.9vh, 1.25rem); }
.st-key-meeting-sites table { font-size: clamp(0.85rem, 2.2vh, 1.6rem); }
.st-key-meeting-sites td, .st-key-meeting-sites th { padding-top: 0.25em !important; padding-bottom: 0.25em !important; }
.st-key-meeting-summary table { font-size: clamp(1.05rem, 2.6vh, 1.8rem); }
.st-key-meeting-consort img { max-height: calc(100vh - 19rem); width: auto !important; max-width: 100%; }
/* A screen wider than a phone: the page is one screen high and the chart row takes what the rows above leave. */
@media (min-width: 641px) {
  [data-testid='stMainBlockContainer'] { height: 100vh; padding-bottom: 1rem; box-sizing: border-box; }
  [data-testid='stMainBlockContainer'] > [data-testid='stVerticalBlock'] { height: 100%; }
  [data-testid='stLayoutWrapper']:has(> .st-key-meeting-body) { flex: 1 1 0 !important; min-height: 220px; }
  /* The sites table keeps to the row's height: on an old projector a long one scrolls inside it, not the page. */
  [data-testid='stLayoutWrapper']:has(> .st-key-meeting-sites) { flex: 1 1 0 !important; min-height: 0; }
  .st-key-meeting-sites { height: 100%; overflow-y: auto; flex-wrap: nowrap; }
  [data-testid='stLayoutWrapper']:has(> .st-key-meeting-chart) { flex: 1 1 0 !important; min-height: 0; }
  .st-key-meeting-body, .st-key-meeting-chart { height: 100%; }
  .st-key-meeting-body [data-testid='stLayoutWrapper']:has(> [data-testid='stHorizontalBlock']) { height: 100%; }
  .st-key-meeting-chart > .stElementContainer { flex: 1 1 0; min-height: 0; }
}
@media (max-width: 640px) {
  .st-key-meeting-chart { height: 26rem; flex: 0 0 auto !important; }
  .st-key-meeting-chart > .stElementContainer { flex: 1 1 0; min-height: 0; }
  [data-testid='stMainBlockContainer'] { padding-top: 3rem; }
}
</style>"""
st.html(PROJECTOR_CSS)
st.html(common.COMPACT_CSS)
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
CONSORT_STEP = "CONSORT flows"
steps = [t["trial"] for t in trials] + [CONSORT_STEP, "Programme summary"]
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


def step_note() -> str:
    """The step's number and, on a trial's step, the model its status and finish come from, in a few words: in
    the header's free width, so the step keeps its height on a 1280x720 projector."""
    text = f"step {step + 1} of {len(steps)}"
    if step < len(trials) and trials[step]["has_data"]:
        text += f" · {metrics.model_label(trials[step], compact=True)}"
    return f":gray[{text}]"


def step_title() -> str:
    if steps[step] == CONSORT_STEP:
        return "## CONSORT flow"
    if step > len(trials):
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
    st.markdown(step_note(), width="content")
    st.space("stretch")
    if chosen == LIVE:  # today is live: new data redraws the meeting as it does every page
        with st.container(width="content"):
            common.watch_for_new_data(version)
    downloads = st.container(horizontal=True, gap="small", width="content")
context_line, pick = st.columns([3, 1], vertical_alignment="center")
context_line.markdown(
    "###### Steering meeting · "
    + f"data as of {as_of:%d %b %Y}"
    + (" (what this meeting saw)" if chosen != LIVE else "")
    + (
        f" · changes since the meeting of {dt.date.fromisoformat(since['held_on']):%d %b %Y} (#{since['meeting']})"
        if since
        else " · no earlier meeting recorded: nothing to compare with"
    )
    + (" · :orange-badge[:material/science: demo data]" if common.is_demo(version) else "")
)
pick.selectbox(
    "Meeting",
    [LIVE, *known],
    index=[LIVE, *known].index(chosen),
    format_func=meeting_label,
    key="meeting.pick",
    on_change=reopen,
    label_visibility="collapsed",
)

if held := st.session_state.pop("meeting.held", None):
    st.toast(f"Meeting #{held} recorded: it keeps the data it saw, and changes now count from it.", icon=":material/check_circle:")
demo = common.is_demo(version)


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
    enrolled, new, finish, chance = st.columns([1, 1, 1.6, 1], gap="small")
    interval = f"90%: {month(f['p05'])} – {month(f['p95'])}" if f else ""
    moved_to = (f"was {month(then['median'])}" if month(then["median"]) != month(f["median"]) else "unchanged") if f and then else ""
    off = {"delta_color": "off", "delta_arrow": "off"}
    enrolled.metric("Enrolled / target", f"{t['enrolled']} / {t['target']}", **common.plan_delta(t["ahead_of_plan"]))
    new.metric(
        "Since last meeting",
        f"{sum(block['new_enrolments'].values()):+d}" if block else "–",
        f"enrolled then {block['enrolled_then']}" if block else None,
        **off,
    )
    finish.metric("Forecast finish", month(f["median"]) if f else "–", " · ".join(p for p in (interval, moved_to) if p) or None, **off)
    chance.metric(
        f"Chance by {month(t['planned_end_on'])}", f"{f['p_on_time']:.0%}" if f else "–", f"was {then['p_on_time']:.0%}" if f and then else None, **off
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
    lines = [f"**Since last meeting: {since_line(block)}**"] if block else []
    if why := metrics.story(t):  # the status and the plan seem to disagree: the line that says why
        lines.append(f":small[:material/info: {why}]")
    if lines:
        st.markdown("  \n".join(lines))
    with st.container(key="meeting-body"):
        left, right = st.columns([3, 2], gap="medium")
    with left, st.container(key="meeting-chart"):
        figure = common.figure(("meeting-accrual", version, chosen, as_of, code), lambda: report.accrual_figure(programme, t, participants, as_of))
        common.plot(figure, f"meeting-accrual-{code}", height="stretch")
    with right, st.container(key="meeting-sites"):
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


# ---- the CONSORT flow of each trial ----------------------------------------------------------------
def consort_step() -> None:
    codes = [t["trial"] for t in trials]
    code = st.segmented_control("Trial", codes, default=codes[0], key="meeting.flow_of", label_visibility="collapsed") or codes[0]
    with st.container(key="meeting-consort"):
        common.consort_flow(consort.flow(code, programme.trials[code], participants, as_of))


# ---- the programme summary: mark as held, the pack ------------------------------------------------
def summary_rows() -> "object":
    """One row per trial, readable from the back of the room: the programme table in six columns."""
    table = programme_table(summary, changes)
    table["Enrolled / target"] = [f"{e} / {g}" for e, g in zip(table["Enrolled"], table["Target"], strict=True)]
    table["Finish (90% interval)"] = [
        finish if finish == "–" else f"{finish} ({interval})" for finish, interval in zip(table["Forecast finish"], table["90% interval"], strict=True)
    ]
    order = ["Trial", "Status", "Enrolled / target", "Since last meeting", "Finish (90% interval)", "Chance on time"]
    return table[order].set_index("Trial")


def why_lines() -> str:
    """The reason line of each trial whose status and plan seem to disagree, under the table."""
    return "  \n".join(f"**{t['trial']}**: {why}" for t in trials if (why := metrics.story(t)))


def pack_buttons(meeting_pack: dict, label: str, file_stem: str, key: str) -> None:
    st.download_button(
        f"{label} (PDF)",
        lambda: report.html_to_pdf(report.pack_html(programme, meeting_pack, demo=demo)),
        file_name=f"{file_stem}.pdf",
        mime="application/pdf",
        icon=":material/picture_as_pdf:",
        key=f"{key}-pdf",
        type="primary" if key.startswith("held") else "secondary",
    )
    st.download_button(
        f"{label} (HTML)",
        lambda: report.pack_html(programme, meeting_pack, demo=demo).encode("utf-8"),
        file_name=f"{file_stem}.html",
        mime="text/html",
        icon=":material/download:",
        key=f"{key}-html",
    )


def summary_step() -> None:
    if chosen != LIVE:
        m = known[chosen]
        st.markdown(
            f"Held on {dt.date.fromisoformat(m['held_on']):%d %B %Y} by {common.plain(m['held_by'])}."
            + (f" Note: {common.plain(m['note'])}" if m["note"] else "")
        )
    with st.container(key="meeting-summary"):
        st.table(summary_rows())
        if why := why_lines():
            st.markdown(f":small[{why}]")
    held = st.session_state.get(HELD)
    if chosen == LIVE and held in known:  # just marked as held: the pack for its minutes, at once
        with st.container(horizontal=True, gap="small", vertical_alignment="center"):
            st.markdown(f":material/check_circle: **Meeting #{held} recorded.** Its pack for the minutes:", width="content")
            pack_buttons(past_pack(version, held), f"Pack of meeting #{held}", f"PUMP_meeting_{held}_pack", f"held-{held}")
    with st.container(horizontal=True, gap="small"):
        if chosen == LIVE and common.allowed(who, "meeting"):  # the chair: a programme director
            with st.popover("Mark this meeting as held", icon=":material/event_available:", type="primary"):
                hold_form()
        if chosen == LIVE:
            pack_buttons(pack, "Meeting pack", f"PUMP_meeting_pack_{as_of.isoformat()}", "pack")
        else:
            pack_buttons(pack, f"Pack of meeting #{chosen}", f"PUMP_meeting_{chosen}_pack", f"past-{chosen}")
        st.download_button(
            "Summary (CSV)",
            csv_bytes(programme_table(summary, changes)),
            file_name=f"PUMP_summary_{as_of.isoformat()}.csv",
            mime="text/csv",
            icon=":material/table:",
            key="csv-summary",
        )


HELD = "meeting.just_held"


def hold_form() -> None:
    with st.form("hold", clear_on_submit=True, border=False):
        st.markdown("It keeps the data it saw; the next meeting's changes count from it.")
        # The chair is the signed-in person; in local mode the name is typed (never the computer's user name).
        chair = who.email if who.mode == "signed_in" else st.text_input("Chair", placeholder="The chair's name")
        note = st.text_input("Note for the minutes (optional; no patient names or numbers)", max_chars=500)
        if st.form_submit_button("Mark as held", icon=":material/event_available:", type="primary"):
            if not (chair or "").strip():
                st.error("Type the chair's name: it stands in the pack and the audit log.")
                return
            try:
                held = service.hold_meeting(store, chair.strip(), note, access=common.get_access())
            except service.Refused as refusal:
                st.error(f"Not recorded: {common.plain(refusal)}")
            else:
                st.session_state["meeting.held"] = held["meeting"]
                st.session_state[HELD] = held["meeting"]
                st.rerun()


if step < len(trials):
    trial_step(trials[step])
elif steps[step] == CONSORT_STEP:
    consort_step()
else:
    summary_step()
