"""Trial status: one trial in depth. Accrual with the forecast fan, monthly enrolments by
site against the rate needed, screening funnel and screen-fail reasons, arm balance
(randomised trials), participant statuses and HAIP milestones."""

import datetime as dt

import pandas as pd
import streamlit as st

from app_pages import common
from dashboard import charts, consort, metrics, whatif
from dashboard.rounding import whole_site_figures

MONTHS_SHOWN = 24

common.require("trial")
programme = common.get_programme()
as_of, trials = common.view_controls()
version = common.data_version()
overview = common.summary(version, as_of, ())  # the programme's settings and newest extract; no trial computed

common.page_header("Trial status", version)
common.data_as_of(overview, version)

heading, chooser = st.columns([3, 2], vertical_alignment="center")
with chooser:
    if len(trials) > 1:
        code = st.segmented_control(
            "Trial", trials, default=trials[0], required=True, key="show", bind="query-params", label_visibility="collapsed"
        )
    else:
        code = trials[0]
trial = programme.trials[code]
s = common.trial_summary(version, as_of, code)  # this trial alone
mine = common.trial_rows(version, as_of, code)
certainty = programme.forecast_prior_certainty

heading.markdown(
    f"### {code} &nbsp;{common.status_markdown(s['status'] if s['has_data'] else None)}",
    help=" · ".join(
        p
        for p in (
            trial.title.split(" - ", 1)[-1],
            trial.design,
            f"target {s['target']} by {common.month(s['planned_end_on'])}",
            f"open since {dt.date.fromisoformat(s['opened_on']):%b %Y}",
            f"sites {', '.join(trial.sites)}",
            trial.registry_id,
        )
        if p
    ),
)

f = s["forecast"]
left_to_enrol = max(0, s["target"] - s["enrolled"])
gap = s["ahead_of_plan"]
recent_basis = s["forecast_basis"] == "recent"
pace_label = f"Pace, last {s['recent_months']} months"


def headline_numbers(width: int | str = "stretch") -> None:
    """The numbers a director reads first: beside the chart on a laptop, above it on a phone."""

    def metric(*args, **kwargs) -> None:
        common.metric(*args, width=width, **kwargs)

    metric(
        "Enrolled / target",
        f"{s['enrolled']} / {s['target']}",
        **common.plan_delta(gap),
        help=f"Planned by now: {s['expected_by_now']:.0f}",
    )
    metric(
        "Forecast finish (90%)",
        common.month(f["median"]) if f else "–",
        f"{common.month(f['p05'])} – {common.month(f['p95'])}" if f and left_to_enrol else None,
        delta_color="off",
        delta_arrow="off",
        help=f"Median of the Bayesian accrual forecast. {s['forecast_model_text']}",
    )
    metric(f"Chance by {common.month(s['planned_end_on'])}", f"{f['p_on_time']:.0%}" if f else "–")
    metric(
        f"Enrolled by {common.month(s['planned_end_on'])}",  # short: the whole label shows at 1280 px
        "–" if s["enrolled_by_end_median"] is None else f"{s['enrolled_by_end_median']}",
        None if s["enrolled_by_end_median"] is None else f"{s['enrolled_by_end_p05']} – {s['enrolled_by_end_p95']}",
        delta_color="off",
        delta_arrow="off",
        help="The number enrolled by the planned end at the same pace (median; below it the 90% interval): "
        + ("the sum of the sites' negative binomials, each under its own rate's Gamma posterior (as the R package accrual's "
           "accrual.multi.n predicts)." if s["forecast_model"] == "multi-centre" else
           "negative binomial under the forecast's Gamma posterior (as the R package accrual predicts n at a time)."),
    )
    metric(
        pace_label,
        common.rate(s["rate_recent"]),
        "reached" if left_to_enrol == 0 else f"{common.rate(s['rate_needed'])} needed" if s["rate_needed"] is not None else "too late",
        delta_color="off",
        delta_arrow="off",
        help=f"Last 3 months: {common.rate(s['rate_3m'])}; since opening: {common.rate(s['rate_per_month'])}. "
        f"{left_to_enrol} still to enrol in {s['months_left']:.1f} months, by {common.month(s['planned_end_on'])}",
    )


if not s["has_data"]:
    with st.container(horizontal=True, gap="small"):
        headline_numbers(width=220)
    st.info(f"No extract received yet for {code}: its charts appear once a coordinator uploads one.")
    st.stop()


def figure(name: str, build):
    """A chart of this trial, built once per data version and as-of date."""
    return common.figure((f"trial-{name}", version, as_of, code), build)


# ---- accrual and forecast: the main chart, on the first screen ---------------------------------------
def accrual_figure():
    per_site = s["forecast_model"] == "multi-centre"
    fan = metrics.trial_fan(trial, mine, as_of, certainty, recent_months=s["recent_months"] if recent_basis else None, per_site=per_site)
    other = metrics.trial_fan(trial, mine, as_of, certainty, recent_months=None if recent_basis else s["recent_months"], per_site=per_site)
    other_f = s["forecast_since_opening"] if recent_basis else s["forecast_recent"]
    show_other = bool(f and other_f and left_to_enrol and other_f["median"] != f["median"])
    until = max(
        [dt.date.fromisoformat(s["planned_end_on"]), *(d.date() for d in fan["p95"]), *(d.date() for d in other["median"] if show_other)],
        default=as_of,
    )
    verdict = f"{-gap} behind plan" if gap < 0 else f"{gap} ahead of plan" if gap > 0 else "on plan"
    finish = f"; {s['target']} by {common.month(f['median'])}" if f and left_to_enrol else ""
    return charts.cumulative_accrual(
        f"{s['enrolled']} of {s['target']}, {verdict}{finish}",
        metrics.cumulative_accrual(mine, as_of),
        metrics.expected_curve(trial, as_of, until=until),
        s["target"],
        as_of,
        trial.colour,
        fan=fan,
        planned_end=dt.date.fromisoformat(s["planned_end_on"]),
        amendments=[
            (a.effective_on, f"amended: target {a.target}, end {a.planned_end_on:%b %Y}")
            for a in trial.amendments[1:]
            if a.effective_on <= as_of
        ],
        height=430,
        subtitle="shaded: 90% forecast",
        other_fan=other if show_other else None,
        other_name="at the pace since opening" if recent_basis else f"at the pace of the last {s['recent_months']} months",
        wrap=charts.HALF,
    )


numbers, chart = st.columns([1, 3], gap="medium")
with numbers:
    headline_numbers()
    if why := metrics.story(s):
        st.caption(f":material/info: {why}")
with chart:
    common.plot(figure("accrual", accrual_figure), key="trial-accrual")
if f:
    st.caption(
        f"{s['forecast_model_text']} It weighs the plan like {certainty:g} of that period's worth of data. "
        + (
            f"At the pace since opening ({common.rate(s['rate_per_month'])}) it would finish "
            f"{common.month(s['forecast_since_opening']['median'])}, {s['forecast_since_opening']['p_on_time']:.0%} by "
            f"{common.month(s['planned_end_on'])}."
            if recent_basis and s["forecast_since_opening"]
            else ""
        )
    )

# ---- per site: planned share, expected by now, forecast by the planned end ---------------------------
whole = whole_site_figures(s)  # whole numbers that add up to the trial's target and expected by now
site_table = pd.DataFrame(
    [
        {
            "Site": x["site"],
            "Enrolled": x["enrolled"],
            "Site target": whole[x["site"]][0],
            "Expected by now": whole[x["site"]][1],
            f"By {common.month(s['planned_end_on'])}": (
                "–" if x["enrolled_by_end_median"] is None
                else f"{x['enrolled_by_end_median']} ({x['enrolled_by_end_p05']}–{x['enrolled_by_end_p95']})"
            ),
            "Chance of site target": None if x["p_target_by_end"] is None else 100 * x["p_target_by_end"],
        }
        for x in s["sites"]
    ]
)
st.dataframe(
    site_table,
    hide_index=True,
    width="stretch",
    column_config={
        "Site target": st.column_config.NumberColumn(format="%.0f", help="The site's planned share of the target"),
        "Expected by now": st.column_config.NumberColumn(format="%.0f", help="The site's share of the planned curve"),
        f"By {common.month(s['planned_end_on'])}": st.column_config.TextColumn(
            help="Enrolled at the site by the planned end: median (90% interval), from the site's own pace"
        ),
        "Chance of site target": st.column_config.NumberColumn(format="%.0f%%"),
    },
)
common.csv_download(site_table, f"PUMP_{code}_sites_{as_of.isoformat()}.csv", key="csv-trial-sites")


# ---- the sites it has and plans: the multi-centre forecast, with and without the planned ones --------
@st.cache_data(max_entries=64, show_spinner=False)
def sites_outlook(version: int, as_of: dt.date, code: str) -> whatif.WhatIfResult:
    trial = programme.trials[code]
    scenario = whatif.default_scenario(programme, trial, as_of)
    return whatif.what_if(trial, metrics.accrual_of(common.trial_rows(version, as_of, code), as_of), scenario)


def sites_section(outlook: whatif.WhatIfResult) -> None:
    """The sites it has and plans, the forecast with the ones open now and with the planned ones, the centres needed."""
    end = common.month(s["planned_end_on"])
    st.markdown(f"#### {code} {whatif.sites_phrase(outlook.sites)}")
    with st.container(horizontal=True, gap="small"):
        for label, o in (("Sites there now", outlook.now), ("With planned sites", outlook.planned)):
            if o is not None:
                common.metric(
                    f"{label}: by {end}", str(o.enrolled_by_end_median), f"{o.enrolled_by_end_p05} – {o.enrolled_by_end_p95}",
                    delta_color="off", delta_arrow="off", help=whatif.outlook_line(o, s["target"], outlook.scenario.planned_end, as_of),
                )
        needed = outlook.centres_needed
        common.metric(
            "Centres needed", "none is enough" if needed is None else str(needed),
            f"opening {outlook.centres_from:%b %Y}, for {outlook.scenario.chance:.0%}", delta_color="off", delta_arrow="off",
            help=f"The fewest extra sites, opening {outlook.centres_from:%d %b %Y} at the median site rate "
            f"({outlook.rate_per_month:.1f}/month), for a {outlook.scenario.chance:.0%} chance of {s['target']} by {end}.",
        )
    lines = [f"{label}: {whatif.outlook_line(o, s['target'], outlook.scenario.planned_end, as_of)}"
             for label, o in (("Sites there now", outlook.now), ("with the planned sites", outlook.planned)) if o is not None]
    st.caption(
        "; ".join(lines) + ". A rate per site (Jiang et al. 2015): each site learns its own rate since it opened; a planned "
        "site counts from its planned opening by its prior alone. The status above: "
        + ("one rate for the whole trial" if s["forecast_model"] == "single-rate" else "this model with the sites there now")
        + f", {common.basis_text(overview)}."
    )
    st.page_link("app_pages/whatif.py", label="What if: another target, end or extra sites", icon=":material/tune:", query_params={"show": code})


outlook = sites_outlook(version, as_of, code)
if outlook.now is not None or outlook.planned is not None:  # else not open yet, or no site with a date
    sites_section(outlook)



def monthly_figure():
    start = max(trial.opened_on, (pd.Timestamp(as_of) - pd.DateOffset(months=MONTHS_SHOWN - 1)).date().replace(day=1))
    monthly = metrics.accrual_per_period(mine, as_of, "month", by="site", groups=list(trial.sites), start=start)
    needed = s["rate_needed"] if left_to_enrol else None
    pace = f"last {s['recent_months']} months {common.rate(s['rate_recent'])}"
    return charts.monthly_by_site(
        f"Enrolments per month by site: {pace}" + (f", {needed:.1f} needed" if needed is not None else ""),
        monthly,
        common.site_colours(programme, list(trial.sites)),
        as_of,
        needed=needed,
        planned=s["rate_planned"],
        subtitle=f"last {MONTHS_SHOWN} months; the running month is pale",
    )


common.plot(figure("monthly", monthly_figure), key="trial-monthly")

# ---- screening -----------------------------------------------------------------------------------
stages = metrics.screening_funnel(mine, as_of)
reasons = metrics.screen_fail_reasons(mine, as_of, trial)
flow = consort.flow(code, trial, mine, as_of)  # the CONSORT counts: the screening words and the flow below say the same
left, right = st.columns(2)
with left:
    title = consort.screening_words(flow["counts"]) if stages[0]["count"] else "Screening: nobody yet"
    common.plot(figure("funnel", lambda: charts.funnel(title, stages, as_of, trial.colour)), key="trial-funnel")
with right:
    if reasons.empty:
        st.info("No screen failures recorded.")
    else:
        common.plot(
            figure("reasons", lambda: charts.fail_reasons(f"Screen failures: {int(reasons['count'].sum())}, by reason", reasons, as_of)),
            key="trial-reasons",
        )

# ---- arms and statuses ---------------------------------------------------------------------------
statuses = metrics.status_breakdown(mine, as_of)
left, right = st.columns(2) if trial.is_randomised else (None, st.container())
if trial.is_randomised:
    balance = metrics.arm_balance(trial, mine, as_of)
    spread = ", ".join(f"{r['site']} {'/'.join(str(r[a]) for a in trial.arms)}" for r in balance.to_dict("records"))
    arm_colours = {"control": charts.CONTROL_COLOUR, "haip": trial.colour}
    with left:
        common.plot(
            figure(
                "arms",
                lambda: charts.arm_balance(
                    f"Arms: {spread}",
                    balance,
                    {a: arm.label for a, arm in trial.arms.items()},
                    arm_colours,
                    as_of,
                    subtitle=f"{'/'.join(trial.arms)} per site",
                ),
            ),
            key="trial-arms",
        )
with right:
    if statuses.empty:
        st.info("Nobody enrolled yet: no statuses to show.")
    else:
        active = int(statuses.loc[statuses["status"].isin(["enrolled", "on_treatment", "follow_up"]), "count"].sum())
        withdrawn = int(statuses.loc[statuses["status"] == "withdrawn", "count"].sum())
        common.plot(
            figure(
                "status",
                lambda: charts.status_breakdown(f"{active} active, {withdrawn} withdrawn", statuses, as_of, subtitle="status of the enrolled"),
            ),
            key="trial-status",
        )

# ---- CONSORT flow --------------------------------------------------------------------------------
st.subheader("CONSORT flow", anchor=False)
common.consort_flow(flow)

# ---- HAIP milestones -----------------------------------------------------------------------------
steps = metrics.milestones(trial, mine, as_of)
st.subheader("HAIP milestones", anchor=False)
if not steps[0]["of"]:
    st.caption(f"Nobody {steps[0]['group']} by {as_of:%d %b %Y}.")
    st.stop()
st.caption(
    f"Of the {steps[0]['of']} participants {steps[0]['group']}, by {as_of:%d %b %Y}. Converted: downstaged to a "
    "liver resection or transplant."
)
for column, step in zip(st.columns(len(steps)), steps, strict=True):
    column.metric(step["label"], step["count"], f"{step['count'] / step['of']:.0%} of {step['of']}", delta_color="off", delta_arrow="off")
