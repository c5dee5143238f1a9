"""Site comparison: per site and trial, enrolled, months open, rate per month open, recent
pace, days since the last enrolment, screen-fail rate and data freshness; accrual curves
aligned on each site's activation. Sites with no recruit are shown, never dropped."""

import pandas as pd
import streamlit as st

from app_pages import common
from dashboard import charts, metrics

common.require("sites")
programme = common.get_programme()
as_of, trials = common.view_controls()
version = common.data_version()
participants, last_extract = common.snapshot(version, as_of)
overview = common.summary(version, as_of, None)  # the same cache entry as the overview's
summaries = [t for t in overview["trials"] if t["trial"] in trials]

common.page_header("Site comparison", version)
common.data_as_of(overview, version)

def extract_text(site: dict) -> str:
    """The date of the site's last extract, marked ⚠ when stale."""
    if site["last_extract_on"] is None:
        return "⚠ none"
    day = f"{pd.Timestamp(site['last_extract_on']):%d %b %Y}"
    return f"⚠ {day}" if site["stale"] else day


rows = pd.DataFrame(
    [
        {
            "Trial": s["trial"],
            "Site": site["site"],
            "Enrolled": site["enrolled"],
            "Target": site["target"],
            "Expected now": site["expected_by_now"],
            "By end": "–" if site["enrolled_by_end_median"] is None else (
                f"{site['enrolled_by_end_median']} ({site['enrolled_by_end_p05']}–{site['enrolled_by_end_p95']})"
            ),
            "Months open": site["months_open"],
            "Rate": site["rate_per_month"],
            "3 months": site["rate_3m"],
            "6 months": site["rate_6m"],
            "Last enrolment": site["days_since_last_enrolment"],
            "Screen-fail": None if site["screen_fail_rate"] is None else 100 * site["screen_fail_rate"],
            "Last extract": extract_text(site),
            "How it came": common.arrival(version, as_of, s["trial"], site["site"]),
        }
        for s in summaries
        for site in s["sites"]
    ]
)


def highlight(row: pd.Series) -> list[str]:
    return ["background-color: #fdebd0; color: #873600" if row["Last extract"].startswith("⚠") else ""] * len(row)


st.subheader("Per site and trial", anchor=False)
rate_format = "%.2f"
st.dataframe(
    rows.style.apply(highlight, axis=1),
    hide_index=True,
    width="stretch",
    column_config={
        "Trial": st.column_config.TextColumn(width=70),
        "Site": st.column_config.TextColumn(width=45),
        "Enrolled": st.column_config.NumberColumn(width=65),
        "Target": st.column_config.NumberColumn(format="%.0f", width=60, help="The site's planned share of the trial's target"),
        "Expected now": st.column_config.NumberColumn(
            format="%.0f", width=85, help="The site's share of the planned accrual curve at the as-of date"
        ),
        "By end": st.column_config.TextColumn(
            width=90,
            help="Enrolled at the site by the trial's planned end: median (90% interval), from the site's own pace "
            "(negative binomial under its Gamma posterior)",
        ),
        "Months open": st.column_config.NumberColumn(format="%.1f", width=95, help="From the site's activation to the as-of date"),
        "Rate": st.column_config.NumberColumn(format=rate_format, width=50, help="Enrolled per month open"),
        "3 months": st.column_config.NumberColumn(format=rate_format, width=70, help="Enrolled per month over the last 3 months"),
        "6 months": st.column_config.NumberColumn(format=rate_format, width=70, help="Enrolled per month over the last 6 months"),
        "Last enrolment": st.column_config.NumberColumn(format="%d days ago", width=110, help="Days since the site's last enrolment"),
        "Screen-fail": st.column_config.NumberColumn(format="%.0f%%", width=80, help="Ineligible or declined, of the screened with an outcome"),
        "Last extract": st.column_config.TextColumn(
            help=f"The day the site's current data was last uploaded or confirmed; stale when more than "
            f"{programme.stale_after_days} days before the as-of date, or none"
        ),
    },
)
common.csv_download(rows, f"PUMP_sites_{as_of.isoformat()}.csv", key="csv-sites")

st.caption(
    "Target: the site's planned share of the trial's target; expected now: that share of the planned curve; by end: "
    "enrolled at the site by the planned end, median (90% interval). Rate: enrolled per month open (months of 30.44 days since the site opened); 3 and 6 months: the rate over the "
    "last 3 and 6 months. Screen-fail: ineligible or declined, of the screened with an outcome. ⚠ stale: the "
    f"site's last extract is more than {programme.stale_after_days} days old. A site with no recruit is listed all the same."
)

sites_in_view = sorted({site for code in trials for site in programme.trials[code].sites})
colours = common.site_colours(programme, sites_in_view)
rates = pd.DataFrame(
    [
        {"trial": s["trial"], "site": site["site"], "rate_per_month": site["rate_per_month"], "rate_6m": site["rate_6m"]}
        for s in summaries
        for site in s["sites"]
    ]
)
slowest: dict[str, list[str]] = {}
for s in summaries:
    if s["slowest_site"]:
        slowest.setdefault(s["slowest_site"], []).append(s["trial"])
title = "Slowest site: " + "; ".join(f"{site} in {', '.join(codes)}" for site, codes in slowest.items()) if slowest else "Enrolments per month open, by site"
common.plot(charts.site_rates(title, rates, colours, as_of), key="site-rates")

st.subheader("Accrual since each site opened", anchor=False)
st.caption("Each site's cumulative enrolments against the months since it opened, so sites that opened years apart compare like for like.")
width = min(3, len(trials))
for start in range(0, len(trials), width):
    for column, code in zip(st.columns(width), trials[start : start + width], strict=False):
        trial = programme.trials[code]
        mine = participants[participants["trial"] == code]
        curves = metrics.aligned_site_curves(trial, mine, as_of)
        with column:
            if curves.empty:
                st.info(f"{code}: no site open yet.")
                continue
            s = next(t for t in summaries if t["trial"] == code)
            open_sites = [x for x in s["sites"] if x["rate_per_month"] is not None]
            fastest = max(open_sites, key=lambda x: x["rate_per_month"])["site"] if len(open_sites) > 1 else None
            common.plot(
                charts.aligned_curves(
                    f"{code}: {fastest} fastest" if fastest else code, curves, common.site_colours(programme, list(trial.sites)), as_of
                ),
                key=f"aligned-{code}",
            )
