"""Programme overview: per trial, enrolled against target, status, forecast with its interval,
pace against the pace needed, the slowest and the stale sites; cumulative accrual against the
plan; data freshness per site. Every number comes from `summary --json`'s computation.

Up to OVERVIEW_TILES_UP_TO trials each has a tile and an accrual chart; beyond, one sortable table
of trials with an inline accrual curve per row, and big charts for the chosen or worrying trials only."""

import pandas as pd
import streamlit as st

from app_pages import common
from dashboard import charts, metrics
from dashboard.overview import BIG_CHARTS_AT_MOST, SPARK_MONTHS, big_chart_trials, monthly_cumulative, trials_table, uses_tiles

common.require("overview")
programme = common.get_programme()
as_of, trials = common.view_controls()
version = common.data_version()
participants, last_extract = common.snapshot(version, as_of)
chosen = trials != list(programme.trials)
overview = common.summary(version, as_of, tuple(trials) if chosen else None)
summaries = {t["trial"]: t for t in overview["trials"] if t["trial"] in trials}

common.page_header("Programme overview", version)
common.data_as_of(overview, version)


def pace_line(s: dict) -> str:
    """The pace of the same recent months the forecast weighs, against the pace needed."""
    now = common.rate(s["rate_recent"])
    if s["enrolled"] >= s["target"]:
        return f"**Pace** {now} · target reached"
    if s["rate_needed"] is None:
        return f"**Pace** {now} · :red[planned end passed]"
    # Red only when the pace is below the pace needed as both are shown (0.5 beside 0.5 is not behind).
    colour = "green" if round(s["rate_recent"] or 0, 1) >= round(s["rate_needed"], 1) else "red"
    return f"**Pace** :{colour}[{now}] ({s['recent_months']} months) · **needed** {common.rate(s['rate_needed'])}"


def sites_line(s: dict) -> str:
    slow = s["slowest_site"]
    if slow is None:
        return ""
    rates = {x["site"]: x["rate_per_month"] for x in s["sites"] if x["rate_per_month"] is not None}
    others = ", ".join(f"{site} {r:.1f}" for site, r in rates.items() if site != slow)
    return f"**Slowest site** {slow} {rates[slow]:.1f}/month ({others})"


def trial_tile(s: dict) -> None:
    """Compact: the status beside the name, the count, then finish and chance, the first things read."""
    st.markdown(f"### {s['trial']} &nbsp;{common.status_markdown(s['status'] if s['has_data'] else None)}")
    gap = s["ahead_of_plan"]
    st.metric(
        f"Enrolled / target · {s['percent_of_target']:.0f}%",
        f"{s['enrolled']} / {s['target']}",
        **common.plan_delta(gap),
        help=f"{s['title'].split(' - ', 1)[-1]}. Planned by now: {s['expected_by_now']:.0f} (linear from opening to "
        f"the planned end, {common.month(s['planned_end_on'])}).",
    )
    if not s["has_data"]:
        st.info("No extract received yet for this trial.")
        return
    f = s["forecast"]
    lines = []
    if f is None:
        lines.append("No forecast: no site has an opening date.")
    else:
        lines.append(f"**Finish** {common.month(f['median'])} (90%: {common.month(f['p05'])} – {common.month(f['p95'])})")
        lines.append(f"**Chance by {common.month(s['planned_end_on'])}** {f['p_on_time']:.0%}")
    lines.append(pace_line(s))
    if line := sites_line(s):
        lines.append(line)
    st.markdown("  \n".join(lines))
    if why := metrics.story(s):
        st.caption(why)
    for site in s["sites"]:
        if site["stale"]:
            age = f"last extract {site['days_since_last_extract']} days ago" if site["last_extract_on"] else "no extract yet"
            st.markdown(f":orange[:material/warning: **{site['site']}** data stale: {age}]")


if not summaries:
    st.info("No trial chosen.")
    st.stop()

def accrual_charts(codes: list[str]) -> None:
    """The big accrual chart of each trial, three to a row; built once per data version, date and trial."""
    width = min(3, len(codes))
    for start in range(0, len(codes), width):
        row = codes[start : start + width]
        for column, code in zip(st.columns(width), row, strict=False):
            with column:
                common.plot(common.figure(("overview-accrual", version, as_of, code), lambda code=code: accrual_figure(code)), key=f"accrual-{code}")


def accrual_figure(code: str):
    trial, s = programme.trials[code], summaries[code]
    gap = s["ahead_of_plan"]
    verdict = f"{-gap} behind plan" if gap < 0 else f"{gap} ahead" if gap > 0 else "on plan"
    return charts.cumulative_accrual(
        f"{code}: {verdict}",
        metrics.cumulative_accrual(participants[participants["trial"] == code], as_of),
        metrics.expected_curve(trial, as_of),
        s["target"],
        as_of,
        trial.colour,
        height=340,
        compact=True,
    )


def trials_overview() -> None:
    """Many trials: one sortable table, worst first, with a small accrual curve per row (no Plotly per row)."""
    table = trials_table(list(summaries.values()), monthly_cumulative(participants, as_of, list(summaries)))
    counts = table["Status"].value_counts()
    st.markdown(
        f"**{len(table)} trials**: "
        + " · ".join(f"{label} {counts.get(label, 0)}" for label in ("Off track", "At risk", "On track", "No forecast") if counts.get(label, 0))
        + ". Worst first; click a column's name to sort by it."
    )
    end = "Chance of reaching the target by the planned end"
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=min(36 + 35 * len(table), 456),
        column_config={
            "Trial": st.column_config.TextColumn(pinned=True, width=100),
            "Status": st.column_config.TextColumn(width=80, help=f"From the chance of finishing on time, {common.basis_text(overview)}"),
            "Enrolled / target": st.column_config.TextColumn(width=120),
            "% of target": st.column_config.ProgressColumn(format="%.0f%%", min_value=0, max_value=100, width=85),
            "Finish": st.column_config.DateColumn(format="MMM YYYY", width=80, help="Forecast completion: the median date"),
            "90% interval": st.column_config.TextColumn(width=150, help="The forecast completion's 90% interval"),
            "Chance on time": st.column_config.NumberColumn(format="%d%%", width=115, help=end),
            "Planned end": st.column_config.DateColumn(format="MMM YYYY", width=90),
            "Pace": st.column_config.NumberColumn(format="%.1f", width=60, help=f"Enrolled per month, last {overview['recent_months']} months"),
            "Needed": st.column_config.NumberColumn(format="%.1f", width=65, help="Enrolled per month needed from now to reach the target by the planned end"),
            "Slowest site": st.column_config.TextColumn(width=80, help="The open site with the lowest enrolments per month open"),
            "Stale sites": st.column_config.TextColumn(width=80, help=f"Last extract more than {overview['stale_after_days']} days old, or none"),
            "Accrual": st.column_config.AreaChartColumn(
                f"Accrual, {SPARK_MONTHS} months", y_min=0, width=130, help=f"Enrolled so far, at the end of each of the last {SPARK_MONTHS} months"
            ),
        },
    )
    common.csv_download(table.drop(columns="Accrual"), f"PUMP_trials_{as_of.isoformat()}.csv", key="csv-trials")
    common.status_legend(overview)
    codes, why = big_chart_trials(list(summaries.values()), chosen, BIG_CHARTS_AT_MOST)
    st.subheader("Cumulative accrual against the plan")
    st.caption(f"{why} Solid: enrolled. Dashed: the planned curve. Dotted: the target." if codes else why)
    if codes:
        accrual_charts(codes)


# A phone's first screen answers for every trial: one compact line each (hidden on wider screens, whose
# tiles sit side by side), then the details.
PHONE_LINES = """<style>
.st-key-phone-lines { display: none; }
@media (max-width: 640px) { .st-key-phone-lines { display: flex; } }
</style>"""


def phone_line(s: dict) -> str:
    f = s["forecast"]
    finish = f"finish {common.month(f['median'])}" if s["has_data"] and f else "no forecast yet"
    return f"**{s['trial']}** {s['enrolled']} / {s['target']} &nbsp;{common.status_markdown(s['status'] if s['has_data'] else None)} {finish}"


if uses_tiles(len(summaries)):
    st.html(PHONE_LINES)
    with st.container(key="phone-lines", border=True):
        st.markdown("  \n".join(phone_line(s) for s in summaries.values()))
    width = min(3, len(summaries))
    for start in range(0, len(summaries), width):
        row = list(summaries.values())[start : start + width]
        for column, s in zip(st.columns(width), row, strict=False):
            with column, st.container(border=True):
                trial_tile(s)
    common.status_legend(overview)

    st.subheader("Cumulative accrual against the plan")
    st.caption("Solid: enrolled. Dashed: the planned curve (it steps where an amendment changed the target or the end date). Dotted: the target.")
    accrual_charts(list(summaries))
else:
    trials_overview()

st.subheader("Data freshness per site")
rows = [
    {
        "Trial": s["trial"],
        "Site": site["site"],
        "Last extract": pd.Timestamp(site["last_extract_on"]) if site["last_extract_on"] else pd.NaT,
        "Days since extract": site["days_since_last_extract"],
        "Last enrolment": pd.Timestamp(site["last_enrolment_on"]) if site["last_enrolment_on"] else pd.NaT,
        "Days since enrolment": site["days_since_last_enrolment"],
        "Data": "stale" if site["stale"] else "fresh",
        "How it came": common.arrival(version, as_of, s["trial"], site["site"]),
    }
    for s in summaries.values()
    for site in s["sites"]
]
freshness = pd.DataFrame(rows)


def highlight_stale(row: pd.Series) -> list[str]:
    style = "background-color: #fdebd0; color: #873600; font-weight: 600" if row["Data"] == "stale" else ""
    return [style] * len(row)


st.dataframe(
    freshness.style.apply(highlight_stale, axis=1),
    hide_index=True,
    width="stretch",
    column_config={
        "Last extract": st.column_config.DateColumn(format="DD MMM YYYY"),
        "Last enrolment": st.column_config.DateColumn(format="DD MMM YYYY"),
        "Days since extract": st.column_config.NumberColumn(help="Days between the last accepted extract and the as-of date"),
        "Data": st.column_config.TextColumn(
            help=f"Stale: the site's last extract is more than {overview['stale_after_days']} days old, or there is none"
        ),
    },
)
common.csv_download(freshness, f"PUMP_freshness_{as_of.isoformat()}.csv", key="csv-freshness")
