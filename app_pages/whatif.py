"""What if: one trial's multi-centre forecast redrawn for another target, planned end, prior certainty or chance,
with extra sites opening on chosen days, and the centres needed. Every choice is in the address: copy it to share."""

import datetime as dt

import streamlit as st

from app_pages import common
from dashboard import metrics, whatif

SCENARIO_KEYS = ("target", "end", "certainty", "chance", "extra", *(f"open{i + 1}" for i in range(whatif.MOST_EXTRA)))

common.require("whatif")
programme = common.get_programme()
as_of, trials = common.view_controls()
version = common.data_version()
overview = common.summary(version, as_of, ())

common.page_header("What if", version)
common.data_as_of(overview, version)


def _new_trial() -> None:
    """Another trial: its own plan, not the last trial's numbers."""
    for key in SCENARIO_KEYS:
        st.session_state.pop(key, None)
        st.query_params.pop(key, None)


code = st.selectbox("Trial", trials, key="show", bind="query-params", on_change=_new_trial)
trial = programme.trials[code]
plan = whatif.default_scenario(programme, trial, as_of)
mine = common.trial_rows(version, as_of, code)

# The answer on the left (first on a phone), what to change on the right.
answer, choices = st.columns([2, 1], gap="medium")
with choices:
    target = st.number_input("Target", min_value=1, max_value=100_000, value=plan.target, step=1, key="target", bind="query-params")
    planned_end = st.date_input(
        "Planned end", value=plan.planned_end, min_value=trial.opened_on + dt.timedelta(days=1), format="DD/MM/YYYY",
        key="end", bind="query-params",
    )
    certainty = st.slider(
        "Prior certainty", 0.05, 1.0, value=float(plan.certainty), step=0.05, key="certainty", bind="query-params",
        help="How much the plan's rate weighs against the data: like this fraction of the planned trial's worth of data.",
    )
    chance = st.slider("Certainty wanted", 0.5, 0.99, value=0.8, step=0.01, key="chance", bind="query-params",
                       help="The chance of the target by the planned end that the centres needed aim for.")
    extra = st.number_input(f"Extra sites (up to {whatif.MOST_EXTRA})", min_value=0, max_value=whatif.MOST_EXTRA, value=0, step=1,
                            key="extra", bind="query-params", help="Each recruits at the trial's median site rate from its opening day.")
    opens = [
        st.date_input(f"Extra site {i + 1} opens", value=as_of + dt.timedelta(days=91 * (i + 1)), min_value=as_of, format="DD/MM/YYYY",
                      key=f"open{i + 1}", bind="query-params")
        for i in range(int(extra))
    ]

scenario = whatif.Scenario(int(target), planned_end, float(certainty), float(chance), tuple(opens))
accrual = metrics.accrual_of(mine, as_of)
with st.spinner("Redrawing the forecast…"):
    result = whatif.what_if(trial, accrual, scenario)

phrase = whatif.sites_phrase(result.sites)
end = f"{planned_end:%b %Y}"
headline = result.headline
finish = ""
if headline and headline.median_days is not None:
    finish = f": {scenario.target} by {as_of + dt.timedelta(days=int(headline.median_days)):%b %Y}"
with answer:
    st.markdown(f"### {code} {phrase}")
    with st.container(horizontal=True, gap="small"):
        for label, outlook in (("sites now", result.now), ("with planned", result.planned), ("with extras", result.extra)):
            if outlook is None:
                continue
            common.metric(
                f"Chance, {label}", f"{outlook.p_on_time:.0%}",
                f"{outlook.enrolled_by_end_median} by {end} ({outlook.enrolled_by_end_p05}–{outlook.enrolled_by_end_p95})",
                delta_color="off", delta_arrow="off",
                help=f"The chance of {scenario.target} by {end}, and the number enrolled by then (median, 90% interval): "
                + whatif.outlook_line(outlook, scenario.target, planned_end, as_of),
            )
        needed = result.centres_needed
        common.metric(
            "Centres needed", "none is enough" if needed is None else str(needed),
            f"opening {result.centres_from:%b %Y}, for {chance:.0%}", delta_color="off", delta_arrow="off",
            help=f"The fewest extra sites, opening {result.centres_from:%d %b %Y} and each recruiting at the median site rate "
            f"({result.rate_per_month:.1f}/month), that give a {chance:.0%} chance of {scenario.target} by {end}, besides the "
            "sites configured (planned ones included).",
        )
    common.plot(whatif.figure(f"{code} {phrase}{finish}", trial, result, height=420), key="whatif-paths")
st.caption(
    "A rate per site (Jiang, Simon, Mayo & Gajewski 2015, as the R package accrual's accrual.multi.n): each site learns its "
    "own rate from its enrolments since it opened, its prior the plan's rate times its share; a planned site counts from its "
    "planned opening by its prior alone; a closed site adds nothing more; extra sites recruit at the median site rate. "
    "The status on the other pages: "
    + metrics.trial_model_text(metrics.forecast_model(programme, trial), overview["status_basis"], overview["recent_months"], len(trial.sites))
)
