"""The per-site multi-centre forecast (Jiang, Simon, Mayo & Gajewski 2015; R accrual::accrual.multi.n), planned
sites in the configuration, and the centres needed, against closed forms and hand-worked cases."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from scipy import stats

from dashboard import metrics
from dashboard.config import TrialSite
from dashboard.forecast import Site, centres_needed, forecast_completion, forecast_sites
from dashboard.forecast.multi import site_parameters, total_pmf
from tests.test_metrics import frame, programme_with

MONTH = 30.44
# accrual.multi.n's worked example: n = 300, T = 36 months, P = 0.5, ten sites open since month 0 with
# these counts after 10 months (108 in all), predicted to month 36.
COUNTS = [9, 10, 10, 10, 11, 11, 11, 12, 12, 12]


def ten_sites(share: float = 0.1) -> list[Site]:
    return [Site(10 * MONTH, m, share, name=f"S{i}") for i, m in enumerate(COUNTS)]


def test_the_worked_example_is_108_plus_negbin_258_28_over_54():
    outlook = forecast_sites(300, 108, 10 * MONTH, 36 * MONTH, ten_sites(), 0.5)
    closed = stats.nbinom(258, 28 / 54)
    assert closed.mean() + 108 == pytest.approx(347.5714285714, abs=1e-9)  # 108 + 258 * 26/28
    assert outlook.enrolled_by_end_median == 108 + closed.ppf(0.5) == 347
    assert (outlook.enrolled_by_end_p05, outlook.enrolled_by_end_p95) == (108 + closed.ppf(0.05), 108 + closed.ppf(0.95)) == (313, 384)
    assert outlook.p_on_time == pytest.approx(closed.sf(300 - 108 - 1), abs=1e-12)
    # The total's pmf has the closed form's mean to the last digit that matters.
    size, rate, ahead = site_parameters(300, 36 * MONTH, 0.5, ten_sites(), 26 * MONTH)
    assert np.allclose(rate / (rate + ahead), 28 / 54) and size.sum() == pytest.approx(258)
    pmf = total_pmf(size, rate, ahead)
    assert 108 + np.dot(np.arange(len(pmf)), pmf) == pytest.approx(347.5714285714, abs=1e-6)


def test_a_site_opening_at_month_20_contributes_its_prior_alone_from_then():
    # An eleventh site, share 0.1 of the eleven-site plan's 1.1 (shares need not add to 1 here), opening in
    # 10 months (month 20): NegBin(n*P*s, T*P/(T*P + 16 months)) = NegBin(15, 18/34), nothing before month 20.
    late = Site(-10 * MONTH, 0, 0.1, name="late")
    size, rate, ahead = site_parameters(300, 36 * MONTH, 0.5, [late], 26 * MONTH)
    assert (size[0], rate[0] / (rate[0] + ahead[0])) == pytest.approx((15, 18 / 34))
    assert site_parameters(300, 36 * MONTH, 0.5, [late], 9 * MONTH)[2][0] == 0  # not open yet by month 19
    outlook = forecast_sites(300, 108, 10 * MONTH, 36 * MONTH, [*ten_sites(), late], 0.5, dates=False)
    # The sum of two negative binomials with different probabilities: the convolution of their pmfs.
    k = np.arange(600)
    exact = np.convolve(stats.nbinom.pmf(k, 258, 28 / 54), stats.nbinom.pmf(k, 15, 18 / 34))[:600]
    cdf = np.cumsum(exact)
    assert outlook.enrolled_by_end_median == 108 + int(np.searchsorted(cdf, 0.5))
    assert outlook.p_on_time == pytest.approx(1 - cdf[300 - 108 - 1], abs=1e-9)
    assert outlook.sites[-1]["planned"] and outlook.sites[-1]["enrolled_by_end_median"] == stats.nbinom.ppf(0.5, 15, 18 / 34)


def test_the_convolution_agrees_with_a_seeded_simulation_within_its_monte_carlo_error():
    sites = [Site(300, 20, 0.5), Site(40, 2, 0.3), Site(-100, 0, 0.2)]
    outlook = forecast_sites(120, 22, 300, 900, sites, 0.5, dates=False)
    size, rate, ahead = site_parameters(120, 900, 0.5, sites, 600)
    rng = np.random.default_rng(7)
    draws = 200_000
    total = sum(rng.poisson(rng.gamma(a, 1 / b, draws) * h) for a, b, h in zip(size, rate, ahead, strict=True))
    p = np.mean(22 + total >= 120)
    assert abs(outlook.p_on_time - p) < 4 * math.sqrt(p * (1 - p) / draws)  # 4 standard errors, about 0.004
    assert abs(outlook.enrolled_by_end_median - (22 + np.median(total))) <= 1


def test_a_closed_site_contributes_nothing_after_closing():
    open_only = forecast_sites(300, 108, 10 * MONTH, 36 * MONTH, ten_sites(), 0.5)
    # The same ten sites and an eleventh that closed a month ago after recruiting 7: its 7 count, nothing more.
    closed = Site(5 * MONTH, 7, 0.1, closes_in_days=-MONTH, name="closed")
    with_closed = forecast_sites(300, 115, 10 * MONTH, 36 * MONTH, [*ten_sites(), closed], 0.5)
    assert with_closed.enrolled_by_end_median == open_only.enrolled_by_end_median + 7
    assert with_closed.sites[-1]["enrolled_by_end_median"] == with_closed.sites[-1]["enrolled_by_end_p95"] == 7
    assert with_closed.sites[-1]["target_median_days"] is None  # 7 of its 30: it never gets there


def test_the_completion_date_and_a_sites_own_target_follow_the_closed_forms():
    # One site open throughout is the single-rate model: its completion days are forecast_completion's, to the day.
    single = forecast_completion(50, 31, 700, 1000, 0.5)
    outlook = forecast_sites(50, 31, 700, 1000, [Site(700, 31, 1.0)], 0.5)
    assert outlook.median_days == math.ceil(single.median_days) and outlook.p95_days == math.ceil(single.p95_days)
    assert outlook.p_on_time == pytest.approx(single.p_on_time, abs=1e-9)
    assert outlook.sites[0]["target_median_days"] == pytest.approx(single.median_days, rel=1e-9)


def test_centres_needed_against_a_hand_worked_case():
    # The only site closed after 10 enrolments in 100 days: the median site rate is 0.1 a day, and nothing
    # more comes from it. 25 are still needed in the 100 days left; k extra sites opening now bring
    # Poisson(10k): P(Poisson(20) >= 25) = 0.157, P(Poisson(30) >= 25) = 0.843, P(Poisson(40) >= 25) = 0.9933.
    def at_least(mean: float, count: int) -> float:
        return 1 - sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(count))

    assert (round(at_least(20, 25), 3), round(at_least(30, 25), 3)) == (0.157, 0.843)
    closed = [Site(100, 10, 1.0, closes_in_days=0)]
    assert centres_needed(35, 10, 100, 200, closed, 0, 0.5, 0.8) == 3
    assert centres_needed(35, 10, 100, 200, closed, 0, 0.5, 0.99) == 4
    # Opening 50 days on they have half the time: Poisson(5k) needs k = 6 (P(Poisson(30) >= 25) again).
    assert centres_needed(35, 10, 100, 200, closed, 50, 0.5, 0.8) == 6
    assert centres_needed(35, 10, 100, 200, closed, 150, 0.5, 0.8) is None  # after the planned end: none is enough
    assert centres_needed(35, 35, 100, 200, closed, 0, 0.5, 0.8) == 0
    # The worked example's trial is 99% on time already.
    assert centres_needed(300, 108, 10 * MONTH, 36 * MONTH, ten_sites(), 30, 0.5, 0.8) == 0


def test_planned_sites_and_a_sites_history_in_the_configuration():
    site = TrialSite(
        planned_activation=dt.date(2025, 3, 1),
        changes=[{"effective_on": "2025-02-20", "activated_on": "2025-02-24"}, {"effective_on": "2026-01-10", "closed_on": "2026-01-31"}],
    )
    assert site.on(dt.date(2025, 1, 1)).activated_on is None and site.on(dt.date(2025, 1, 1)).planned_activation == dt.date(2025, 3, 1)
    assert site.on(dt.date(2025, 6, 1)).activated_on == dt.date(2025, 2, 24) and site.on(dt.date(2025, 6, 1)).closed_on is None
    assert site.on(dt.date(2026, 2, 1)).closed_on == dt.date(2026, 1, 31)
    with pytest.raises(ValueError, match="closed_on is before activated_on"):
        TrialSite(activated_on=dt.date(2025, 1, 1), changes=[{"effective_on": "2025-02-01", "closed_on": "2024-12-01"}])
    with pytest.raises(ValueError, match="in order"):
        TrialSite(changes=[{"effective_on": "2025-02-01"}, {"effective_on": "2025-01-01"}])


TRIAL = {
    "title": "M - a multi-centre trial",
    "coordinating_site": "EMC",
    "opened_on": "2024-01-01",
    "amendments": [{"effective_on": "2024-01-01", "target": 80, "planned_end_on": "2026-12-31"}],
    "arms": {"haip": {"label": "HAIP"}},
    "sites": {
        "EMC": {"activated_on": "2024-01-01"},
        "NKI": {"activated_on": "2024-07-01"},
        # Negotiating: planned for 1 Jan 2025; the history records that it opened on 15 Jan 2025 after all.
        "UMCU": {"planned_activation": "2025-01-01", "changes": [{"effective_on": "2025-01-15", "activated_on": "2025-01-15"}]},
    },
}


def test_the_summary_says_the_model_and_forecasts_with_and_without_the_planned_sites():
    programme = programme_with({"M": TRIAL})
    rows = [{"trial": "M", "participant_id": f"E-{i}", "site": "EMC", "enrolled_on": f"2024-{i:02d}-10"} for i in range(1, 11)]
    rows += [{"trial": "M", "participant_id": f"N-{i}", "site": "NKI", "enrolled_on": f"2024-{i:02d}-20"} for i in range(8, 12)]
    people = frame(rows)
    before = metrics.programme_summary(programme, people, {"M": {"EMC": dt.date(2024, 12, 1)}}, dt.date(2024, 12, 1))["trials"][0]
    assert before["forecast_model"] == "multi-centre"
    block = before["multicentre"]
    assert block["planned_sites"] == ["UMCU"] and block["model"].startswith("per-site")
    assert block["with_planned"]["enrolled_by_end_median"] > block["enrolled_by_end_median"] >= 14
    assert block["with_planned"]["p_on_time"] > block["p_on_time"]
    accrual = metrics.accrual_of(people, dt.date(2024, 12, 1))
    sites = {s.name: s for s in metrics.multicentre_sites(programme.trials["M"], accrual)}
    assert sites["UMCU"].days_open == -31 and sites["EMC"].enrolled == 10 and sites["NKI"].days_open == (dt.date(2024, 12, 1) - dt.date(2024, 7, 1)).days
    # Seen on 1 Feb 2025 the history says UMCU opened on 15 Jan: open, no longer planned.
    later = metrics.programme_summary(programme, people, {"M": {"EMC": dt.date(2025, 2, 1)}}, dt.date(2025, 2, 1))["trials"][0]
    assert later["multicentre"]["planned_sites"] == [] and later["multicentre"]["with_planned"] is None
    # The more sites a trial has, the fewer extra it needs; extra sites opening after the planned end: none is enough.
    trial = programme.trials["M"]
    assert metrics.trial_centres_needed(trial, accrual, 0.5, dt.date(2025, 3, 1)) >= 1
    assert metrics.trial_centres_needed(trial, accrual, 0.5, dt.date(2027, 3, 1)) is None
