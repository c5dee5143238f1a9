"""The metrics of DESIGN.md section 5 on a small trial worked out by hand.

Trial T opened on 1 Jan 2024 with a target of 10 by 31 Dec 2024 (365 days). EMC opened with it, NKI
on 1 Apr 2024, UMCU has no opening date and nobody. We look on 1 Jul 2024 (day 182).

    EMC  E-1  enrolled 15 Jan           on_treatment (pump 20 Jan, HAIP from 1 Feb)
         E-2  enrolled 10 Feb           follow_up (pump 15 Feb, HAIP 1 Mar to 30 Jun: completed)
         E-3  enrolled 20 May           withdrawn 25 Jun (pump 22 May, HAIP from 1 Jun, ended 25 Jun)
         E-4  enrolled 28 Jun           no status recorded
         E-5  screened 1 Mar, ineligible: extrahepatic disease
         E-6  screened 1 Jun, declined: declined
         E-7  screened 30 Jun, pending
         E-8  screened 2 Apr, ineligible, no reason
    NKI  N-1  enrolled 3 Jun            enrolled; converted to resection 30 Jun
         N-2  screened 20 Jun, eligible, consented 25 Jun, enrolled 5 Jul (after the as-of date)
         N-3  screened 1 May, ineligible: extrahepatic disease
"""

import datetime as dt
import math

import pandas as pd
import pytest
from scipy import stats

from dashboard import metrics
from dashboard.config import Programme
from dashboard.forecast import SitePlan, forecast_multicentre

AS_OF = dt.date(2024, 7, 1)
MONTH = 30.44

DATE_COLUMNS = [
    "screened_on", "consented_on", "enrolled_on", "withdrawn_on", "pump_implanted_on",
    "treatment_started_on", "treatment_ended_on", "converted_on",
]


def programme_with(trials: dict, **settings) -> Programme:
    return Programme(
        programme="test",
        status_thresholds={"green": 0.8, "amber": 0.5},
        stale_after_days=14,
        forecast_prior_certainty=0.5,
        sites={
            "EMC": {"name": "Erasmus MC", "colour": "#0b6e99"},
            "NKI": {"name": "NKI-AVL", "colour": "#d9822b"},
            "UMCU": {"name": "UMC Utrecht", "colour": "#777777"},
        },
        trials=trials,
        **settings,
    )


T = {
    "title": "T - a test trial",
    "coordinating_site": "EMC",
    "opened_on": "2024-01-01",
    "amendments": [{"effective_on": "2024-01-01", "target": 10, "planned_end_on": "2024-12-31"}],
    "arms": {"haip": {"label": "HAIP"}},
    "sites": {"EMC": {"activated_on": "2024-01-01"}, "NKI": {"activated_on": "2024-04-01"}, "UMCU": {}},
}
R = {
    "title": "R - a randomised trial",
    "coordinating_site": "EMC",
    "opened_on": "2024-01-01",
    "amendments": [{"effective_on": "2024-01-01", "target": 8, "planned_end_on": "2025-12-31"}],
    "arms": {"control": {"label": "Resection alone"}, "haip": {"label": "Resection + HAIP"}},
    "sites": {"EMC": {"activated_on": "2024-01-01"}, "NKI": {"activated_on": "2024-01-01"}},
}


@pytest.fixture(scope="module")
def programme() -> Programme:
    # The by-hand forecasts of this module are the one-rate model's (kept, and declared with `forecast_model:
    # single`); the per-site model, the default for a trial of several sites, has its own in test_multicentre.py.
    return programme_with({"T": T, "R": R}, forecast_model="single")


def frame(rows: list[dict]) -> pd.DataFrame:
    data = pd.DataFrame(rows)
    for column in DATE_COLUMNS:
        data[column] = pd.to_datetime(data.get(column))
    for column in ("screening_outcome", "screen_fail_reason", "arm", "status"):
        if column not in data:
            data[column] = None
    return data


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    def p(pid, site, **kw):
        return {"trial": "T", "participant_id": pid, "site": site, **kw}

    return frame(
        [
            p("E-1", "EMC", enrolled_on="2024-01-15", arm="haip", status="on_treatment", screening_outcome="eligible",
              pump_implanted_on="2024-01-20", treatment_started_on="2024-02-01"),
            p("E-2", "EMC", enrolled_on="2024-02-10", arm="haip", status="follow_up", pump_implanted_on="2024-02-15",
              treatment_started_on="2024-03-01", treatment_ended_on="2024-06-30"),
            p("E-3", "EMC", enrolled_on="2024-05-20", arm="haip", status="withdrawn", withdrawn_on="2024-06-25",
              pump_implanted_on="2024-05-22", treatment_started_on="2024-06-01", treatment_ended_on="2024-06-25"),
            p("E-4", "EMC", enrolled_on="2024-06-28", arm="haip"),
            p("E-5", "EMC", screened_on="2024-03-01", screening_outcome="ineligible", screen_fail_reason="extrahepatic disease"),
            p("E-6", "EMC", screened_on="2024-06-01", screening_outcome="declined", screen_fail_reason="declined"),
            p("E-7", "EMC", screened_on="2024-06-30", screening_outcome="pending"),
            p("E-8", "EMC", screened_on="2024-04-02", screening_outcome="ineligible"),
            p("N-1", "NKI", enrolled_on="2024-06-03", arm="haip", status="enrolled", converted_on="2024-06-30"),
            p("N-2", "NKI", screened_on="2024-06-20", screening_outcome="eligible", consented_on="2024-06-25",
              enrolled_on="2024-07-05", arm="haip", status="enrolled"),
            p("N-3", "NKI", screened_on="2024-05-01", screening_outcome="ineligible", screen_fail_reason="extrahepatic disease"),
        ]
    )


LAST_EXTRACT = {"EMC": dt.date(2024, 6, 28), "NKI": dt.date(2024, 6, 10)}


# ---- accrual ---------------------------------------------------------------------------------------


def test_accrual_counts_enrolments_on_or_before_the_as_of_date(people):
    assert len(metrics.enrolled_by(people, AS_OF)) == 5  # N-2 enrolled 5 July: not yet
    assert len(metrics.enrolled_by(people, dt.date(2024, 7, 5))) == 6
    assert len(metrics.enrolled_by(people, dt.date(2024, 1, 14))) == 0


def test_screened_counts_screening_or_else_enrolment_dates(people):
    # E-1..E-4 have no screening date: their enrolment counts. E-5..E-8, N-1, N-2, N-3: 11 in all.
    assert len(metrics.screened_by(people, AS_OF)) == 11
    assert len(metrics.screened_by(people, dt.date(2024, 5, 31))) == 6  # E-1, E-2, E-3, E-5, E-8, N-3


def test_accrual_per_month_by_site_shows_every_month_and_site(people):
    monthly = metrics.accrual_per_period(people, AS_OF, "month", by="site", groups=["EMC", "NKI", "UMCU"], start=dt.date(2024, 1, 1))
    emc = monthly[monthly["site"] == "EMC"]
    assert emc["period"].dt.strftime("%Y-%m").tolist() == ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06", "2024-07"]
    assert emc["enrolled"].tolist() == [1, 1, 0, 0, 1, 1, 0]
    assert emc["cumulative"].tolist() == [1, 2, 2, 2, 3, 4, 4]
    assert monthly.loc[monthly["site"] == "NKI", "enrolled"].tolist() == [0, 0, 0, 0, 0, 1, 0]
    assert monthly.loc[monthly["site"] == "UMCU", "enrolled"].tolist() == [0] * 7  # a site with nobody is kept
    # July has only its first day: the running month is not complete.
    assert emc["complete"].tolist() == [True] * 6 + [False]


def test_accrual_per_week_and_day(people):
    weekly = metrics.accrual_per_period(people, AS_OF, "week")
    # 15 Jan 2024 was a Monday: weeks start then, so the first enrolment is alone in that week.
    assert weekly["period"].iloc[0] == pd.Timestamp("2024-01-15")
    assert weekly["enrolled"].sum() == 5 and len(weekly) == 25  # 15 Jan to the week of 1 Jul
    assert weekly.loc[weekly["period"] == pd.Timestamp("2024-06-24"), "enrolled"].item() == 1  # E-4, 28 Jun
    daily = metrics.accrual_per_period(people, AS_OF, "day")
    assert daily["enrolled"].sum() == 5 and daily["period"].iloc[-1] == pd.Timestamp(AS_OF)
    assert daily["cumulative"].iloc[-1] == 5


def test_cumulative_accrual_by_site(people):
    cumulative = metrics.cumulative_accrual(people, AS_OF, by="site")
    emc = cumulative[cumulative["site"] == "EMC"]
    assert emc["cumulative"].tolist() == [1, 2, 3, 4]
    assert cumulative.loc[cumulative["site"] == "NKI", "cumulative"].tolist() == [1]


# ---- sites ---------------------------------------------------------------------------------------------


def site_table(programme, people):
    rows = metrics.site_rows("T", programme.trials["T"], people, AS_OF, LAST_EXTRACT, stale_after_days=14)
    return {r["site"]: r for r in rows}


def test_months_open_and_rate_per_site(programme, people):
    sites = site_table(programme, people)
    # EMC: 1 Jan to 1 Jul is 182 days = 5.979 months; 4 enrolled: 0.669 a month.
    assert sites["EMC"]["months_open"] == pytest.approx(182 / MONTH, abs=0.005) == 5.98
    assert sites["EMC"]["rate_per_month"] == 0.67
    # NKI: 1 Apr to 1 Jul is 91 days = 2.990 months; 1 enrolled: 0.334.
    assert sites["NKI"]["months_open"] == 2.99 and sites["NKI"]["rate_per_month"] == 0.33
    # UMCU is listed, with nobody and no rate: not open.
    assert (sites["UMCU"]["enrolled"], sites["UMCU"]["months_open"], sites["UMCU"]["rate_per_month"]) == (0, 0.0, None)


def test_recent_rates_per_site(programme, people):
    sites = site_table(programme, people)
    # Last 3 months = the 91 days after 1 Apr: EMC has E-3 (20 May) and E-4 (28 Jun): 2 / 2.990 = 0.669.
    assert sites["EMC"]["rate_3m"] == 0.67
    # Last 6 months = 183 days, but EMC has been open 182: all 4 in 5.979 months.
    assert sites["EMC"]["rate_6m"] == 0.67
    # NKI, open 91 days: its window is 91 days either way: 1 in 2.990 months.
    assert sites["NKI"]["rate_3m"] == 0.33 and sites["NKI"]["rate_6m"] == 0.33
    assert sites["UMCU"]["rate_3m"] is None


def test_freshness_per_site(programme, people):
    sites = site_table(programme, people)
    assert sites["EMC"]["last_enrolment_on"] == "2024-06-28" and sites["EMC"]["days_since_last_enrolment"] == 3
    assert sites["NKI"]["days_since_last_enrolment"] == 28  # 3 Jun
    assert (sites["EMC"]["days_since_last_extract"], sites["EMC"]["stale"]) == (3, False)
    assert (sites["NKI"]["days_since_last_extract"], sites["NKI"]["stale"]) == (21, True)  # > 14 days
    assert (sites["UMCU"]["last_extract_on"], sites["UMCU"]["stale"]) == (None, True)  # no extract is stale too


def test_screen_fail_rate_per_site(programme, people):
    sites = site_table(programme, people)
    # EMC: 4 enrolled + 3 failures (E-5, E-6, E-8) decided, E-7 pending: 3/7.
    assert sites["EMC"]["screen_fail_rate"] == round(3 / 7, 3)
    # NKI: N-1 enrolled, N-2 eligible, N-3 ineligible: 1/3.
    assert sites["NKI"]["screen_fail_rate"] == round(1 / 3, 3)
    assert sites["UMCU"]["screen_fail_rate"] is None
    assert metrics.screen_fail_rate(people, AS_OF) == pytest.approx(4 / 10)


def test_the_programme_summary_reduces_every_trial_at_once_to_the_numbers_of_each_trial_alone(programme, people):
    """The summary reads the snapshot once for all trials and sites (metrics.accruals); each trial's
    block must be what that trial's own rows give, a site outside the configuration included."""
    other = people.assign(trial="R", site=people["site"].replace({"EMC": "NKI", "NKI": "EMC"}))
    stray = people.iloc[:2].assign(participant_id=["X-1", "X-2"], site="AMC")  # a site T does not configure
    snapshot = pd.concat([people, stray, other], ignore_index=True)
    last = {"T": LAST_EXTRACT, "R": {"EMC": dt.date(2024, 6, 1)}}
    together = metrics.programme_summary(programme, snapshot, last, AS_OF)["trials"]
    alone = [metrics.trial_summary(programme, code, snapshot[snapshot["trial"] == code], AS_OF, last[code]) for code in ("T", "R")]
    assert together == alone
    t = together[0]
    assert (t["enrolled"], t["screened"]) == (5 + 2, 11 + 2)  # the stray site's rows count for the trial
    assert [s["site"] for s in t["sites"]] == ["EMC", "NKI", "UMCU"]
    assert t["sites"][0]["enrolled"] == 4 and t["sites"][1]["enrolled"] == 1
    accrual = metrics.accruals(snapshot, AS_OF)["T"]
    assert accrual.count_in(dt.date(2024, 6, 2), AS_OF) == 2  # E-4 (28 June) and N-1 (3 June), not the 2nd
    assert accrual.first("EMC") == dt.date(2024, 1, 15) and accrual.last("NKI") == dt.date(2024, 6, 3)


def test_site_activation_is_the_first_enrolment_without_a_date_or_when_earlier():
    trial = programme_with({"T": T}).trials["T"]
    assert metrics.site_activation(trial, "UMCU", None) is None
    assert metrics.site_activation(trial, "UMCU", dt.date(2024, 5, 1)) == dt.date(2024, 5, 1)
    assert metrics.site_activation(trial, "NKI", dt.date(2024, 3, 20)) == dt.date(2024, 3, 20)  # enrolled before its date
    assert metrics.site_activation(trial, "NKI", dt.date(2024, 6, 3)) == dt.date(2024, 4, 1)


def test_aligned_curves_start_at_each_sites_opening(programme, people):
    curves = metrics.aligned_site_curves(programme.trials["T"], people, AS_OF)
    nki = curves[curves["site"] == "NKI"]
    # NKI opened 1 Apr; its first enrolment (3 Jun) is 63 days = 2.07 months later; the curve ends at 1 Jul.
    assert nki["months"].round(2).tolist() == [0.0, round(63 / MONTH, 2), round(91 / MONTH, 2)]
    assert nki["cumulative"].tolist() == [0, 1, 1]
    assert curves.loc[curves["site"] == "EMC", "cumulative"].tolist() == [0, 1, 2, 3, 4, 4]
    assert "UMCU" not in set(curves["site"])  # not open: nothing to align on


def test_an_open_site_with_nobody_is_a_flat_line(programme):
    nobody = frame([{"trial": "R", "participant_id": "E-1", "site": "EMC", "enrolled_on": "2024-03-01", "arm": "haip"}])
    curves = metrics.aligned_site_curves(programme.trials["R"], nobody, AS_OF)
    nki = curves[curves["site"] == "NKI"]
    assert nki["cumulative"].tolist() == [0, 0] and nki["months"].iloc[-1] == pytest.approx(182 / MONTH)


# ---- plan, pace, forecast, status ---------------------------------------------------------------------


def test_expected_by_now_and_rate_needed(programme):
    trial = programme.trials["T"]
    # Linear from 1 Jan to 31 Dec (365 days) to 10: day 182 -> 10 * 182/365 = 4.986.
    assert metrics.expected_by(trial, AS_OF) == pytest.approx(10 * 182 / 365)
    assert metrics.expected_by(trial, dt.date(2023, 12, 31)) == 0.0
    assert metrics.expected_by(trial, dt.date(2025, 6, 1)) == 10.0
    # 5 still to enrol in 183 days = 6.012 months: 0.832 a month.
    assert metrics.rate_needed(10, 5, AS_OF, dt.date(2024, 12, 31)) == pytest.approx(5 / (183 / MONTH))
    assert metrics.rate_needed(10, 10, AS_OF, dt.date(2024, 12, 31)) == 0.0
    assert metrics.rate_needed(10, 5, dt.date(2025, 1, 2), dt.date(2024, 12, 31)) is None


def test_expected_curve_follows_an_amendment():
    trial = programme_with(
        {
            "A": {
                **T,
                "amendments": [
                    {"effective_on": "2024-01-01", "target": 10, "planned_end_on": "2024-12-31"},
                    {"effective_on": "2024-07-01", "target": 20, "planned_end_on": "2025-12-31"},
                ],
            }
        }
    ).trials["A"]
    curve = metrics.expected_curve(trial, dt.date(2024, 8, 1)).set_index("day")["expected"]
    # 30 Jun, under version 1: 10 * 181/365. 1 Jul, under version 2 (730 days to its end): 20 * 182/730.
    assert curve[pd.Timestamp("2024-06-30")] == pytest.approx(10 * 181 / 365)
    assert curve[pd.Timestamp("2024-07-01")] == pytest.approx(20 * 182 / 730)
    # Seen from 1 May, before the amendment, the plan ahead is version 1's: 10 by 31 Dec.
    earlier = metrics.expected_curve(trial, dt.date(2024, 5, 1), until=dt.date(2025, 6, 1)).set_index("day")["expected"]
    assert earlier[pd.Timestamp("2024-07-01")] == pytest.approx(10 * 182 / 365)
    assert earlier.iloc[-1] == 10.0


def test_site_plans_open_each_site_at_its_activation(programme, people):
    plans = metrics.site_plans(programme.trials["T"], people, AS_OF)
    assert plans == [
        SitePlan(opens_in_days=-182, share=1 / 3),
        SitePlan(opens_in_days=-91, share=1 / 3),
        SitePlan(opens_in_days=math.inf, share=1 / 3),
    ]


def test_trial_forecast_and_status_by_hand(programme, people):
    summary = metrics.trial_summary(programme, "T", people, AS_OF, LAST_EXTRACT)
    # Exposure: EMC 182 days and NKI 91 days at a third of lambda each = 91 share-days. Prior P = 0.5:
    # a = 10*0.5 + 5 = 10, b = 365*0.5 + 91 = 273.5. UMCU never opens: the open sites recruit at 2/3
    # lambda, so R*(2/3)/b ~ BetaPrime(5, 10): P(on time) = P(R <= 183) = BetaCDF(x; 5, 10) with
    # x = 183/(273.5*1.5 + 183) = 0.308470, which is P(Binomial(14, x) >= 5).
    x = 183 / (273.5 * 1.5 + 183)
    p = 1 - sum(math.comb(14, j) * x**j * (1 - x) ** (14 - j) for j in range(5))
    assert summary["forecast_since_opening"]["p_on_time"] == round(p, 4) == 0.4435
    assert summary["status_since_opening"] == "red"  # below amber 0.5
    direct = forecast_multicentre(10, 5, 182, 365, metrics.site_plans(programme.trials["T"], people, AS_OF))
    assert (direct.shape, direct.rate) == (10.0, 273.5)
    assert summary["forecast_since_opening"]["median"] == (AS_OF + dt.timedelta(days=math.ceil(direct.median_days))).isoformat()


def test_recent_pace_forecast_and_status_by_hand(programme, people):
    summary = metrics.trial_summary(programme, "T", people, AS_OF, LAST_EXTRACT)
    # The last 6 months (183 days) cover all 182 days open: the same 91 share-days and 5 enrolments, but
    # the plan weighs like P times the window, not the whole plan: a = 10*0.5*91/365 + 5 = 6.2466,
    # b = 1.5*91 = 136.5. The open sites recruit at 2/3 lambda: P(on time) = BetaCDF(x; 5, a) with
    # x = 183/(136.5*1.5 + 183) = 0.47195 = 0.5802.
    a, b = 10 * 0.5 * 91 / 365 + 5, 136.5
    x = 183 / (b * 1.5 + 183)
    assert summary["forecast_recent"]["p_on_time"] == round(float(stats.beta.cdf(x, 5, a)), 4) == 0.5802
    assert summary["status_recent"] == "amber"
    # The configured basis (recent by default) gives the status and the headline forecast.
    assert summary["forecast_basis"] == "recent"
    assert (summary["forecast"], summary["status"]) == (summary["forecast_recent"], "amber")
    # The pace since opening says red, the recent pace amber: the screen says why in one line.
    assert metrics.story(summary).endswith("The status follows the recent pace.")


def test_recent_pace_learns_from_the_window_only(people):
    # On 1 Jan 2025 (a year and a day open) the 6-month window (2 Jul to 1 Jan) holds only N-2 (5 Jul):
    # 1 enrolment in 183 days with EMC and NKI open, a third of lambda each: E = 122 share-days.
    day = dt.date(2025, 1, 1)
    longer = programme_with({"T": {**T, "amendments": [{"effective_on": "2024-01-01", "target": 10, "planned_end_on": "2025-12-31"}]}},
                            forecast_model="single")
    s = metrics.trial_summary(longer, "T", people, day, LAST_EXTRACT)
    forecast = metrics.trial_forecast_recent(longer.trials["T"], people, day, 0.5, 6)
    planned = (dt.date(2025, 12, 31) - dt.date(2024, 1, 1)).days  # 730
    assert forecast.shape == pytest.approx(10 * 0.5 * 122 / planned + 1) and forecast.rate == pytest.approx(1.5 * 122)
    # The recent pace (1 in 6 months) is slower than the pace since opening (6 in 12): a later finish.
    assert s["forecast_recent"]["median"] > s["forecast_since_opening"]["median"]
    assert s["rate_recent"] == round(1 / (183 / MONTH), 2)


def test_a_site_opening_later_brings_the_forecast_forward(people):
    # On 1 Mar only EMC recruits (E-1, E-2). NKI opening on 1 Apr adds its share from then on; a trial
    # whose NKI has no opening date can count on EMC alone.
    day = dt.date(2024, 3, 1)
    # (The one-rate model counts a site from its opening date ahead; the per-site status counts the sites open.)
    with_nki = programme_with({"T": T}, forecast_model="single")
    without = programme_with({"T": {**T, "sites": {"EMC": {"activated_on": "2024-01-01"}, "NKI": {}, "UMCU": {}}}}, forecast_model="single")
    plans = metrics.site_plans(with_nki.trials["T"], people, day)
    assert plans[1] == SitePlan(opens_in_days=31, share=1 / 3)
    later = metrics.trial_summary(with_nki, "T", people, day, LAST_EXTRACT)["forecast"]
    never = metrics.trial_summary(without, "T", people, day, LAST_EXTRACT)["forecast"]
    assert later["median"] < never["median"] and later["p_on_time"] > never["p_on_time"]


def test_trial_summary_by_hand(programme, people):
    s = metrics.trial_summary(programme, "T", people, AS_OF, LAST_EXTRACT)
    assert (s["enrolled"], s["target"], s["percent_of_target"], s["screened"]) == (5, 10, 50.0, 11)
    assert s["expected_by_now"] == 5.0 and s["ahead_of_plan"] == 0  # 4.986 expected, 5 enrolled
    assert s["rate_3m"] == 1.0  # E-3, E-4, N-1 in the 91 days: 3 / 2.990 = 1.0035
    assert s["rate_6m"] == 0.84  # all 5 in the 182 days open: 5 / 5.979
    assert s["rate_per_month"] == 0.84
    assert s["rate_needed"] == 0.83 and s["months_left"] == 6.01
    assert s["rate_planned"] == round(10 / (365 / MONTH), 2) == 0.83  # 10 in 11.99 months
    assert s["slowest_site"] == "NKI" and s["stale_sites"] == ["NKI", "UMCU"]
    assert [site["site"] for site in s["sites"]] == ["EMC", "NKI", "UMCU"]


def test_no_extract_means_no_forecast(programme, people):
    s = metrics.trial_summary(programme, "T", people, AS_OF, {})
    assert s["forecast"] is None and s["status"] is None and s["has_data"] is False


def test_target_reached_is_on_track(programme):
    everyone = frame([
        {"trial": "R", "participant_id": f"P-{i}", "site": "EMC", "enrolled_on": f"2024-0{i}-01", "arm": "haip"} for i in range(1, 9)
    ])
    s = metrics.trial_summary(programme, "R", everyone, dt.date(2024, 9, 1), {"EMC": dt.date(2024, 9, 1)})
    assert s["forecast"] == {"median": "2024-09-01", "p05": "2024-09-01", "p95": "2024-09-01", "p_on_time": 1.0}
    assert s["status"] == "green" and s["rate_needed"] == 0.0


def test_trial_fan_starts_today_and_ends_at_the_forecast(programme, people):
    summary = metrics.trial_summary(programme, "T", people, AS_OF, LAST_EXTRACT)
    for fan, forecast in (
        (metrics.trial_fan(programme.trials["T"], people, AS_OF, 0.5), summary["forecast_since_opening"]),
        (metrics.trial_fan(programme.trials["T"], people, AS_OF, 0.5, recent_months=6), summary["forecast_recent"]),
    ):
        assert fan.iloc[0].tolist() == [5, pd.Timestamp(AS_OF), pd.Timestamp(AS_OF), pd.Timestamp(AS_OF)]
        assert fan["count"].tolist() == [5, 6, 7, 8, 9, 10]
        last = fan.iloc[-1]
        assert [last[k].date().isoformat() for k in ("p05", "median", "p95")] == [forecast[k] for k in ("p05", "median", "p95")]


def test_enrolled_by_the_planned_end_is_negative_binomial_under_the_posterior(programme, people):
    s = metrics.trial_summary(programme, "T", people, AS_OF, LAST_EXTRACT)
    # The recent posterior (a, b) above; ahead EMC and NKI open the 183 days to 31 Dec, 2/3 of lambda:
    # H = 122 share-days. The number by then is 5 + NegBin(a, b/(b + H)).
    a, b = 10 * 0.5 * 91 / 365 + 5, 136.5
    nb = stats.nbinom(a, b / (b + 122))
    assert [s["enrolled_by_end_p05"], s["enrolled_by_end_median"], s["enrolled_by_end_p95"]] == [5 + int(q) for q in nb.ppf([0.05, 0.5, 0.95])]


def test_site_targets_expected_and_forecast(people):
    shares = {**T, "sites": {"EMC": {"activated_on": "2024-01-01", "share": 0.6}, "NKI": {"activated_on": "2024-04-01", "share": 0.3},
                             "UMCU": {"share": 0.1}}}
    p = programme_with({"T": shares})
    s = metrics.trial_summary(p, "T", people, AS_OF, LAST_EXTRACT)
    emc, nki, umcu = s["sites"]
    # Site targets and expected-by-now: share x 10 and share x the planned 4.986 by 1 Jul.
    assert (emc["target"], nki["target"], umcu["target"]) == (6.0, 3.0, 1.0)
    assert (emc["expected_by_now"], nki["expected_by_now"]) == (3.0, 1.5)
    # The trial forecast weighs each site by its share: EMC 0.6*182 + NKI 0.3*91 share-days.
    plans = metrics.site_plans(p.trials["T"], people, AS_OF)
    assert [plan.share for plan in plans] == [0.6, 0.3, 0.1]
    # EMC at the recent pace: prior Gamma(0.6*10*0.5*182/365, 0.5*182) = (1.4959, 91), 4 enrolments in its
    # 182 days: a = 5.4959, b = 273; ahead 183 days open: 4 + NegBin(a, 273/456).
    a, b = 0.6 * 10 * 0.5 * 182 / 365 + 4, 0.5 * 182 + 182
    nb = stats.nbinom(a, b / (b + 183))
    assert emc["enrolled_by_end_median"] == 4 + int(nb.median())
    assert emc["p_target_by_end"] == round(float(nb.sf(6 - 4 - 1)), 4)
    # UMCU never opened: a target, no forecast.
    assert umcu["enrolled_by_end_median"] is None and umcu["p_target_by_end"] is None


def test_shares_must_be_given_for_every_site_and_add_up_to_one():
    with pytest.raises(ValueError, match="every site a share, or none"):
        programme_with({"T": {**T, "sites": {"EMC": {"share": 0.5}, "NKI": {}}}})
    with pytest.raises(ValueError, match="add up to 1"):
        programme_with({"T": {**T, "sites": {"EMC": {"share": 0.5}, "NKI": {"share": 0.4}}}})


# ---- screening, arms, statuses, milestones ------------------------------------------------------------


def test_screening_funnel(people):
    stages = metrics.screening_funnel(people, AS_OF)
    # Eligible: the 5 enrolled, E-6 (declined, so eligible) and N-2 (eligible); consented: 5 enrolled + N-2.
    assert [(s["stage"], s["count"]) for s in stages] == [("screened", 11), ("eligible", 7), ("consented", 6), ("enrolled", 5)]


def test_screen_fail_reasons_are_ranked(people):
    reasons = metrics.screen_fail_reasons(people, AS_OF)
    assert reasons[["reason", "count"]].values.tolist() == [
        ["extrahepatic disease", 2],
        ["(no reason given)", 1],  # ties alphabetically
        ["declined", 1],
    ]
    assert reasons["share"].tolist() == [0.5, 0.25, 0.25]


def test_arm_balance_per_site(programme):
    rows = frame([
        {"trial": "R", "participant_id": "1", "site": "EMC", "enrolled_on": "2024-02-01", "arm": "control"},
        {"trial": "R", "participant_id": "2", "site": "EMC", "enrolled_on": "2024-02-02", "arm": "haip"},
        {"trial": "R", "participant_id": "3", "site": "EMC", "enrolled_on": "2024-02-03", "arm": "haip"},
        {"trial": "R", "participant_id": "4", "site": "EMC", "enrolled_on": "2024-02-04"},
        {"trial": "R", "participant_id": "5", "site": "EMC", "enrolled_on": "2024-08-01", "arm": "control"},  # later
    ])
    balance = metrics.arm_balance(programme.trials["R"], rows, AS_OF)
    assert balance.to_dict("records") == [
        {"site": "EMC", "control": 1, "haip": 2, "unallocated": 1, "total": 4},
        {"site": "NKI", "control": 0, "haip": 0, "unallocated": 0, "total": 0},
    ]


def test_status_breakdown_in_canonical_order(people):
    statuses = metrics.status_breakdown(people, AS_OF)
    assert statuses.values.tolist() == [
        ["enrolled", 1], ["on_treatment", 1], ["follow_up", 1], ["withdrawn", 1], ["not recorded", 1]
    ]


def test_haip_milestones(programme, people):
    steps = {m["milestone"]: (m["count"], m["of"]) for m in metrics.milestones(programme.trials["T"], people, AS_OF)}
    # Pumps: E-1, E-2, E-3. On HAIP now: E-1 only (E-2 ended, E-3 withdrew). Completed: E-2 (E-3 withdrew
    # on the day treatment ended, so did not complete it). Converted: N-1.
    assert steps == {"pump_placed": (3, 5), "on_treatment": (1, 5), "completed": (1, 5), "converted": (1, 5)}
    # On 29 Jun E-2 was still on HAIP (it ended on 30 Jun); E-3 had withdrawn on 25 Jun.
    assert metrics.milestones(programme.trials["T"], people, dt.date(2024, 6, 29))[1]["count"] == 2


def test_milestones_of_a_randomised_trial_count_the_haip_arm(programme):
    rows = frame([
        {"trial": "R", "participant_id": "1", "site": "EMC", "enrolled_on": "2024-02-01", "arm": "control"},
        {"trial": "R", "participant_id": "2", "site": "EMC", "enrolled_on": "2024-02-02", "arm": "haip", "pump_implanted_on": "2024-02-20"},
    ])
    steps = metrics.milestones(programme.trials["R"], rows, AS_OF)
    assert (steps[0]["count"], steps[0]["of"], steps[0]["group"]) == (1, 1, "in the HAIP arm")


def test_programme_summary_has_what_summary_json_promises(programme, people):
    summary = metrics.programme_summary(programme, people, {"T": LAST_EXTRACT}, AS_OF)
    assert summary["as_of"] == "2024-07-01" and summary["latest_extract_on"] == "2024-06-28"
    assert summary["status_thresholds"] == {"green": 0.8, "amber": 0.5}
    t, r = summary["trials"]
    assert t["trial"] == "T" and r["trial"] == "R" and r["forecast"] is None  # R has no extract
    assert {"trial", "target", "enrolled", "screened", "sites", "forecast"} <= set(t)
    assert {"site", "enrolled", "months_open", "rate_per_month", "last_extract_on"} <= set(t["sites"][0])
    assert set(t["forecast"]) == {"median", "p05", "p95", "p_on_time"}


def test_accruals_of_a_trial_screening_but_not_yet_enrolling_and_of_no_rows_at_all():
    """The summary's one-pass reduction (metrics.accruals) on the edges a new trial meets: rows screened
    with outcomes typed any way (spaces, capitals, gaps) but nobody enrolled yet, and no rows at all."""
    rows = pd.DataFrame({
        "trial": ["T", "T", "T", "T"], "site": ["EMC", "EMC", "NKI", "NKI"],
        "screened_on": pd.to_datetime(["2024-05-01", "2024-05-02", "2024-05-03", "2024-08-01"]),
        "screening_outcome": [" Ineligible ", "DECLINED", None, "ineligible"],
        "enrolled_on": pd.to_datetime([None, None, None, None]),
    })
    accrual = metrics.accruals(rows, AS_OF)["T"]
    assert accrual.enrolled() == 0 and accrual.first("EMC") is None
    assert accrual.screened == {"EMC": 2, "NKI": 1}  # NKI's second was screened after the as-of date
    assert accrual.failed == {"EMC": 2, "NKI": 0} and accrual.decided == {"EMC": 2, "NKI": 0}
    assert metrics.accruals(rows.iloc[:0], AS_OF) == {}
