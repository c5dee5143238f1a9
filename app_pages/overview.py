"""Programme overview: per trial, enrolled against target, status, forecast and
cumulative accrual against the plan."""

import datetime as dt

import streamlit as st

from app_pages import common
from dashboard import charts, metrics, service

STATUS_BADGE = {"green": ("On track", "green"), "amber": ("At risk", "orange"), "red": ("Off track", "red")}

programme = common.get_programme()
version = common.data_version()
as_of = service.today()
participants, last_extract = common.snapshot(version, as_of)
summaries = {code: metrics.trial_summary(programme, code, participants, as_of, last_extract.get(code, {})) for code in programme.trials}

common.page_header("Programme overview", version)
st.caption(f"Data as of {as_of:%A %d %B %Y}. Accrual = participants with an enrolment date on or before that day.")


def month(iso: str) -> str:
    return f"{dt.date.fromisoformat(iso):%b %Y}"


def trial_tile(code: str, summary: dict) -> None:
    st.subheader(code)
    gap = round(summary["enrolled"] - summary["expected_by_now"])
    st.metric(
        "Enrolled / target",
        f"{summary['enrolled']} / {summary['target']}",
        f"{gap:+d} vs plan" if gap else "on plan",
        delta_color="normal" if gap else "off",
    )
    st.progress(min(1.0, summary["enrolled"] / summary["target"]), text=f"{summary['percent_of_target']:.0f}% of target")
    if not summary["status"]:
        st.info("No extract received yet for this trial.")
        return
    label, colour = STATUS_BADGE[summary["status"]]
    forecast = summary["forecast"]
    st.badge(label, color=colour)
    st.markdown(
        f"Forecast: **{month(forecast['median'])}**  \n"
        f"90% between {month(forecast['p05'])} and {month(forecast['p95'])}  \n"
        f"Chance of {summary['target']} by {month(summary['planned_end_on'])}: **{forecast['p_on_time']:.0%}**"
    )


for column, (code, summary) in zip(st.columns(len(summaries)), summaries.items(), strict=True):
    with column, st.container(border=True):
        trial_tile(code, summary)

for column, (code, trial) in zip(st.columns(len(summaries)), programme.trials.items(), strict=True):
    mine = participants[participants["trial"] == code]
    figure = charts.cumulative_accrual(
        f"{code} accrual",
        metrics.cumulative_accrual(mine, as_of),
        metrics.expected_curve(trial, as_of),
        summaries[code]["target"],
        as_of,
        trial.colour,
    )
    column.plotly_chart(figure, width="stretch", config={"displayModeBar": False}, key=f"accrual-{code}")

common.watch_for_new_data(version)
