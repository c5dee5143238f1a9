"""Programme overview: per trial, enrolled against target and cumulative accrual."""

import datetime as dt

import streamlit as st

from dashboard import charts, metrics
from pages import common

STATUS_BADGE = {"green": ("On track", "green"), "amber": ("At risk", "orange"), "red": ("Off track", "red")}

programme = common.get_programme()
version = common.data_version()
as_of = dt.date.today()
participants, last_extract = common.snapshot(version, as_of)

common.page_header("Programme overview", version)
st.caption(f"Data as of {as_of:%A %d %B %Y}. Accrual = participants with an enrolment date on or before that day.")

columns = st.columns(len(programme.trials), gap="large")
for column, (code, trial) in zip(columns, programme.trials.items(), strict=True):
    summary = metrics.trial_summary(programme, code, participants, as_of, last_extract.get(code, {}))
    with column, st.container(border=True):
        st.subheader(code)
        st.caption(trial.title.split(" - ", 1)[-1])
        st.metric(
            "Enrolled / target",
            f"{summary['enrolled']} / {summary['target']}",
            f"{summary['enrolled'] - summary['expected_by_now']:+.0f} vs plan",
            delta_color="normal",
            border=False,
        )
        st.progress(min(1.0, summary["enrolled"] / summary["target"]), text=f"{summary['percent_of_target']:.0f}% of target")
        if summary["status"]:
            label, colour = STATUS_BADGE[summary["status"]]
            f = summary["forecast"]
            st.badge(label, color=colour)
            st.markdown(
                f"Forecast completion **{dt.date.fromisoformat(f['median']):%b %Y}**  \n"
                f"90% interval {dt.date.fromisoformat(f['p05']):%b %Y} – {dt.date.fromisoformat(f['p95']):%b %Y}  \n"
                f"Chance of reaching {summary['target']} by {dt.date.fromisoformat(summary['planned_end_on']):%b %Y}: "
                f"**{f['p_on_time']:.0%}**"
            )
        else:
            st.info("No extract received yet for this trial.")
        mine = participants[participants["trial"] == code]
        figure = charts.cumulative_accrual(
            f"{code}: cumulative accrual",
            metrics.cumulative_accrual(mine, as_of),
            metrics.expected_curve(trial, as_of),
            summary["target"],
            as_of,
            trial.colour,
        )
        st.plotly_chart(figure, width="stretch", config={"displayModeBar": False}, key=f"accrual-{code}")

common.watch_for_new_data(version)
