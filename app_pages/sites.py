"""Site comparison: per site and trial, enrolled, months open, rate per month open, recent
pace, days since the last enrolment, screen-fail rate and data freshness; accrual curves
aligned on each site's activation. Sites with no recruit are shown, never dropped."""

import pandas as pd
import streamlit as st

from app_pages import common
from dashboard import charts, metrics
from dashboard.overview import sites_page_charted
from dashboard.rounding import whole_site_figures

common.require("sites")
programme = common.get_programme()
as_of, trials = common.view_controls()
version = common.data_version()
participants, last_extract = common.snapshot(version, as_of)
overview = common.summary(version, as_of, None)  # the same cache entry as the overview's
summaries = [t for t in overview["trials"] if t["trial"] in trials]

common.page_header("Site comparison", version)
common.data_as_of(overview, version)


def slowest_title(shown: list[dict]) -> str:
    """The message of the rates chart: the slowest site of each trial, counted when there are many."""
    slowest: dict[str, list[str]] = {}
    for s in shown:
        if s["slowest_site"]:
            slowest.setdefault(s["slowest_site"], []).append(s["trial"])
    if not slowest:
        return "Enrolments per month open, by site"
    named = "; ".join(f"{site} in {', '.join(codes) if len(codes) <= 3 else f'{len(codes)} trials'}" for site, codes in slowest.items())
    return f"Slowest site: {named}"


def aligned_figure(code: str):
    """One trial's sites' accrual against months since each opened; None when no site is open yet."""
    trial = programme.trials[code]
    curves = metrics.aligned_site_curves(trial, participants[participants["trial"] == code], as_of)
    if curves.empty:
        return None
    s = next(t for t in summaries if t["trial"] == code)
    open_sites = [x for x in s["sites"] if x["rate_per_month"] is not None]
    fastest = max(open_sites, key=lambda x: x["rate_per_month"])["site"] if len(open_sites) > 1 else None
    title = f"{code}: {fastest} fastest" if fastest else code
    return charts.aligned_curves(title, curves, common.site_colours(programme, list(trial.sites)), as_of)


def aligned_chart(code: str) -> None:
    """Built once per data version, date and trial (the curves too): a redraw costs no work."""
    figure = common.figure(("aligned", version, as_of, code), lambda: aligned_figure(code))
    if figure is None:
        st.info(f"{code}: no site open yet.")
    else:
        common.plot(figure, key=f"aligned-{code}")


def extract_text(site: dict) -> str:
    """The date of the site's last extract."""
    return "none" if site["last_extract_on"] is None else common.day(site["last_extract_on"])


def data_text(site: dict) -> str:
    """Freshness in one column: only a stale site's cell says so, so it stands out."""
    return "⚠ stale" if site["stale"] else "fresh"


every = [(s, site) for s in summaries for site in s["sites"]]
# Per-site targets and expected-by-now in whole numbers that add up to the trial's (never 46 for 45).
whole = {(s["trial"], site): figures for s in summaries for site, figures in whole_site_figures(s).items()}
targets = {key: target for key, (target, _) in whole.items()}
expected = {key: by_now for key, (_, by_now) in whole.items()}
rows = pd.DataFrame(
    [
        {
            "Trial": s["trial"],
            "Site": site["site"],
            "Enrolled": site["enrolled"],
            "Target": targets[s["trial"], site["site"]],
            "Expected now": expected[s["trial"], site["site"]],
            "Rate": site["rate_per_month"],
            "6 months": site["rate_6m"],
            "Last enrolment": site["days_since_last_enrolment"],
            "Data": data_text(site),
        }
        for s, site in every
    ]
)
details = pd.DataFrame(
    [
        {
            "Trial": s["trial"],
            "Site": site["site"],
            "By end": "–" if site["enrolled_by_end_median"] is None else (
                f"{site['enrolled_by_end_median']} ({site['enrolled_by_end_p05']}–{site['enrolled_by_end_p95']})"
            ),
            "Months open": site["months_open"],
            "3 months": site["rate_3m"],
            "Screen-fail": None if site["screen_fail_rate"] is None else 100 * site["screen_fail_rate"],
            "Last extract": extract_text(site),
            "How it came": common.arrival(version, as_of, s["trial"], site["site"]),
        }
        for s, site in every
    ]
)

st.subheader("Per site and trial", anchor=False)
rate_format = "%.2f"
# Nine columns that fit a laptop's 1280 pixels; the rest in the detail table below it.
st.dataframe(
    rows,
    hide_index=True,
    width="stretch",
    column_config={
        "Trial": st.column_config.TextColumn(width=80, pinned=True),
        "Site": st.column_config.TextColumn(width=50),
        "Enrolled": st.column_config.NumberColumn(width=70),
        "Target": st.column_config.NumberColumn(format="%.0f", width=60, help="The site's planned share of the trial's target"),
        "Expected now": st.column_config.NumberColumn(
            format="%.0f", width=100, help="The site's share of the planned accrual curve at the as-of date"
        ),
        "Rate": st.column_config.NumberColumn(format=rate_format, width=60, help="Enrolled per month open"),
        "6 months": st.column_config.NumberColumn(format=rate_format, width=80, help="Enrolled per month over the last 6 months"),
        "Last enrolment": st.column_config.NumberColumn(format="%d days ago", width=120, help="Days since the site's last enrolment"),
        "Data": st.column_config.TextColumn(
            width=80,
            help=f"Stale: the site's last extract is more than {programme.stale_after_days} days before the as-of date, or there is none",
        ),
    },
)
with st.expander("More per site: forecast by the planned end, months open, 3-month pace, screen-fail rate, last extract"):
    st.dataframe(
        details,
        hide_index=True,
        width="stretch",
        column_config={
            "Trial": st.column_config.TextColumn(width=80, pinned=True),
            "Site": st.column_config.TextColumn(width=50),
            "By end": st.column_config.TextColumn(
                width=110,
                help="Enrolled at the site by the trial's planned end: median (90% interval), from the site's own pace "
                "(negative binomial under its Gamma posterior)",
            ),
            "Months open": st.column_config.NumberColumn(format="%.1f", width=100, help="From the site's activation to the as-of date"),
            "3 months": st.column_config.NumberColumn(format=rate_format, width=80, help="Enrolled per month over the last 3 months"),
            "Screen-fail": st.column_config.NumberColumn(format="%.0f%%", width=90, help="Ineligible or declined, of the screened with an outcome"),
            "Last extract": st.column_config.TextColumn(help="The day the site's current data was last uploaded or confirmed"),
        },
    )
common.csv_download(rows.merge(details, on=["Trial", "Site"]), f"PUMP_sites_{as_of.isoformat()}.csv", key="csv-sites")

st.caption(
    "Target: the site's planned share of the trial's target; expected now: that share of the planned curve. Rate: enrolled per "
    "month open (months of 30.44 days since the site opened); 6 months: the rate over the last 6 months. ⚠ stale: the "
    f"site's last extract is more than {programme.stale_after_days} days old. A site with no recruit is listed all the same. "
    + metrics.model_text(overview)
)

charted, why = sites_page_charted(summaries, chosen=len(trials) < len(programme.trials))
shown = [s for s in summaries if s["trial"] in charted]
sites_in_view = sorted({site for code in charted for site in programme.trials[code].sites})
colours = common.site_colours(programme, sites_in_view)
rates = pd.DataFrame(
    [
        {"trial": s["trial"], "site": site["site"], "rate_per_month": site["rate_per_month"], "rate_6m": site["rate_6m"]}
        for s in shown
        for site in s["sites"]
    ],
    columns=["trial", "site", "rate_per_month", "rate_6m"],
)
if why:
    st.caption(why)
if shown:
    common.plot(
        common.figure(("site-rates", version, as_of, tuple(charted)), lambda: charts.site_rates(slowest_title(shown), rates, colours, as_of)),
        key="site-rates",
    )

    st.subheader("Accrual since each site opened", anchor=False)
    st.caption("Each site's cumulative enrolments against the months since it opened, so sites that opened years apart compare like for like.")
width = min(3, len(charted))
for start in range(0, len(charted), width):
    for column, code in zip(st.columns(width), charted[start : start + width], strict=False):
        with column:
            aligned_chart(code)
